"""Images with colour-coded or index mask PNGs and a label map (labelmap.py): CVAT's "Segmentation mask" export,
Roboflow's "Semantic Segmentation Masks" export, or any folder of images and palette PNGs.

Where things are looked for (each can be given instead: --images, --masks, --label-map):
    Roboflow    SOURCE/{train,valid}/<name>.jpg with <name>_mask.png beside it, and _classes.csv
    CVAT        SOURCE/JPEGImages, SOURCE/SegmentationClass, SOURCE/labelmap.txt,
                and the splits of SOURCE/ImageSets/Segmentation/{train,val}.txt where both exist
    otherwise   SOURCE/images (or SOURCE), SOURCE/masks (or labels, annotations, SOURCE), and a label map
                labelmap.txt, _classes.csv or classes.txt in SOURCE
An image's mask is <masks>/<same path>.png or <same path>_mask.png.
"""

from __future__ import annotations

from pathlib import Path

from edgeseg.data.importers.common import Converted, Item, Tally, relative_id
from edgeseg.data.importers.images import declared_frame, orient, read_image_file
from edgeseg.data.importers.labelmap import LabelMap, read_label_map, read_mask
from edgeseg.data.importers.writer import ImportSource
from edgeseg.data.voc import DataError, read_text_lines
from edgeseg.runtime.media import IMAGE_SUFFIXES

MASK_SUFFIX = "_mask"
IMAGE_FOLDERS = ("JPEGImages", "images", "img", "")
MASK_FOLDERS = ("SegmentationClass", "masks", "labels", "annotations", "")
LABEL_MAPS = ("labelmap.txt", "_classes.csv", "train/_classes.csv", "classes.txt")
ROBOFLOW_SPLITS = (("train", "train"), ("valid", "val"), ("val", "val"))


def _first_folder(source: Path, names: tuple[str, ...]) -> Path:
    return next(source / n for n in names if (source / n).is_dir())


class MasksSource(ImportSource):
    format = "masks"

    def __init__(
        self,
        source: Path,
        *,
        images: Path | None = None,
        masks: Path | None = None,
        label_map: Path | None = None,
        val_share: float | None = None,
        seed: int = 0,
    ) -> None:
        if not source.is_dir():
            raise DataError(f"SOURCE must be a folder of images and masks, got {source}")
        found_map = label_map or next((source / n for n in LABEL_MAPS if (source / n).is_file()), None)
        if found_map is None:
            raise DataError(
                f"no label map in {source} (looked for {', '.join(LABEL_MAPS)}); pass --label-map FILE: CVAT's "
                "labelmap.txt, Roboflow's _classes.csv, or a text file with one class name per pixel value"
            )
        self.label_map: LabelMap = read_label_map(found_map)
        self.native_names = self.label_map.names
        self.native_palette = self.label_map.palette
        self.listing_problems = Tally()
        roboflow = [(source / f, s) for f, s in ROBOFLOW_SPLITS if (source / f).is_dir()]
        if images is None and masks is None and {s for _, s in roboflow} == {"train", "val"}:
            folders = [(folder, folder, split) for folder, split in roboflow[:2]]
        else:
            image_dir = images or _first_folder(source, IMAGE_FOLDERS)
            mask_dir = masks or _first_folder(source, MASK_FOLDERS)
            for option, folder in (("--images", image_dir), ("--masks", mask_dir)):
                if not folder.is_dir():
                    raise DataError(f"{option} {folder} is not a folder")
            folders = [(image_dir, mask_dir, None)]
        self.description = f"images and masks in {source} (label map {found_map})"
        self._items = [item for folder in folders for item in self._pair(*folder)]
        lists = source / "ImageSets" / "Segmentation"
        if all(item.split is None for item in self._items):
            self._items = self._split(lists, val_share, seed)
        elif val_share is not None:
            raise DataError("--val-share splits one folder; this source has train and valid folders already")

    def _pair(self, image_dir: Path, mask_dir: Path, split: str | None) -> list[Item]:
        """An item for each image that has a mask; the images without one and the masks without an image are
        counted."""
        same = image_dir.resolve() == mask_dir.resolve()
        items, used = [], set()
        image_files = sorted(p for p in image_dir.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        for image in image_files:
            if same and image.stem.endswith(MASK_SUFFIX):
                continue
            relative = image.relative_to(image_dir)
            candidates = [mask_dir / relative.with_name(relative.stem + MASK_SUFFIX + ".png")]
            if not same:
                candidates.insert(0, mask_dir / relative.with_suffix(".png"))
            mask = next((c for c in candidates if c.is_file()), None)
            if mask is None:
                self.listing_problems.add("missing mask", f"{image}: no mask {candidates[0]}")
                continue
            used.add(mask.resolve())
            items.append(Item(relative_id(image, image_dir), split, str(mask), (str(image), str(mask))))
        pattern = f"*{MASK_SUFFIX}.png" if same else "*.png"
        for mask in sorted(mask_dir.rglob(pattern)):
            if mask.resolve() not in used:
                self.listing_problems.add("missing image", f"{mask}: a mask with no image beside it")
        return items

    def _split(self, lists: Path, val_share: float | None, seed: int) -> list[Item]:
        """CVAT's train.txt and val.txt where both exist (and no --val-share), else a seeded --val-share split."""
        if val_share is None and (lists / "train.txt").is_file() and (lists / "val.txt").is_file():
            val = {line.strip() for line in read_text_lines(lists / "val.txt") if line.strip()}
            return [Item(i.id, "val" if i.id in val else "train", i.name, i.payload) for i in self._items]
        self.val_share, self.seed = 0.2 if val_share is None else val_share, seed
        return self._items  # split by the writer among the images imported

    def items(self) -> list[Item]:
        return self._items

    def convert(self, item: Item) -> Converted:
        image_path, mask_path = (Path(p) for p in item.payload)
        image = read_image_file(image_path, str(image_path))
        label, unknown = read_mask(mask_path, self.label_map)
        stored = declared_frame((label.shape[1], label.shape[0]), image, f"mask {mask_path}")
        converted = Converted(image, orient(label, image.orientation) if stored else label)
        if unknown:
            converted.unknown_colours = unknown
            listed = ", ".join(f"{k} ({n:,} px)" for k, n in unknown.most_common(3))
            converted.problems.add("unknown colour", f"mask {mask_path} has {listed}, in no label map")
        return converted
