"""ADE20K as the SceneParsing benchmark ships it (ADEChallengeData2016): images/{training,validation}/*.jpg with
annotations/{training,validation}/*.png holding 0 (unlabelled, → 255) and 1–150 (→ classes 0–149)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeseg.data.importers.common import NATIVE_IGNORE, Converted, Item, Tally, safe_id
from edgeseg.data.importers.images import read_image_file, read_index_label
from edgeseg.data.importers.writer import ImportSource
from edgeseg.data.voc import DataError

FOLDER = "ADEChallengeData2016"
SPLITS = (("training", "train"), ("validation", "val"))
# The first name of each of the 150 classes of the benchmark's objectInfo150.csv, in value order (value 1 first).
CLASSES = (
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass", "cabinet",
    "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain", "chair", "car", "water",
    "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field", "armchair", "seat", "fence", "desk",
    "rock", "wardrobe", "lamp", "bathtub", "railing", "cushion", "base", "box", "column", "signboard",
    "chest of drawers", "counter", "sand", "sink", "skyscraper", "fireplace", "refrigerator", "grandstand", "path",
    "stairs", "runway", "case", "pool table", "pillow", "screen door", "stairway", "river", "bridge", "bookcase",
    "blind", "coffee table", "toilet", "flower", "book", "hill", "bench", "countertop", "stove", "palm",
    "kitchen island", "computer", "swivel chair", "boat", "bar", "arcade machine", "hovel", "bus", "towel", "light",
    "truck", "tower", "chandelier", "awning", "streetlight", "booth", "television receiver", "airplane",
    "dirt track", "apparel", "pole", "land", "bannister", "escalator", "ottoman", "bottle", "buffet", "poster",
    "stage", "van", "ship", "fountain", "conveyer belt", "canopy", "washer", "plaything", "swimming pool", "stool",
    "barrel", "basket", "waterfall", "tent", "bag", "minibike", "cradle", "oven", "ball", "food", "step", "tank",
    "trade name", "microwave", "pot", "animal", "bicycle", "lake", "dishwasher", "screen", "blanket", "sculpture",
    "hood", "sconce", "vase", "traffic light", "tray", "ashcan", "fan", "pier", "crt screen", "plate", "monitor",
    "bulletin board", "shower", "radiator", "glass", "clock", "flag",
)  # fmt: skip


def value_lut() -> np.ndarray:
    """uint16[256]: 0 → ignore, v → v − 1 for v in 1–150, anything else → ignore (reported)."""
    lut = np.full(256, NATIVE_IGNORE, np.uint16)
    lut[1 : len(CLASSES) + 1] = np.arange(len(CLASSES))
    return lut


class Ade20kSource(ImportSource):
    format = "ade20k"

    def __init__(self, source: Path, *, val_share: float | None = None) -> None:
        if val_share is not None:
            raise DataError("--val-share does not apply: ADE20K has its own training and validation splits")
        root = source / FOLDER if (source / FOLDER).is_dir() else source
        for folder in ("images/training", "annotations/training"):
            if not (root / folder).is_dir():
                raise DataError(f"{source} is not {FOLDER}: it has no {folder}/")
        self.native_names = CLASSES
        self.description = f"ADE20K in {root}"
        self.listing_problems = Tally()
        self.lut = value_lut()
        self._items = []
        for folder, split in SPLITS:
            for image in sorted((root / "images" / folder).glob("*.jpg")):
                label = root / "annotations" / folder / f"{image.stem}.png"
                if not label.is_file():
                    self.listing_problems.add("missing mask", f"{image}: no {label}")
                    continue
                self._items.append(Item(safe_id(image.stem), split, str(label), (str(image), str(label))))

    def items(self) -> list[Item]:
        return self._items

    def convert(self, item: Item) -> Converted:
        image_path, label_path = (Path(p) for p in item.payload)
        image = read_image_file(image_path, str(image_path))
        values, label = read_index_label(label_path, image, self.lut)
        converted = Converted(image, label)
        strange = np.unique(values[values > len(CLASSES)])
        if strange.size:
            for value in strange.tolist():
                converted.unknown_colours[f"value {value}"] += int((values == value).sum())
            converted.problems.add("unknown colour", f"label {label_path} has values {strange.tolist()[:5]} > 150")
        return converted
