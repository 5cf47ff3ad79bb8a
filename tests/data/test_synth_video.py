"""`edgeseg data video`: a real video file OpenCV reads back, frame by frame, with the scene moving."""

from __future__ import annotations

import cv2
import numpy as np
import pytest


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_data_video_writes_a_panning_scene(run_edgeseg, tmp_path, suffix):
    path = tmp_path / f"clip{suffix}"
    result = run_edgeseg("data", "video", path, "--frames", "12", "--width", "160", "--height", "96", "--seed", "3")
    assert result.returncode == 0, result.stderr
    assert f"wrote 12 frames of 160×96 to {path}" in result.stdout
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame.astype(np.int16))
    assert len(frames) == 12 and frames[0].shape == (96, 160, 3)
    assert np.abs(frames[-1] - frames[0]).mean() > 10  # the camera moved
    assert not list(tmp_path.glob(".*partial*"))  # written to a temporary name, then renamed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["clip.txt"], "cannot write .txt; name the video .mp4, .mov, .avi, .mkv"),
        (["clip.webm"], "cannot write .webm"),
        (["clip.gif"], "cannot write .gif"),
        (["clip"], "cannot write a video without a suffix"),
        (["clip.mp4", "--frames", "0"], "--frames must be a whole number ≥ 1"),
        (["clip.mp4", "--width", "8"], "--width must be a whole number ≥ 16"),
        (["clip.mp4", "--classes", "1"], "--classes must be a whole number ≥ 2 and ≤ 255"),
    ],
)
def test_data_video_bad_input(run_edgeseg, tmp_path, args, message):
    result = run_edgeseg("data", "video", *args, cwd=tmp_path)
    assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr
