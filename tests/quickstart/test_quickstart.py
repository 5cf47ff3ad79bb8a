"""`edgeseg quickstart` in a subprocess, on a small budget: every step runs and every listed artifact opens."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

pytestmark = pytest.mark.slow


def test_quickstart_end_to_end(run_edgeseg, tmp_path):
    out = tmp_path / "qs"
    # A budget small enough for CI and big enough for the model to find objects to explain.
    flags = ["--model", "deeplabv3plus_mobilenetv2", "--epochs", "6", "--images", "120", "--size", "96"]
    result = run_edgeseg("quickstart", "--out", out, *flags, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    text = result.stdout
    for command in ("data synth", "train", "eval", "export", "data video", "run", "explain", "bench"):
        assert f"$ edgeseg {command} " in text
    assert "quickstart done in" in text and "val mIoU" in text and "FPS end to end" in text

    summary = text[text.index("quickstart done in") :]
    listing = summary[summary.index("files:") :].splitlines()[1:]
    files = {line[4:21].strip(): Path(line[21:].strip()) for line in listing if line.startswith("    ")}
    assert len(files) == 12
    assert cv2.imread(str(files["training curves"])) is not None
    assert cv2.imread(str(files["Grad-CAM sweep"])) is not None
    assert json.loads(files["metrics"].read_text())["mIoU"] is not None
    capture = cv2.VideoCapture(str(files["segmented video"]))
    assert capture.get(cv2.CAP_PROP_FRAME_COUNT) == 90
    ok, frame = capture.read()
    assert ok and frame.shape == (480, 640, 3) and np.ptp(frame) > 0
    bench = json.loads((out / "bench" / "results.json").read_text())
    assert {(r["upsample"], r["backend"]) for r in bench["rows"]} >= {("bilinear", "ort"), ("transposed", "torch")}
    assert "## Bilinear vs transposed decoders" in files["benchmark report"].read_text()
