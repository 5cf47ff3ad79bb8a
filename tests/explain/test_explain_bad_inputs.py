"""`edgeseg explain` on folders with unreadable files and on huge images (issue 14, kind 10)."""

from __future__ import annotations

import shutil

import cv2
import numpy as np

from edgeseg.runtime.preprocess import place
from tests.bad_input import assert_refused, snapshot


def _images(tiny_dataset):
    return sorted((tiny_dataset / "VOCdevkit" / "VOC2012" / "JPEGImages").glob("*.jpg"))


def test_unreadable_files_in_a_folder_are_skipped_and_counted(run_edgeseg, tiny_checkpoint, tiny_dataset, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for image in _images(tiny_dataset)[:2]:
        shutil.copy(image, folder)
    (folder / "a_broken.jpg").write_text("not an image")
    result = run_edgeseg("explain", tiny_checkpoint, folder, "--class", "background", "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert "warning: skipped a_broken.jpg: cannot read image" in result.stderr and "Traceback" not in result.stderr
    assert "wrote 2 explanation(s)" in result.stdout and "skipped 1 unreadable file(s): a_broken.jpg" in result.stdout
    assert len(list((tmp_path / "out").glob("*.npy"))) == 2


def test_a_folder_of_only_unreadable_files_is_one_line(run_edgeseg, tiny_checkpoint, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "broken.png").write_bytes(b"\x89PNG garbage")
    before = snapshot(tmp_path)
    result = run_edgeseg("explain", tiny_checkpoint, folder, "--class", "background", "--out", tmp_path / "out")
    message = f"no image in {folder} could be read; skipped 1 unreadable file(s): broken.png"
    assert_refused(result, message, before, tmp_path)
    assert not (tmp_path / "out").exists()


def test_a_huge_image_is_explained_and_stored_at_the_network_input_size(run_edgeseg, tiny_checkpoint, tmp_path):
    height, width = 3000, 5000
    rng = np.random.default_rng(0)
    image = cv2.resize(rng.integers(0, 255, (30, 50, 3), dtype=np.uint8), (width, height))
    path = tmp_path / "huge.png"
    cv2.imwrite(str(path), image)
    out = tmp_path / "out"
    result = run_edgeseg("explain", tiny_checkpoint, path, "--class", "background", "--sweep", "--out", out)
    assert result.returncode == 0, result.stderr
    seen = place((height, width), (32, 32), "letterbox")
    cam = np.load(out / "huge.png_background_gradcam.npy")
    assert cam.shape == (seen.height, seen.width) == (19, 32)  # the network's input, its padding cropped
    assert all(v.shape == cam.shape for v in np.load(out / "huge.png_background_gradcam_sweep.npz").values())
    assert cv2.imread(str(out / "huge.png_background_gradcam.png")) is not None
