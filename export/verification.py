"""The images export checks parity on and calibrates INT8 with, pre-processed as the runtime does."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import overload

import numpy as np

from edgeseg.data.voc import DataError, find_root, load_split, read_sample
from edgeseg.runtime.images import UnreadableImage, read_rgb
from edgeseg.runtime.media import images_in
from edgeseg.runtime.metadata import ModelMetadata
from edgeseg.runtime.preprocess import Placement, preprocess_for


def verification_set(
    meta: ModelMetadata, data: Path | None, limit: int
) -> tuple[list[np.ndarray], list[tuple[np.ndarray, Placement]] | None, str]:
    """Inputs (and labels) from DATA's val split, or generated images when no dataset is given."""
    if data is not None:
        check_verify_classes(data, meta)
        split = load_split(data, "val")
        inputs, labels = [], []
        for sample in split.samples[:limit]:
            image, label = read_sample(sample, split.num_classes)
            tensor, placement = preprocess_for(image, meta)
            inputs.append(tensor)
            labels.append((label, placement))
        return inputs, labels, f"{len(inputs)} val images of {data}"
    from edgeseg.data.synth import synth_image

    rng = np.random.default_rng(0)
    height, width = meta.input_size
    inputs = [preprocess_for(synth_image(rng, height, width, 4)[0], meta)[0] for _ in range(min(limit, 8))]
    return inputs, None, f"{len(inputs)} generated images (pass --verify DATA for mIoU)"


def check_verify_data(data: Path) -> None:
    """Before anything is exported: --verify must be a VOC dataset with a val split."""
    if not data.exists():
        raise DataError(f"--verify {data} not found: pass a VOC-format dataset whose val split scores the export")
    split = load_split(data, "val")
    if not split.samples:
        raise DataError(f"--verify {data}: its val split is empty")


def check_verify_classes(data: Path | None, meta: ModelMetadata) -> None:
    """Before anything is exported: the --verify dataset must have the model's classes, or mIoU means nothing."""
    if data is None:
        return
    names = list(load_split(data, "val").class_names)
    if names != list(meta.class_names):
        raise DataError(
            f"--verify {data} has {len(names)} classes ({', '.join(names[:5])}{', …' if len(names) > 5 else ''}), "
            f"the model {meta.num_classes} ({', '.join(meta.class_names[:5])}"
            f"{', …' if meta.num_classes > 5 else ''}); verify on the dataset the model was trained on"
        )


def calibration_paths(calib: Path) -> list[Path]:
    """The images of --calib: a folder of images, or the train split of a VOC dataset."""
    if not calib.is_dir():
        raise DataError(f"--calib {calib} is not a folder of images or a VOC-format dataset")
    paths = images_in(calib)
    if not paths:
        try:
            find_root(calib)
        except DataError:
            raise DataError(f"--calib {calib} holds no images (.jpg, .png) and is not a VOC-format dataset") from None
        paths = [s.image for s in load_split(calib, "train").samples]
    if not paths:
        raise DataError(f"--calib {calib}: its train split is empty")
    return paths


def calibration_sample(calib: Path, limit: int) -> list[Path]:
    """The up to `limit` images of --calib that calibration uses, spread over the whole set, not its first files."""
    paths = calibration_paths(calib)
    step = max(1, len(paths) // limit)
    return paths[::step][:limit]


def check_calibration(calib: Path, limit: int) -> None:
    """Before anything is exported: every image calibration will use can be read (each is read, then dropped)."""
    for path in calibration_sample(calib, limit):
        _read_calibration_image(path, calib)


def calibration_set(calib: Path, meta: ModelMetadata, limit: int) -> CalibrationImages:
    """Up to `limit` images from a folder of images, or from the train split of a VOC dataset, each read when
    it is used; every one is read once here, so that a bad image is reported before calibration starts."""
    images = CalibrationImages(calibration_sample(calib, limit), meta, calib)
    images.check()
    return images


def _read_calibration_image(path: Path, calib: Path) -> np.ndarray:
    """RGB by the one reader every command uses (edgeseg.runtime.images), or a DataError naming --calib."""
    try:
        return read_rgb(path)
    except UnreadableImage as exc:
        raise DataError(exc.or_else(f"remove it from --calib {calib}")) from None


class CalibrationImages(Sequence):
    """The calibration images as network inputs, each read and pre-processed when indexed.

    Nothing is kept: calibration takes one image at a time, and 256 inputs at 512² would hold 800 MB.
    """

    def __init__(self, paths: list[Path], meta: ModelMetadata, calib: Path) -> None:
        self.paths, self.calib = paths, calib
        self._meta = meta

    def __len__(self) -> int:
        return len(self.paths)

    @overload
    def __getitem__(self, index: int) -> np.ndarray: ...
    @overload
    def __getitem__(self, index: slice) -> CalibrationImages: ...
    def __getitem__(self, index: int | slice) -> np.ndarray | CalibrationImages:
        if isinstance(index, slice):
            return CalibrationImages(self.paths[index], self._meta, self.calib)
        return preprocess_for(_read_calibration_image(self.paths[index], self.calib), self._meta)[0]

    def check(self) -> None:
        """Read every image once, so that one that cannot be read is reported before the work that uses them."""
        for _ in self:
            pass
