"""`edgeseg run` and the run loop on real files, real ONNX Runtime sessions and real subprocesses."""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from edgeseg.runtime.backends import Backend, open_model
from edgeseg.runtime.loop import RunLoop
from edgeseg.runtime.render import Renderer
from edgeseg.runtime.segmenter import Segmenter
from edgeseg.runtime.sinks import NullSink
from edgeseg.runtime.sources import CaptureSource, ImageSource, open_source
from tests.small_metadata import small_metadata


def read_video(path: Path) -> list[np.ndarray]:
    capture, frames = cv2.VideoCapture(str(path)), []
    while True:
        ok, frame = capture.read()
        if not ok:
            return frames
        frames.append(frame)


def test_video_to_folder_masks_equal_a_direct_onnx_runtime_call(run_edgeseg, tiny_onnx, tiny_video, tmp_path):
    out = tmp_path / "out"
    stats_file = tmp_path / "stats.json"
    result = run_edgeseg(
        "run", "--model", tiny_onnx, "--source", tiny_video, "--save", out, "--no-show", "--stats-json", stats_file
    )
    assert result.returncode == 0, result.stderr
    frames = read_video(tiny_video)
    masks = sorted((out / "masks").glob("*.png"))
    assert len(masks) == len(frames) == 40 and len(list(out.glob("*.jpg"))) == 40
    with open_model(tiny_onnx, provider="cpu") as backend:
        direct = Segmenter(backend)
        for frame, mask_file in zip(frames, masks):
            saved = Image.open(mask_file)
            assert saved.mode == "P"  # palette PNG, VOC's format
            np.testing.assert_array_equal(np.asarray(saved), direct(frame))
    stats = json.loads(stats_file.read_text())
    assert stats["frames"] == 40 and stats["dropped"] == 0 and stats["backend"] == "OnnxRuntimeBackend"
    assert set(stats["stages"]) == {"capture", "pre", "infer", "post", "render", "end_to_end"}
    assert "p95 ms" in result.stdout


def test_video_to_video_writes_every_frame(run_edgeseg, tiny_onnx, tiny_video, tmp_path):
    result = run_edgeseg(
        "run",
        "--model",
        tiny_onnx,
        "--source",
        tiny_video,
        "--save",
        tmp_path / "out.mp4",
        "--no-show",
        "--view",
        "side",
        "--alpha",
        "0.5",
        "--classes",
        "circle,rectangle",
    )
    assert result.returncode == 0, result.stderr
    written = read_video(tmp_path / "out.mp4")
    assert len(written) == 40 and written[0].shape == (72, 192, 3)  # side by side: twice as wide
    assert not list(tmp_path.glob(".*partial*"))


def test_run_needs_no_torch(run_python_without, tiny_onnx, tiny_video, tmp_path):
    code = (
        f"import sys; sys.argv = ['edgeseg', 'run', '--model', {str(tiny_onnx)!r}, '--source', "
        f"{str(tiny_video)!r}, '--no-show', '--max-frames', '5']\n"
        "from edgeseg.cli import main\ntry:\n    main()\nfinally:\n    print('torch loaded:', 'torch' in sys.modules)\n"
    )
    result = run_python_without(code, blocked=("torch", "torchvision", "onnx"))
    assert result.returncode == 0, result.stderr
    assert "5 frames in" in result.stdout and "torch loaded: False" in result.stdout


def test_image_and_folder_sources(run_edgeseg, tiny_onnx, tiny_dataset, tmp_path):
    images = tiny_dataset / "VOCdevkit" / "VOC2012" / "JPEGImages"
    folder = tmp_path / "imgs"
    folder.mkdir()
    for path in sorted(images.glob("*.jpg"))[:4]:
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "broken.jpg").write_bytes(b"not an image")
    cv2.imwrite(str(folder / "gray.png"), np.full((30, 40), 90, np.uint8))
    result = run_edgeseg("run", "--model", tiny_onnx, "--source", folder, "--save", tmp_path / "out", "--no-show")
    assert result.returncode == 0, result.stderr
    assert "5 frames" in result.stdout and "unreadable 1" in result.stdout
    assert sorted(p.stem for p in (tmp_path / "out" / "masks").glob("*.png"))[-1] == "synth_00003.jpg"
    single = run_edgeseg("run", "--model", tiny_onnx, "--source", folder / "gray.png", "--no-show")
    assert single.returncode == 0 and "1 frames" in single.stdout


class FlakyCapture:
    """Test double of cv2.VideoCapture for a camera that drops out: `fail_after` good frames, then failed
    reads; each (re)open succeeds only when `opens` says so."""

    def __init__(self, frames_per_session: list[int], opens: list[bool]) -> None:
        self.sessions, self.opens, self.current = list(frames_per_session), list(opens), 0
        self.released = 0

    def __call__(self, target, *api):
        ok = self.opens.pop(0) if self.opens else False
        self.current = self.sessions.pop(0) if ok and self.sessions else 0
        outer = self

        class Capture:
            def isOpened(self):
                return ok

            def read(self):
                if outer.current <= 0:
                    return False, None
                outer.current -= 1
                return True, np.zeros((4, 4, 3), np.uint8)

            def get(self, prop):
                return 25.0

            def release(self):
                outer.released += 1

        return Capture()


