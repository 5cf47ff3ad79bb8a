"""`edgeseg run`: unreadable files named, unwritable --save suffixes refused, SIGTERM as Ctrl-C (issue 14, kind 9)."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest
import torch

from tests.bad_input import assert_refused, snapshot

EDGESEG = str(Path(sys.executable).with_name("edgeseg"))


def _images(tiny_dataset: Path) -> list[Path]:
    return sorted((tiny_dataset / "VOCdevkit" / "VOC2012" / "JPEGImages").glob("*.jpg"))


def test_unreadable_images_in_a_folder_are_named_and_listed(run_edgeseg, tiny_onnx, tiny_dataset, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for image in _images(tiny_dataset)[:2]:
        shutil.copy(image, folder)
    (folder / "broken.jpg").write_text("not an image")
    (folder / "empty.png").write_bytes(b"")
    stats = tmp_path / "stats.json"
    result = run_edgeseg(
        "run", "--model", tiny_onnx, "--source", folder, "--no-show", "--save", tmp_path / "out", "--stats-json", stats
    )
    assert result.returncode == 0, result.stderr
    assert "warning: skipped 2 unreadable file(s): broken.jpg, empty.png" in result.stderr
    summary = json.loads(stats.read_text())
    assert summary["unreadable"] == 2 and summary["unreadable_files"] == ["broken.jpg", "empty.png"]
    assert summary["frames"] == 2


@pytest.mark.parametrize("name", ["out.webm", "out.gif", "out.jpg"])
def test_save_suffix_that_cannot_be_written_is_refused(run_edgeseg, tiny_onnx, tiny_video, tmp_path, name):
    before = snapshot(tmp_path)
    result = run_edgeseg("run", "--model", tiny_onnx, "--source", tiny_video, "--no-show", "--save", tmp_path / name)
    suffix = Path(name).suffix
    assert_refused(result, f"--save {name}: edgeseg cannot write {suffix}; name the video .mp4, .mov", before, tmp_path)


def test_save_without_a_suffix_says_it_wrote_a_folder(run_edgeseg, tiny_onnx, tiny_video, tmp_path):
    out = tmp_path / "out"
    result = run_edgeseg(
        "run", "--model", tiny_onnx, "--source", tiny_video, "--no-show", "--save", out, "--max-frames", "3"
    )
    assert result.returncode == 0, result.stderr
    assert f"saved 3 frames to the folder {out} (overlays as .jpg" in result.stdout
    assert len(list(out.glob("*.jpg"))) == 3 and len(list((out / "masks").glob("*.png"))) == 3


def _wait_for(path_glob: Path, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not list(path_glob.parent.glob(path_glob.name)):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run never started writing"
        time.sleep(0.1)


@pytest.mark.parametrize(("sig", "said"), [(signal.SIGINT, "Ctrl-C"), (signal.SIGTERM, "SIGTERM")])
def test_stop_signal_finalizes_the_video(tiny_onnx, tiny_dataset, tmp_path, sig, said):
    """Ctrl-C, and SIGTERM (what docker stop, systemd and timeout send), finalize the video as it stands."""
    long_video = tmp_path / "long.avi"
    writer = cv2.VideoWriter(str(long_video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (48, 48))
    images = _images(tiny_dataset)
    for i in range(3000):
        writer.write(cv2.resize(cv2.imread(str(images[i % len(images)])), (48, 48)))
    writer.release()
    out = tmp_path / "out.mp4"
    args = ["run", "--model", str(tiny_onnx), "--source", str(long_video), "--save", str(out), "--no-show"]
    proc = subprocess.Popen([EDGESEG, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(tmp_path / ".out.partial.mp4", proc)
    proc.send_signal(sig)  # as soon as writing started: a fast machine could otherwise finish the video first
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert f"{said}: finishing the current frame" in stderr and "Traceback" not in stderr
    capture, frames = cv2.VideoCapture(str(out)), 0
    while capture.read()[0]:
        frames += 1
    assert 0 < frames < 3000 and f"saved {frames} frames to {out}" in stdout
    assert not list(tmp_path.glob(".*partial*"))


def test_sigterm_in_training_saves_last_pt(tiny_dataset, tmp_path):
    args = ["train", "--model", "deeplabv3plus_mobilenetv2", "--size", "32", "--batch-size", "4", "--workers", "0"]
    args += ["--data", str(tiny_dataset), "--project", str(tmp_path), "--name", "term", "--epochs", "50"]
    proc = subprocess.Popen([EDGESEG, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if line.startswith("epoch 1/50"):
            break
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=300)
    last = tmp_path / "term" / "weights" / "last.pt"
    assert proc.returncode == 130, err
    assert "interrupted: saved" in out and "Traceback" not in err
    position = torch.load(last, weights_only=True)["train_state"]["position"]
    assert 1 <= position["epoch"] < 50
