"""`edgeseg data check`: find everything wrong with a VOC-format dataset before training does."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeseg.data.voc import IGNORE_INDEX, DataError, Split, find_root, list_splits, load_split, read_sample

# An image is unlabelled when every pixel is 255 (ignored) or, where class 0 is a background class, background:
# nothing in it teaches the network an object (an import whose annotations all missed their image shows here).
BACKGROUND_NAMES = ("background", "_background_", "bg")


@dataclass
class CheckReport:
    root: Path
    class_names: tuple[str, ...]
    split_sizes: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    class_pixels: np.ndarray | None = None  # pixels per class over every image checked
    class_images: np.ndarray | None = None  # images in which each class appears
    ignored_pixels: int = 0
    images_checked: int = 0
    unlabelled: list[str] = field(default_factory=list)  # ids of images with no labelled pixel (BACKGROUND_NAMES)

    @property
    def ok(self) -> bool:
        return not self.errors


def check_dataset(data: str | Path, splits: list[str] | None = None) -> CheckReport:
    """Open every image and label the split lists name; collect every problem instead of stopping."""
    root = find_root(Path(data))
    names = splits or list_splits(root)
    if not names:
        raise DataError(f"{root / 'ImageSets' / 'Segmentation'} has no <split>.txt lists")
    loaded: list[Split] = [load_split(data, name) for name in names]
    report = CheckReport(root, loaded[0].class_names)
    if not splits:  # every list: the dataset as `edgeseg train` would use it
        lists = root / "ImageSets" / "Segmentation"
        report.errors += [
            f"split {name!r} not found: no {lists / (name + '.txt')} (`edgeseg train` needs it)"
            for name in ("train", "val")
            if name not in names
        ]
    report.warnings += _overlaps(loaded)
    num_classes = len(report.class_names)
    first_object = 1 if report.class_names[0].lower() in BACKGROUND_NAMES else 0
    report.class_pixels = np.zeros(num_classes, np.int64)
    report.class_images = np.zeros(num_classes, np.int64)
    seen: set[str] = set()
    for split in loaded:
        report.split_sizes[split.name] = len(split.samples)
        if not split.samples:
            report.errors.append(f"split {split.name!r} is empty: {root}/ImageSets/Segmentation/{split.name}.txt")
        for sample in split.samples:
            if sample.id in seen:
                continue
            seen.add(sample.id)
            try:
                _, label = read_sample(sample, num_classes)
            except DataError as exc:
                report.errors.append(f"{split.name}: {exc}")
                continue
            counts = np.bincount(label.ravel(), minlength=256)
            report.class_pixels += counts[:num_classes]
            report.class_images += counts[:num_classes] > 0
            report.ignored_pixels += int(counts[IGNORE_INDEX])
            if not counts[first_object:num_classes].any():
                report.unlabelled.append(sample.id)
            report.images_checked += 1
    return report


def _overlaps(splits: list[Split]) -> list[str]:
    """Images listed in a training split and in a validation split: the val score would flatter the model.

    trainval lists hold both on purpose (VOC's own layout) and are left out."""
    train = [s for s in splits if "train" in s.name and "trainval" not in s.name]
    val = [s for s in splits if s.name.startswith("val")]
    warnings = []
    for a in train:
        for b in val:
            shared = sorted({x.id for x in a.samples} & {x.id for x in b.samples})
            if shared:
                warnings.append(
                    f"{len(shared)} image(s) are in both {a.name} and {b.name} (e.g. {shared[0]}): "
                    f"the val score will overstate accuracy on unseen images"
                )
    return warnings