def test_camera_that_drops_out_is_reopened_with_backoff():
    sleeps: list[float] = []
    flaky = FlakyCapture(frames_per_session=[3, 2], opens=[True, False, False, True, False])
    source = CaptureSource(0, live=True, reconnects=5, open_capture=flaky, sleep=sleeps.append)
    frames = []
    with pytest.raises(Exception, match="dropped out and did not come back after 5 tries"):
        for frame in source:
            frames.append(frame.index)
    assert frames == [0, 1, 2, 3, 4]  # 3 frames, the drop-out, 2 more after reopening
    assert source.reopened == 1
    assert sleeps[:3] == [0.5, 1.0, 2.0] and max(sleeps) <= 8.0


def test_camera_that_cannot_open(run_edgeseg, tiny_onnx):
    result = run_edgeseg("run", "--model", tiny_onnx, "--camera", "57", "--no-show")
    assert result.returncode == 1
    assert "cannot open camera 57" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_csi_without_gstreamer_says_how_to_fix(tiny_onnx):
    from edgeseg.runtime.sources import has_gstreamer

    if has_gstreamer():
        pytest.skip("this OpenCV has GStreamer")
    with pytest.raises(Exception, match="JetPack's OpenCV"):
        open_source("csi://0")
    with pytest.raises(Exception, match="needs GStreamer"):
        open_source("videotestsrc ! videoconvert ! appsink")


class SlowBackend(Backend):
    """A backend double slower than the camera, to show live frames being dropped."""

    input_names, output_names = ["images"], ["logits"]
    metadata = small_metadata()

    def infer(self, inputs):
        time.sleep(0.02)
        return {"logits": np.zeros((1, 2, 8, 8), np.float32)}


class LiveSource:
    live, fps, reopened = True, 30.0, 0

    def __init__(self, count: int) -> None:
        self.count = count

    def __iter__(self):
        from edgeseg.runtime.sources import Frame

        for i in range(self.count):
            yield Frame(i, np.zeros((8, 8, 3), np.uint8), str(i), time.perf_counter())

    def interrupt(self):
        pass

    def close(self):
        pass


def test_live_sources_drop_stale_frames_and_unreadable_images_are_counted():
    renderer = Renderer(["a", "b"], [[0, 0, 0], [255, 0, 0]])
    live = RunLoop(LiveSource(200), Segmenter(SlowBackend()), renderer, [NullSink()]).run()
    assert live.dropped > 0 and live.frames + live.dropped == 200
    images = ImageSource([Path(__file__)])  # not an image: counted, not fatal
    stats = RunLoop(images, Segmenter(SlowBackend()), renderer, [NullSink()]).run()
    assert stats.frames == 0 and stats.unreadable == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "x.mp4", "--camera", "0"], "pass --camera N or --source URI"),
        (["--source", "/nonexistent.mp4"], "source not found: /nonexistent.mp4"),
        (["--source", "{video}", "--classes", "person"], "--classes: person not among the model's classes"),
        (["--source", "{video}", "--view", "heatmap"], "--view must be one of overlay, mask, side"),
        (["--source", "{video}", "--max-frames", "0"], "--max-frames must be a whole number ≥ 1"),
    ],
)
def test_bad_run_arguments(run_edgeseg, tiny_onnx, tiny_video, args, message):
    args = [a.format(video=tiny_video) for a in args]
    result = run_edgeseg("run", "--model", tiny_onnx, "--no-show", *args)
    assert result.returncode == 1
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(("name", "message"), [("m.onnx", "model not found"), ("m.txt", "must be a .engine")])
def test_bad_model_files(run_edgeseg, tiny_video, tmp_path, name, message):
    if name.endswith(".txt"):
        (tmp_path / name).write_text("x")
    result = run_edgeseg("run", "--model", tmp_path / name, "--source", tiny_video, "--no-show")
    assert result.returncode == 1 and message in result.stderr


def test_no_display_is_a_clear_error_not_a_crash(run_edgeseg, tiny_onnx, tiny_video, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    result = run_edgeseg("run", "--model", tiny_onnx, "--source", tiny_video, "--max-frames", "2")
    assert result.returncode == 1
    assert "no display to show a window on" in result.stderr and "--no-show" in result.stderr


def test_pytorch_checkpoint_runs_like_its_onnx_export(run_edgeseg, tiny_checkpoint, tiny_onnx, tiny_video, tmp_path):
    for name, model in (("pt", tiny_checkpoint), ("onnx", tiny_onnx)):
        result = run_edgeseg(
            "run", "--model", model, "--source", tiny_video, "--save", tmp_path / name, "--no-show", "--max-frames", "5"
        )
        assert result.returncode == 0, result.stderr
    for mask in sorted((tmp_path / "pt" / "masks").glob("*.png")):
        same = np.asarray(Image.open(mask)) == np.asarray(Image.open(tmp_path / "onnx" / "masks" / mask.name))
        assert same.mean() > 0.999
