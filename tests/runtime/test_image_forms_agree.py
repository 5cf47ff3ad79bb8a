"""Every command reads every image form alike: the pixels each entry point hands to pre-processing are the same.

The forms (16-bit PNG and TIFF, gray, alpha, palette, CMYK, EXIF-rotated, …) come from real encoders
(tests/runtime/image_forms.py). The red-channel probe (tests/runtime/pixel_probe.py) turns "the same pixels"
into "the same mask", so the real `edgeseg run` and the Python API are compared exactly; explain, export's
--calib and data check must accept every form, through the real console script.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import edgeseg
from edgeseg.data.voc import read_image as read_dataset_image
from edgeseg.export.verification import calibration_set
from edgeseg.runtime.backends import open_model
from edgeseg.runtime.images import read_image, read_rgb
from edgeseg.runtime.preprocess import preprocess_for
from edgeseg.runtime.sources import ImageSource
from tests.runtime.image_forms import write_forms
from tests.runtime.pixel_probe import red_of, write_pixel_probe


@pytest.fixture(scope="module")
def forms(tmp_path_factory):
    return write_forms(tmp_path_factory.mktemp("forms") / "images")


@pytest.fixture(scope="module")
def probe(tmp_path_factory) -> Path:
    return write_pixel_probe(tmp_path_factory.mktemp("probe") / "probe.onnx")


def _saved_mask(out: Path, name: str) -> np.ndarray:
    # `edgeseg run --save DIR` writes masks/<name>.png under the naming rule of runtime/media.py; before
    # FolderSink took that rule it wrote masks/<stem>.png (these forms' stems are unique, so either finds it).
    for mask in (out / "masks" / f"{name}.png", out / "masks" / f"{Path(name).stem}.png"):
        if mask.is_file():
            return np.asarray(Image.open(mask))
    raise AssertionError(f"no mask saved for {name}: {sorted(p.name for p in (out / 'masks').iterdir())}")


def test_each_form_reads_as_the_rule_says(forms):
    for name, form in forms.items():
        image = read_image(form.path)
        assert image.dtype == np.uint8 and image.shape == form.expected.shape, name
        assert np.abs(image.astype(int) - form.expected).max() <= form.tolerance, name


def test_every_entry_point_hands_pre_processing_the_same_pixels(forms, probe):
    with open_model(probe, provider="cpu") as backend:
        meta = backend.metadata
    calibration = calibration_set(next(iter(forms.values())).path.parent, meta, limit=len(forms))
    assert len(calibration) == len(forms)  # the folder's images, sorted by name, as the forms are below
    for (name, form), calibrated in zip(sorted(forms.items()), calibration):
        bgr = read_image(form.path)
        frames = list(ImageSource([form.path]))  # edgeseg run
        assert len(frames) == 1 and np.array_equal(frames[0].image, bgr), name
        assert np.array_equal(read_rgb(form.path), bgr[..., ::-1]), name  # edgeseg explain, export --calib
        assert np.array_equal(read_dataset_image(form.path), bgr[..., ::-1]), name  # data check, train, --verify
        np.testing.assert_array_equal(calibrated, preprocess_for(bgr, meta, bgr=True)[0], err_msg=name)


def test_run_and_the_api_give_the_same_mask_for_every_form(run_edgeseg, forms, probe, tmp_path):
    folder = next(iter(forms.values())).path.parent
    out = tmp_path / "out"
    result = run_edgeseg("run", "--model", probe, "--source", folder, "--save", out, "--no-show")
    assert result.returncode == 0, result.stderr
    assert f"{len(forms)} frames" in result.stdout and "unreadable 0" in result.stdout, result.stdout
    with edgeseg.load(probe, provider="cpu") as seg:
        for name, form in forms.items():
            api = seg(form.path)
            np.testing.assert_array_equal(api, red_of(read_image(form.path)), err_msg=name)
            np.testing.assert_array_equal(_saved_mask(out, name), api, err_msg=name)


def test_explain_reads_every_form(run_edgeseg, forms, tiny_checkpoint, tmp_path):
    folder = next(iter(forms.values())).path.parent
    result = run_edgeseg("explain", tiny_checkpoint, folder, "--class", "background", "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert "skipped" not in result.stdout + result.stderr
    for name in forms:  # explained, or its prediction holds no background: read either way
        assert any(line.startswith(f"{name}: ") for line in result.stdout.splitlines()), (name, result.stdout)


def test_export_calibrates_on_every_form(run_edgeseg, forms, tiny_onnx, tmp_path):
    folder = next(iter(forms.values())).path.parent
    args = ("export", tiny_onnx, "--int8", "--calib", folder, "--no-engine", "--out", tmp_path / "export")
    result = run_edgeseg(*args)
    assert result.returncode == 0, result.stderr
    assert f"INT8 calibration on {len(forms)} images" in result.stdout


def test_data_check_accepts_every_form(run_edgeseg, forms, tmp_path):
    root = tmp_path / "dataset"
    (root / "JPEGImages").mkdir(parents=True)
    (root / "SegmentationClass").mkdir()
    (root / "ImageSets" / "Segmentation").mkdir(parents=True)
    for name, form in forms.items():
        (root / "JPEGImages" / name).write_bytes(form.path.read_bytes())
        # The label is drawn on the picture as it is shown: the EXIF-rotated one upright, as a phone shows it.
        Image.fromarray(np.zeros(form.expected.shape[:2], np.uint8)).save(
            root / "SegmentationClass" / f"{Path(name).stem}.png"
        )
    ids = "".join(f"{Path(name).stem}\n" for name in forms)
    for split in ("train", "val"):
        (root / "ImageSets" / "Segmentation" / f"{split}.txt").write_text(ids)
    (root / "classes.txt").write_text("background\nthing\n")
    result = run_edgeseg("data", "check", root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"class pixel frequencies over {len(forms)} images" in result.stdout
