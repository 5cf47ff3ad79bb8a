"""`edgeseg run` never destroys, drops or hides a user's work: the input, the frames of a video, the stats.

Through the real command on real files, and through the real loop where a camera misbehaves (the MJPEG network
camera of mjpeg_camera.py is a real stream; FlakyCapture in test_run.py is the double at the camera boundary).
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeseg.runtime.loop import RunFailed, RunLoop
from edgeseg.runtime.render import Renderer
from edgeseg.runtime.segmenter import Segmenter
from edgeseg.runtime.sinks import VideoSink
from edgeseg.runtime.sources import CaptureSource, Frame
from tests.bad_input import assert_refused, snapshot

from .mjpeg_camera import MjpegCamera, Session
from .test_run import FlakyCapture, SlowBackend, read_video

EDGESEG = str(Path(sys.executable).with_name("edgeseg"))
RENDERER = Renderer(["a", "b"], [[0, 0, 0], [255, 0, 0]])


# 1. An output over the input is refused before anything opens.


@pytest.mark.parametrize("layout", ["video", "folder", "inside folder", "stats over video"])
def test_save_over_the_input_is_refused(run_edgeseg, tiny_onnx, tiny_video, tiny_dataset, tmp_path, layout):
    video = tmp_path / "clip.avi"
    shutil.copy(tiny_video, video)
    photos = tmp_path / "photos"
    photos.mkdir()
    for image in sorted((tiny_dataset / "VOCdevkit" / "VOC2012" / "JPEGImages").glob("*.jpg"))[:2]:
        shutil.copy(image, photos)
    source, option, output = {
        "video": (video, "--save", video),
        "folder": (photos, "--save", photos),
        "inside folder": (photos, "--save", photos / "out"),
        "stats over video": (video, "--stats-json", video),
    }[layout]
    before = snapshot(tmp_path)
    result = run_edgeseg("run", "--model", tiny_onnx, "--source", source, "--no-show", option, output)
    assert_refused(result, f"{option} {output} ", before, tmp_path)
    assert "the input" in result.stderr


def test_existing_outputs_are_kept_unless_forced(run_edgeseg, tiny_onnx, tiny_video, tmp_path):
    video, folder = tmp_path / "out.avi", tmp_path / "out"
    video.write_bytes(b"an earlier recording")
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    for output in (video, folder):
        before = snapshot(tmp_path)
        result = run_edgeseg("run", "--model", tiny_onnx, "--source", tiny_video, "--no-show", "--save", output)
        assert_refused(result, "--force", before, tmp_path)
    args = ["--no-show", "--save", video, "--force", "--max-frames", "3"]
    forced = run_edgeseg("run", "--model", tiny_onnx, "--source", tiny_video, *args)
    assert forced.returncode == 0, forced.stderr
    assert len(read_video(video)) == 3


# 2. A stop signal is honoured while the source is stalled, and the video is finalized within a second.


def _start_run(url: str, out: Path, *extra: str, model: Path) -> subprocess.Popen:
    args = [EDGESEG, "run", "--model", str(model), "--source", url, "--no-show", "--save", str(out), *extra]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_while_the_stream_is_stalled(tiny_onnx, tmp_path, sig):
    out = tmp_path / "out.avi"
    with MjpegCamera([Session(15, then="stall")]) as camera:
        proc = _start_run(camera.url, out, "--stats-json", str(tmp_path / "stats.json"), model=tiny_onnx)
        deadline = time.monotonic() + 120
        while camera.sent < 15 or not (tmp_path / ".out.partial.avi").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(1.0)  # the stream is stalled now: OpenCV's read waits for its 30 s timeout
        signalled = time.monotonic()
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=60)
        took = time.monotonic() - signalled
    assert proc.returncode == 0, stderr
    assert took < 5, f"the run took {took:.1f} s to stop after the signal"
    assert "Traceback" not in stderr and not list(tmp_path.glob(".*partial*"))
    frames = len(read_video(out))
    assert frames > 0 and f"saved {frames} frames to {out}" in stdout
    assert json.loads((tmp_path / "stats.json").read_text())["interrupted"] is True


# 3. A camera that opens but never sends a frame is given up on.


def test_camera_that_opens_but_sends_nothing_is_given_up_on():
    dead = FlakyCapture(frames_per_session=[2], opens=[True] * 1000)  # every reopen succeeds, no frame comes
    source = CaptureSource(0, live=True, reconnects=4, open_capture=dead, sleep=lambda s: None)
    frames = []
    with pytest.raises(Exception, match="dropped out and opened again but sent no frame after 4 tries"):
        for frame in source:
            frames.append(frame.index)
            assert dead.released < 50, "reopened forever"
    assert frames == [0, 1] and source.reopened == 4


def test_a_dead_stream_ends_the_run_with_one_line_and_the_stats(run_edgeseg, tiny_onnx, tmp_path):
    out, stats = tmp_path / "out.avi", tmp_path / "stats.json"
    with MjpegCamera([Session(12, then="hang up")]) as camera:
        result = run_edgeseg(
            "run", "--model", tiny_onnx, "--source", camera.url, "--no-show", "--save", out, "--reconnects", "1",
            "--stats-json", stats,
        )  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: capture: camera http://") and "did not come back after 1 tries" in lines[-1]
    summary = json.loads(stats.read_text())
    assert summary["error"].startswith("capture: camera") and summary["frames"] > 0
    assert summary["frames"] + summary["dropped"] + summary["unreadable"] == summary["read"]
    assert len(read_video(out)) == summary["frames"] and "p95 ms" in result.stdout


# 4. Frames of another size still reach the video; 6. a live video keeps the camera's clock.


def test_mixed_size_folder_to_video_writes_every_frame(run_edgeseg, tiny_onnx, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    sizes = [(48, 64), (60, 40), (48, 64), (100, 100), (30, 90)]
    for i, (height, width) in enumerate(sizes):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((height, width, 3), 40 * i, np.uint8))
    result = run_edgeseg("run", "--model", tiny_onnx, "--source", folder, "--no-show", "--save", tmp_path / "v.avi")
    assert result.returncode == 0, result.stderr
    frames = read_video(tmp_path / "v.avi")
    assert len(frames) == len(sizes) and {f.shape for f in frames} == {(48, 64, 3)}
    assert "saved 5 frames" in result.stdout


def _record(index: int, captured: float, size=(8, 8)):
    from edgeseg.runtime.record import FrameRecord

    image = np.zeros((*size, 3), np.uint8)
    return FrameRecord(0, index, str(index), captured, 0.0, image, np.zeros(size, np.uint8), {}, RENDERER)


def test_live_video_repeats_frames_to_keep_the_cameras_clock(tmp_path):
    sink = VideoSink(tmp_path / "live.avi", 30.0, live_source=True)
    for i, captured in enumerate([0.0, 0.1, 0.2, 0.3, 5.0]):  # 10 FPS inference, then a 4.7 s gap
        sink.write(_record(i, 100 + captured))
    sink.close()
    # At 30 FPS, 0.3 s is video frames 0–9; the gap adds at most one second (30 frames), not 141.
    assert sink.frames == 5 and len(read_video(tmp_path / "live.avi")) == sink.written == 10 + 30
    from_file = VideoSink(tmp_path / "file.avi", 30.0)
    for i in range(5):
        from_file.write(_record(i, 100 + i))
    from_file.close()
    assert len(read_video(tmp_path / "file.avi")) == 5


# 5. A failing stage stops the run cleanly; a writer that cannot open says so; every output and the source close.


class _Source:
    """A file-like source double recording close(); `fail_at` raises inside iteration (a source that breaks)."""

    live, fps, reopened = False, 10.0, 0

    def __init__(self, count: int = 30, fail_at: int | None = None, size=(8, 8)) -> None:
        self.count, self.fail_at, self.size, self.closed = count, fail_at, size, False

    def __iter__(self):
        for i in range(self.count):
            if i == self.fail_at:
                raise OSError(5, "Input/output error", "/dev/video0")
            yield Frame(i, np.zeros((*self.size, 3), np.uint8), str(i), time.perf_counter())

    def interrupt(self):
        pass

    def close(self):
        self.closed = True


class _Failing:
    live = False

    def __init__(self, name: str, on: str) -> None:
        self.name, self.on, self.closed = name, on, False

    def write(self, record):
        if self.on == "write" and record.index == 3:
            raise OSError(28, "No space left on device", "out/000003.jpg")

    def close(self):
        self.closed = True
        if self.on == "close":
            raise OSError(28, "No space left on device", "out.avi")


class _BrokenBackend(SlowBackend):
    calls = 0

    def infer(self, inputs):
        self.calls += 1
        if self.calls == 4:
            raise RunFailed("TensorRT execution failed (execute_async_v3 returned False)")
        return super().infer(inputs)


@pytest.mark.parametrize(
    ("stage", "message"),
    [
        ("capture", "capture: Input/output error: /dev/video0"),
        ("inference", "inference: TensorRT execution failed"),
        ("output", "video output: no space left on device: out/000003.jpg"),
        ("close", "closing the video output: no space left on device: out.avi"),
    ],
)
def test_a_failing_stage_stops_everything_and_closes_every_output(stage, message):
    source = _Source(fail_at=5 if stage == "capture" else None)
    backend = _BrokenBackend() if stage == "inference" else SlowBackend()
    failing = _Failing("video", on={"output": "write", "close": "close"}.get(stage, ""))
    other = _Failing("folder", on="")
    loop = RunLoop(source, Segmenter(backend), RENDERER, [failing, other])
    started = time.monotonic()
    with pytest.raises(RunFailed, match=message.replace("(", r"\(").replace(")", r"\)")):
        loop.run()
    assert time.monotonic() - started < 5
    assert failing.closed and other.closed and source.closed
    assert loop.stats.error == message or loop.stats.error.startswith(message)
    stats = loop.stats
    assert stats.frames + stats.dropped + stats.unreadable == stats.read


def test_a_writer_that_cannot_open_is_refused_before_the_run(tmp_path, monkeypatch):
    from edgeseg.errors import EdgesegError
    from edgeseg.runtime import sinks

    class NoEncoder:  # an OpenCV built without this encoder (some JetPack images): the writer never opens
        def __init__(self, *args):
            pass

        def isOpened(self):
            return False

        def release(self):
            pass

    monkeypatch.setattr(sinks.cv2, "VideoWriter", NoEncoder)
    with pytest.raises(EdgesegError, match=r"this OpenCV cannot write \.mp4 video"):
        VideoSink(tmp_path / "out.mp4", 30.0)
    assert list(tmp_path.iterdir()) == []


def test_a_partial_file_that_cannot_be_written_keeps_the_real_error(tmp_path):
    (tmp_path / ".out.partial.avi").mkdir()  # where the video would be written is taken
    source = _Source()
    loop = RunLoop(source, Segmenter(SlowBackend()), RENDERER, [VideoSink(tmp_path / "out.avi", 10.0)])
    with pytest.raises(RunFailed, match=r"video output: OpenCV cannot write \.avi video"):
        loop.run()
    assert source.closed and not (tmp_path / "out.avi").exists()


# 7. Statistics stay the same size however long the run.


def test_latency_summary_is_fixed_size_and_accurate():
    from edgeseg.runtime.stats import LatencySummary

    rng = np.random.default_rng(0)
    values = rng.lognormal(np.log(0.02), 0.5, 200_000)
    summary = LatencySummary()
    size = summary.counts.nbytes
    for value in values:
        summary.add(value)
    assert summary.counts.nbytes == size and summary.count == values.size
    for q in (0.5, 0.95, 0.99):
        assert summary.quantile(q) == pytest.approx(np.quantile(values, q), rel=0.01)
    window = summary.since(summary.copy())
    assert window.count == 0 and window.quantile(0.5) == 0.0


def test_run_stats_memory_does_not_grow_with_frames():
    import tracemalloc

    from edgeseg.runtime.stats import RunStats

    stats = RunStats()
    seconds = {"capture": 0.001, "pre": 0.002, "infer": 0.01, "post": 0.001, "render": 0.002, "end_to_end": 0.02}
    for _ in range(1000):
        stats.frame_done(seconds)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _ in range(20_000):
        stats.frame_done(seconds)
        stats.skip_unreadable("x.jpg")
    grown = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(before, "filename"))
    tracemalloc.stop()
    assert grown < 64 * 1024, f"stats grew {grown} bytes over 20 000 frames"
    assert stats.frames == 21_000 and len(stats.unreadable_files) == 100 and stats.unreadable == 20_000


# Live outputs: a slow one skips frames and never holds the run back; a failing one is closed, the run goes on.


class _LiveSink:
    live = True

    def __init__(self, name: str, delay: float = 0.0, fail_at: int | None = None) -> None:
        self.name, self.delay, self.fail_at = name, delay, fail_at
        self.seen: list[int] = []
        self.closed = False

    def write(self, record):
        if len(self.seen) == self.fail_at:
            raise ConnectionResetError(104, "Connection reset by peer")
        record.overlay("mask")  # drawn on this thread, once per view
        self.seen.append(record.index)
        time.sleep(self.delay)

    def close(self):
        self.closed = True


def test_live_outputs_skip_frames_fail_alone_and_never_slow_the_run():
    class Fast(SlowBackend):
        def infer(self, inputs):
            return {"logits": np.zeros((1, 2, 8, 8), np.float32)}

    slow, broken, file_like = _LiveSink("page", delay=0.05), _LiveSink("mqtt", fail_at=3), _Failing("folder", "")
    warnings: list[str] = []
    loop = RunLoop(_Source(count=200), Segmenter(Fast()), RENDERER, [slow, broken, file_like], warn=warnings.append)
    started = time.monotonic()
    stats = loop.run()
    took = time.monotonic() - started
    assert stats.frames == 200 and took < 0.05 * 200 / 4, "a slow live output held the run back"
    page, mqtt = stats.consumers["page"], stats.consumers["mqtt"]
    assert page.written + page.skipped <= 200 and page.skipped > 0 and page.written == len(slow.seen)
    assert slow.seen == sorted(slow.seen) and slow.closed  # newest first, never an older frame after a newer
    assert mqtt.failed == "ConnectionResetError: [Errno 104] Connection reset by peer" and broken.closed
    assert mqtt.written == 3 and any("output mqtt stopped" in w for w in warnings)
    assert stats.consumers["folder"].written == 200 and stats.error is None
    assert "output page: wrote" in stats.table() and "output mqtt: wrote 3" in stats.table()


def test_inputs_with_one_stem_get_one_output_each(run_edgeseg, tiny_onnx, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    image = np.full((30, 40, 3), 90, np.uint8)
    for suffix in (".bmp", ".tif", ".webp"):
        cv2.imwrite(str(photos / f"photo{suffix}"), image)
    out = tmp_path / "out"
    result = run_edgeseg("run", "--model", tiny_onnx, "--source", photos, "--no-show", "--save", out)
    assert result.returncode == 0, result.stderr
    assert "saved 3 frames" in result.stdout
    assert sorted(p.name for p in out.glob("*.jpg")) == ["photo.bmp.jpg", "photo.tif.jpg", "photo.webp.jpg"]
    assert sorted(p.name for p in (out / "masks").glob("*.png")) == ["photo.bmp.png", "photo.tif.png", "photo.webp.png"]


def test_a_source_with_no_readable_image_is_an_error(run_edgeseg, tiny_onnx, tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "a.jpg").write_text("not an image")
    cv2.imwrite(str(folder / "b.tiff"), np.zeros((8, 8), np.float32))  # 32-bit float samples: refused by rule
    for source in (folder, folder / "a.jpg"):
        result = run_edgeseg("run", "--model", tiny_onnx, "--source", source, "--no-show")
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert result.stderr.strip().splitlines()[-1].startswith("error: none of the")
