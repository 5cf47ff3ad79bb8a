"""`edgeseg run --jsonl`: one JSON record per frame through the real command, flushed as frames finish (a killed
run keeps every finished line), never over the user's files; and a record that cannot be made is a counted skip."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edgeseg.runtime.jsonl import JsonLinesSink
from edgeseg.runtime.loop import RunLoop
from edgeseg.runtime.render import Renderer
from edgeseg.runtime.segmenter import Segmenter
from tests.bad_input import assert_refused, snapshot

from .mjpeg_camera import MjpegCamera, Session
from .test_run import SlowBackend

EDGESEG = str(Path(sys.executable).with_name("edgeseg"))
KEYS = {"stream", "index", "name", "captured", "width", "height", "latency_ms", "shares"}


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_one_record_per_frame(run_edgeseg, tiny_onnx, tiny_video, tmp_path):
    out, stats = tmp_path / "out.jsonl", tmp_path / "stats.json"
    started = time.time()
    result = run_edgeseg(
        "run", "--model", tiny_onnx, "--source", tiny_video, "--no-show", "--jsonl", out, "--stats-json", stats
    )
    assert result.returncode == 0, result.stderr
    records = _lines(out)
    assert [r["index"] for r in records] == list(range(40))  # every frame, in order
    for record in records:
        assert set(record) == KEYS
        assert started <= record["captured"] <= time.time() and (record["width"], record["height"]) == (96, 72)
        assert set(record["latency_ms"]) == {"capture", "pre", "infer", "post"}
        assert sum(record["shares"].values()) == pytest.approx(1, abs=1e-5)
    assert json.loads(stats.read_text())["outputs"]["jsonl"]["written"] == 40


def test_polygons_and_confidence_when_asked(run_edgeseg, tiny_onnx_confidence, tiny_video, tmp_path):
    out = tmp_path / "out.jsonl"
    args = ["--source", tiny_video, "--no-show", "--max-frames", "5", "--jsonl", out, "--polygons", "--confidence"]
    result = run_edgeseg("run", "--model", tiny_onnx_confidence, *args)
    assert result.returncode == 0, result.stderr
    records = _lines(out)
    assert len(records) == 5 and all(set(r) == {*KEYS, "polygons", "confidence"} for r in records)
    shown = [name for r in records for name, share in r["shares"].items() if share > 0.01]
    assert all(name in r["polygons"] for r in records for name in r["shares"] if r["shares"][name] > 0.01)
    assert shown and all(0 < r["confidence"]["mean"] <= 1 for r in records)
    for region in (region for r in records for regions in r["polygons"].values() for region in regions):
        outline = region["outline"]
        assert all(0 <= x < 96 and 0 <= y < 72 for x, y in zip(outline[0::2], outline[1::2]))


def test_confidence_from_a_class_map_without_it_is_refused(run_edgeseg, tiny_onnx, tiny_video, tmp_path):
    before = snapshot(tmp_path)
    args = ["--source", tiny_video, "--no-show", "--jsonl", tmp_path / "out.jsonl", "--confidence"]
    assert_refused(run_edgeseg("run", "--model", tiny_onnx, *args), "--confidence", before, tmp_path)


def test_existing_file_input_and_twin_outputs_are_refused(run_edgeseg, tiny_onnx, tiny_video, tmp_path):
    earlier = tmp_path / "earlier.jsonl"
    earlier.write_text('{"mine": true}\n')
    video = tmp_path / "clip.avi"
    video.write_bytes(tiny_video.read_bytes())
    cases = [
        (["--source", video, "--jsonl", earlier], "--force"),
        (["--source", video, "--jsonl", video], "the input"),
        (["--source", video, "--jsonl", tmp_path / "s.json", "--stats-json", tmp_path / "s.json"], "same file"),
        (["--source", video, "--polygons"], "add --jsonl FILE or --publish"),
    ]
    for args, message in cases:
        before = snapshot(tmp_path)
        assert_refused(run_edgeseg("run", "--model", tiny_onnx, "--no-show", *args), message, before, tmp_path)
    forced = run_edgeseg("run", "--model", tiny_onnx, "--no-show", "--source", video, "--jsonl", earlier, "--force")
    assert forced.returncode == 0, forced.stderr
    assert len(_lines(earlier)) == 40 and "mine" not in earlier.read_text()


def test_killed_run_keeps_every_finished_line(tiny_onnx, tmp_path):
    """tail -f's view: lines appear while the run goes on; SIGKILL mid-run leaves only whole, valid records."""
    out = tmp_path / "live.jsonl"
    with MjpegCamera([Session(600, then="stall", fps=30)]) as camera:
        args = [EDGESEG, "run", "--model", str(tiny_onnx), "--source", camera.url, "--no-show", "--jsonl", str(out)]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while not out.exists() or out.read_text().count("\n") < 20:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no 20 lines within 2 minutes"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    text = out.read_text()
    whole = text.splitlines(keepends=True)
    records = [json.loads(line) for line in whole if line.endswith("\n")]
    assert len(records) >= 20 and len(whole) - len(records) <= 1  # at most the line being written is cut
    indices = [r["index"] for r in records]
    assert indices == sorted(set(indices))


class _NanBackend(SlowBackend):
    """Logits that turn NaN on one frame, as an FP16 engine that overflows does."""

    calls = 0

    def infer(self, inputs):
        self.calls += 1
        logits = np.random.default_rng(self.calls).standard_normal((1, 2, 8, 8)).astype(np.float32)
        if self.calls == 3:
            logits[:] = np.nan
        return {"logits": logits}


def test_a_record_that_cannot_be_written_is_a_counted_logged_skip(tmp_path):
    from .test_run_nothing_lost import _Source

    sink = JsonLinesSink(tmp_path / "out.jsonl", confidence=True)
    warnings: list[str] = []
    loop = RunLoop(_Source(count=12), Segmenter(_NanBackend()), Renderer(["a", "b"], [[0] * 3] * 2), [sink],
                   warn=warnings.append)  # fmt: skip
    stats = loop.run()
    consumer = stats.consumers["jsonl"]
    assert stats.frames == 12 and consumer.written == 11 and consumer.dropped == 1
    assert "frame 2: ValueError: Out of range float values are not JSON compliant" in consumer.last_drop
    assert [r["index"] for r in _lines(tmp_path / "out.jsonl")] == [i for i in range(12) if i != 2]
    assert len(warnings) == 1 and "output jsonl dropped 1 record(s) so far" in warnings[0]
    assert "output jsonl: wrote 11, skipped 0, dropped 1" in stats.table()


def test_no_file_is_left_by_a_run_that_never_started(run_edgeseg, tiny_onnx, tmp_path):
    out = tmp_path / "out.jsonl"
    result = run_edgeseg("run", "--model", tiny_onnx, "--source", tmp_path / "missing.mp4", "--no-show", "--jsonl", out)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert not out.exists()
