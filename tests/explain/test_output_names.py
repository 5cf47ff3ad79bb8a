"""`edgeseg explain` names every output after its input's whole file name and never replaces a file
(docs/architecture.md, "Output names")."""

from __future__ import annotations

import cv2
import numpy as np

from tests.bad_input import assert_refused, snapshot


def _same_stem_folder(tmp_path, tiny_dataset):
    """photo.bmp, photo.tif and photo.webp: three different pictures with one stem, as a camera folder has."""
    folder = tmp_path / "images"
    folder.mkdir()
    images = sorted((tiny_dataset / "VOCdevkit" / "VOC2012" / "JPEGImages").glob("*.jpg"))[:3]
    for suffix, image in zip((".bmp", ".tif", ".webp"), images):
        lossless = [cv2.IMWRITE_WEBP_QUALITY, 101] if suffix == ".webp" else []
        cv2.imwrite(str(folder / f"photo{suffix}"), cv2.imread(str(image)), lossless)
    return folder


def test_inputs_with_one_stem_get_one_output_each(run_edgeseg, tiny_checkpoint, tiny_dataset, tmp_path):
    folder, out = _same_stem_folder(tmp_path, tiny_dataset), tmp_path / "out"
    result = run_edgeseg("explain", tiny_checkpoint, folder, "--class", "background", "--out", out)
    assert result.returncode == 0, result.stderr
    assert "wrote 3 explanation(s)" in result.stdout
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        f"photo{suffix}_background_gradcam{kind}" for suffix in (".bmp", ".tif", ".webp") for kind in (".npy", ".png")
    ]
    cams = [np.load(out / f"photo{suffix}_background_gradcam.npy") for suffix in (".bmp", ".tif", ".webp")]
    assert not np.array_equal(cams[0], cams[1]) and not np.array_equal(cams[1], cams[2])  # three pictures


def test_an_earlier_runs_outputs_are_refused_then_replaced_with_overwrite(
    run_edgeseg, tiny_checkpoint, tiny_dataset, tmp_path
):
    image, out = _same_stem_folder(tmp_path, tiny_dataset) / "photo.bmp", tmp_path / "out"
    args = ("explain", tiny_checkpoint, image, "--class", "background", "--out", out)
    assert run_edgeseg(*args).returncode == 0
    mine = out / "notes.txt"
    mine.write_text("a file of the user's beside the outputs\n")
    before = snapshot(tmp_path)
    again = run_edgeseg(*args)
    assert_refused(again, f"--out {out} already holds photo.bmp_background_gradcam.png (and 1 more)", before, tmp_path)
    assert "pass --force to replace them, or another --out" in again.stderr
    replaced = run_edgeseg(*args, "--force")
    assert replaced.returncode == 0, replaced.stderr
    assert "wrote 1 explanation(s)" in replaced.stdout and mine.read_text().startswith("a file of the user's")
    assert sorted(p.name for p in out.iterdir()) == [
        "notes.txt",
        "photo.bmp_background_gradcam.npy",
        "photo.bmp_background_gradcam.png",
    ]  # nothing else: no temporary file left behind
