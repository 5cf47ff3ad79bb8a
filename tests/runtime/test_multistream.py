"""Several sources, one model: `edgeseg run --source A --source B`, batched, with per-stream outputs and stats.

Real videos written with OpenCV, real ONNX Runtime sessions, the real command; the network camera of
mjpeg_camera.py for a stream that fails mid-run.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from edgeseg.runtime.backends import open_model
from edgeseg.runtime.batcher import StreamSlots
from edgeseg.runtime.segmenter import Segmenter
from edgeseg.runtime.sinks import grid
from tests.bad_input import assert_refused, snapshot

from .mjpeg_camera import MjpegCamera, Session
from .test_run import read_video


def _video(path: Path, frames: int, size: tuple[int, int], seed: int) -> Path:
    from edgeseg.data.synth import synth_image

    height, width = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (width, height))
    rng = np.random.default_rng(seed)
    for _ in range(frames):
        writer.write(cv2.cvtColor(synth_image(rng, height, width, 4)[0], cv2.COLOR_RGB2BGR))
    writer.release()
    return path


@pytest.fixture(scope="module")
def batch_onnx(tiny_checkpoint, tmp_path_factory) -> Path:
    """The tiny checkpoint exported with a dynamic batch axis, as `edgeseg export --dynamic-batch` writes it."""
    from edgeseg.export.steps import ExportOptions, run_export

    out = tmp_path_factory.mktemp("batch")
    run_export(ExportOptions(tiny_checkpoint, out=out, engine=False, dynamic_batch=True), log=lambda m: None)
    return out / "model.onnx"


@pytest.fixture(scope="module")
def two_videos(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("videos")
    return _video(folder / "front.avi", 20, (72, 96), 1), _video(folder / "rear.avi", 33, (48, 64), 2)


def test_two_videos_of_different_lengths_and_sizes_in_one_batched_run(run_edgeseg, batch_onnx, two_videos, tmp_path):
    front, rear = two_videos
    out, stats_file = tmp_path / "out", tmp_path / "stats.json"
    result = run_edgeseg(
        "run", "--model", batch_onnx, "--source", front, "--source", rear, "--no-show", "--save", out,
        "--stats-json", stats_file,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "take turns" not in result.stderr  # the model takes a batch: one inference for both streams
    stats = json.loads(stats_file.read_text())
    streams = {s["name"]: s for s in stats["streams"]}
    assert streams["front"]["frames"] == 20 and streams["rear"]["frames"] == 33 and stats["frames"] == 53
    assert f"saved 20 frames of front to {out / 'front'}" in result.stdout
    with open_model(batch_onnx, provider="cpu") as backend:
        direct = Segmenter(backend)
        for name, video in (("front", front), ("rear", rear)):
            masks = sorted((out / name / "masks").glob("*.png"))
            frames = read_video(video)
            assert len(masks) == len(frames)
            for frame, mask in zip(frames, masks):  # batched inference gives what one image at a time gives
                assert (np.asarray(Image.open(mask)) == direct(frame)).mean() > 0.999
    assert "front: 20 frames" in result.stdout and "rear: 33 frames" in result.stdout


def test_one_video_per_stream_and_a_model_without_a_batch_axis(run_edgeseg, tiny_onnx, two_videos, tmp_path):
    front, rear = two_videos
    args = [
        "--source",
        front,
        "--source",
        rear,
        "--no-show",
        "--save",
        tmp_path / "f.avi",
        "--save",
        tmp_path / "r.avi",
    ]
    result = run_edgeseg("run", "--model", tiny_onnx, *args)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("streams take turns") == 1  # said once
    assert [len(read_video(tmp_path / n)) for n in ("f.avi", "r.avi")] == [20, 33]
    assert read_video(tmp_path / "f.avi")[0].shape == (72, 96, 3)
    assert read_video(tmp_path / "r.avi")[0].shape == (48, 64, 3)


def test_a_stream_that_fails_mid_run_does_not_stop_the_others(run_edgeseg, batch_onnx, two_videos, tmp_path):
    front, _ = two_videos
    stats_file = tmp_path / "stats.json"
    with MjpegCamera([Session(8, then="hang up")]) as camera:
        result = run_edgeseg(
            "run", "--model", batch_onnx, "--source", camera.url, "--source", front, "--no-show",
            "--reconnects", "0", "--stats-json", stats_file,
        )  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: capture of 127.0.0.1-stream.mjpg: camera http")
    assert "the other streams go on" in result.stderr
    streams = json.loads(stats_file.read_text())["streams"]
    assert streams[1]["frames"] == 20 and streams[1]["error"] is None  # the video ran to its end
    assert 0 < streams[0]["frames"] <= 8 and "dropped out" in streams[0]["error"]


def test_a_source_that_never_opens(run_edgeseg, batch_onnx, two_videos, tmp_path):
    front, _ = two_videos
    out = tmp_path / "out"
    args = ["--source", front, "--source", "rtsp://127.0.0.1:9/none", "--no-show", "--save", out, "--reconnects", "0"]
    before = snapshot(tmp_path)
    refused = run_edgeseg("run", "--model", batch_onnx, *args)
    assert_refused(refused, "cannot open camera rtsp://127.0.0.1:9/none", before, tmp_path)
    allowed = run_edgeseg("run", "--model", batch_onnx, *args, "--allow-missing")
    assert allowed.returncode == 0, allowed.stderr
    assert "warning: skipping rtsp://127.0.0.1:9/none" in allowed.stderr
    assert len(list((out / "masks").glob("*.png"))) == 20  # the one stream that opened, into the folder given


def test_save_paths_must_match_the_sources(run_edgeseg, batch_onnx, two_videos, tmp_path):
    front, rear = two_videos
    before = snapshot(tmp_path)
    result = run_edgeseg(
        "run", "--model", batch_onnx, "--source", front, "--source", rear, "--no-show", "--save", tmp_path / "a.avi"
    )
    assert_refused(result, "2 sources but 1 --save paths", before, tmp_path)


def test_stream_many_yields_every_frame_of_every_stream(batch_onnx, two_videos):
    import edgeseg

    front, rear = two_videos
    with edgeseg.load(batch_onnx, provider="cpu") as seg:
        seen: dict[int, int] = {0: 0, 1: 0}
        for stream, frame, mask in seg.stream_many([front, rear]):
            assert mask.shape == frame.shape[:2] and mask.dtype == np.uint8
            seen[stream] += 1
        assert seen == {0: 20, 1: 33}
        for count, _ in enumerate(seg.stream_many([front, rear], max_frames=50)):  # stopping early stops it all
            if count == 4:
                break
        assert [t.name for t in threading.enumerate() if t.name.startswith(("capture", "infer"))] == []


# The parts: gathering a batch, the batch buffer, the window's grid.


def test_a_stalled_stream_delays_a_batch_by_at_most_the_timeout():
    stop = threading.Event()
    slots: StreamSlots[str] = StreamSlots([True, True, False], depth=2, stop=stop)
    assert slots.put(0, "a0") == (True, None)
    started = time.monotonic()
    assert slots.take(3, timeout=0.2) == ["a0"]  # streams 1 and 2 never sent: the batch went after the timeout
    assert 0.15 < time.monotonic() - started < 1.0
    assert slots.put(1, "b0") == (True, None) and slots.put(1, "b1") == (True, "b0")  # live: the stale one back
    slots.put(2, "c0")
    slots.put(2, "c1")
    blocked = threading.Thread(target=slots.put, args=(2, "c2"))  # a file stream waits for room, loses nothing
    blocked.start()
    time.sleep(0.1)
    assert blocked.is_alive()
    assert slots.take(3, timeout=1.0) == ["b1", "c0"]
    blocked.join(1.0)
    assert not blocked.is_alive() and slots.pending(2) == 2
    for stream in range(3):
        slots.end(stream)
    assert slots.take(3, 0.0) == ["c1"] and slots.take(3, 0.0) == ["c2"] and slots.take(3, 0.0) is None


def test_the_batch_buffer_is_allocated_once(batch_onnx):
    with open_model(batch_onnx, provider="cpu") as backend:
        segmenter = Segmenter(backend)
        assert segmenter.max_batch is None  # a dynamic batch axis: any number of images
        tensors = [segmenter.prepare(np.full((40, 50, 3), v, np.uint8))[0] for v in (10, 200, 90)]
        first = segmenter.infer_batch(tensors)
        buffer = segmenter._batch
        second = segmenter.infer_batch(tensors[:2])
        assert segmenter._batch is buffer
        for batched, tensor in zip(first, tensors):
            np.testing.assert_allclose(batched.scores, segmenter.infer(tensor), atol=1e-4)
        np.testing.assert_allclose(second[1].scores, first[1].scores, atol=1e-5)


def test_grid_of_streams():
    a, b = np.full((20, 30, 3), 50, np.uint8), np.full((10, 10, 3), 200, np.uint8)
    assert grid([a, b]).shape == (20, 60, 3)
    assert grid([a, None, b]).shape == (40, 60, 3)  # 2 per row; the stream with no frame yet is a gray tile
    assert grid([a] * 5).shape == (40, 90, 3)


def test_the_same_source_twice_is_two_streams(run_edgeseg, batch_onnx, two_videos, tmp_path):
    front, _ = two_videos
    stats_file = tmp_path / "stats.json"
    args = ["--source", front, "--source", front, "--no-show", "--max-frames", "5", "--stats-json", stats_file]
    result = run_edgeseg("run", "--model", batch_onnx, *args)
    assert result.returncode == 0, result.stderr
    streams = json.loads(stats_file.read_text())["streams"]
    assert [(s["name"], s["frames"]) for s in streams] == [("front", 5), ("front-2", 5)]
