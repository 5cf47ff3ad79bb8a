"""Cityscapes: leftImg8bit/<split>/<city>/*_leftImg8bit.png with gtFine/<split>/<city>/*_gtFine_labelIds.png.

The 19 classes Cityscapes trains and evaluates on, by the dataset's own labelId → trainId table (its
cityscapesscripts/helpers/labels.py): every other labelId (unlabeled, ego vehicle, parking, guard rail, caravan,
…) is 255, ignored. train and val keep their splits; test has no labels and is not imported.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeseg.data.importers.common import NATIVE_IGNORE, Converted, Item, Tally, safe_id
from edgeseg.data.importers.images import read_image_file, read_index_label
from edgeseg.data.importers.writer import ImportSource
from edgeseg.data.voc import DataError

# (labelId, name, colour) of the 19 training classes, in trainId order (trainId = position).
TRAIN_CLASSES = (
    (7, "road", (128, 64, 128)),
    (8, "sidewalk", (244, 35, 232)),
    (11, "building", (70, 70, 70)),
    (12, "wall", (102, 102, 156)),
    (13, "fence", (190, 153, 153)),
    (17, "pole", (153, 153, 153)),
    (19, "traffic light", (250, 170, 30)),
    (20, "traffic sign", (220, 220, 0)),
    (21, "vegetation", (107, 142, 35)),
    (22, "terrain", (152, 251, 152)),
    (23, "sky", (70, 130, 180)),
    (24, "person", (220, 20, 60)),
    (25, "rider", (255, 0, 0)),
    (26, "car", (0, 0, 142)),
    (27, "truck", (0, 0, 70)),
    (28, "bus", (0, 60, 100)),
    (31, "train", (0, 80, 100)),
    (32, "motorcycle", (0, 0, 230)),
    (33, "bicycle", (119, 11, 32)),
)
LABEL_IDS = 34  # labelIds 0–33 exist; anything else in a label file is reported
IMAGE_SUFFIX, LABEL_SUFFIX = "_leftImg8bit", "_gtFine_labelIds"
SPLITS = ("train", "val")


def label_to_train_ids() -> np.ndarray:
    """uint16[256]: labelId → trainId, NATIVE_IGNORE for the ignored labels and for values that are no labelId."""
    lut = np.full(256, NATIVE_IGNORE, np.uint16)
    for train_id, (label_id, _, _) in enumerate(TRAIN_CLASSES):
        lut[label_id] = train_id
    return lut


class CityscapesSource(ImportSource):
    format = "cityscapes"

    def __init__(self, source: Path, *, val_share: float | None = None) -> None:
        if val_share is not None:
            raise DataError("--val-share does not apply: Cityscapes has its own train and val splits")
        for folder in ("leftImg8bit", "gtFine"):
            if not (source / folder).is_dir():
                raise DataError(f"{source} is not a Cityscapes folder: it has no {folder}/ (download gtFine too)")
        self.root = source
        self.native_names = tuple(name for _, name, _ in TRAIN_CLASSES)
        self.native_palette = np.array([colour for _, _, colour in TRAIN_CLASSES], np.uint8)
        self.description = f"Cityscapes in {source}"
        self.listing_problems = Tally()
        self.lut = label_to_train_ids()
        self._items = []
        for split in SPLITS:
            for image in sorted((source / "leftImg8bit" / split).glob(f"*/*{IMAGE_SUFFIX}.png")):
                stem = image.name[: -len(IMAGE_SUFFIX + ".png")]
                label = source / "gtFine" / split / image.parent.name / f"{stem}{LABEL_SUFFIX}.png"
                if not label.is_file():
                    self.listing_problems.add("missing mask", f"{image}: no {label}")
                    continue
                self._items.append(Item(safe_id(stem), split, str(label), (str(image), str(label))))

    def items(self) -> list[Item]:
        return self._items

    def convert(self, item: Item) -> Converted:
        image_path, label_path = (Path(p) for p in item.payload)
        image = read_image_file(image_path, str(image_path))
        ids, label = read_index_label(label_path, image, self.lut)
        converted = Converted(image, label)
        strange = np.unique(ids[ids >= LABEL_IDS])
        if strange.size:
            for value in strange.tolist():
                converted.unknown_colours[f"value {value}"] += int((ids == value).sum())
            converted.problems.add("unknown colour", f"label {label_path} has labelId(s) {strange.tolist()[:5]}")
        return converted
