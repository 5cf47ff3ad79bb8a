"""The live page in a real browser: headless Chromium opens `edgeseg run --serve`, as a person on a laptop would.

A screenshot must show the camera's frames in the page's image (the camera draws a yellow disc no part of the
page has), the DOM the model's class names and live numbers that the page's script keeps fetching. (The video
needs no script: the page's HTML names the stream in its <img>, test_serve.py checks that.) Chromium is Debian's
`chromium` (.ci/run installs it where it is missing).
"""

from __future__ import annotations

import re
import shutil
import subprocess

import cv2
import numpy as np
import pytest

from edgeseg.runtime.backends import open_model

from .mjpeg_camera import MjpegCamera, Session
from .served_run import ServedRun

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (Debian: apt-get install chromium)")
DISC_BGR = (0, 200, 255)  # the colour mjpeg_camera.py draws its disc in


def chromium(url: str, profile, *flags: str) -> subprocess.CompletedProcess:
    args = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
        "--virtual-time-budget=3000", *flags, url,
    ]  # fmt: skip
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


def numbers(dom: str) -> dict[str, str]:
    return dict(re.findall(r'<dd id="(\w+)">([^<]*)</dd>', dom))


def disc_pixels(png) -> int:
    shot = cv2.imread(str(png))
    assert shot is not None and shot.shape == (800, 1280, 3), "no screenshot"
    return int(np.all(np.abs(shot.astype(int) - DISC_BGR) < 40, axis=2).sum())


def test_the_page_shows_the_stream_the_legend_and_live_numbers(tiny_onnx, tmp_path):
    with open_model(tiny_onnx) as backend:
        names = backend.metadata.class_names
    with MjpegCamera([Session(100_000, fps=30)], size=(240, 320)) as camera, ServedRun(tiny_onnx, camera.url) as run:
        shot = tmp_path / "page.png"
        done = chromium(run.url, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,800")
        assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
        first = chromium(run.url, tmp_path / "profile", "--dump-dom").stdout
        second = chromium(run.url, tmp_path / "profile", "--dump-dom").stdout
        assert run.finish()[0] == 0
    assert disc_pixels(shot) > 5000, "the page's image does not show the camera's frames"
    assert all(f"</span>{name}" in first for name in names)  # the legend
    before, after = numbers(first), numbers(second)
    assert float(before["fps"]) > 0 and float(after["fps"]) > 0, (before, after)  # filled in by the script
    assert int(after["frames"]) > int(before["frames"]), "the numbers did not change between two loads"
    assert before["viewers"] == "1"  # this browser's own stream
    assert re.search(r'<td id="share-0-0">\d+\.\d %</td>', second)  # each class's share of the frame
