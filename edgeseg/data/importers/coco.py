"""COCO instance JSON (polygons and RLE), as COCO itself, CVAT, Label Studio and Roboflow export it, and COCO
panoptic (coco_panoptic.py).

Classes: class 0 is `background` (pixels no annotation covers, and a category named background), then the
categories in the order of their ids.
Overlaps: crowd regions are painted first, as 255 (ignored); then the other annotations from the largest area to
the smallest, so where two overlap the smaller one is on top (a cup on a table stays a cup). An annotation with a
box but no segmentation paints its box 255, since its pixels are an object of unknown extent.
"""

from __future__ import annotations

import json
import numbers
from pathlib import Path
from typing import Any

import numpy as np

from edgeseg.data.importers.coco_panoptic import convert_panoptic, png_folder
from edgeseg.data.importers.common import (
    BACKGROUND,
    NATIVE_IGNORE,
    Converted,
    Item,
    Skip,
    Tally,
    safe_id,
)
from edgeseg.data.importers.images import declared_frame, orient, read_image_file
from edgeseg.data.importers.raster import outside, paint_polygon, polygon_area, rle_counts, rle_mask
from edgeseg.data.importers.writer import ImportSource
from edgeseg.data.voc import DataError

ROBOFLOW_SPLITS = (("train", "train"), ("valid", "val"), ("val", "val"))
ROBOFLOW_FILE = "_annotations.coco.json"


def read_json(path: Path) -> Any:
    """A JSON file, or one line saying where it is broken."""
    try:
        return json.loads(path.read_bytes())  # bytes: json detects UTF-8 (with or without BOM), UTF-16, UTF-32
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); export it again"
        ) from None
    except UnicodeDecodeError:
        raise DataError(f"{path} is not valid JSON (not UTF-8 text); export it again") from None


def _find_files(source: Path, train: Path | None, val: Path | None) -> list[tuple[Path, str | None]]:
    """The annotation files and the split each gives (None: split it by --val-share)."""

    def resolve(path: Path) -> Path:
        found = path if path.exists() or not source.is_dir() else source / path
        if not found.is_file():
            raise DataError(f"annotation file not found: {path}")
        return found

    if val is not None and train is None:
        raise DataError("--val needs --train: pass both annotation files, or SOURCE alone and --val-share")
    if train is not None:
        return [(resolve(train), "train" if val is not None else None)] + ([(resolve(val), "val")] if val else [])
    if source.is_file():
        return [(source, None)]
    if not source.is_dir():
        raise DataError(f"SOURCE not found: {source}")
    roboflow = [(source / folder / ROBOFLOW_FILE, split) for folder, split in ROBOFLOW_SPLITS]
    roboflow = [(path, split) for path, split in roboflow if path.is_file()]
    if {split for _, split in roboflow} == {"train", "val"}:
        return roboflow[:2]
    found = sorted({*source.glob("*.json"), *source.glob("annotations/*.json"), *source.glob("*/" + ROBOFLOW_FILE)})
    if len(found) == 1:
        return [(found[0], None)]
    listed = ", ".join(str(p.relative_to(source)) for p in found[:6]) or "none"
    raise DataError(
        f"{source} holds {len(found)} COCO JSON files ({listed}); name them: --train A.json [--val B.json], "
        f"or pass one JSON file as SOURCE"
    )


def _image_roots(json_path: Path, images: Path | None) -> tuple[Path, ...]:
    """Where a JSON's file_name values are looked up: --images, else beside the JSON, its parent, images/, and
    COCO's own layout (annotations/instances_val2017.json → val2017/)."""
    if images is not None:
        return (images,)
    here, parent = json_path.parent, json_path.parent.parent
    roots = [here, here / "images", parent, parent / "images"]
    if "_" in json_path.stem:
        roots.append(parent / json_path.stem.split("_", 1)[1])
    return tuple(dict.fromkeys(roots))


def _require_list(data: Any, key: str, path: Path) -> list:
    if not isinstance(data, dict) or not isinstance(data.get(key), list):
        raise DataError(f"{path} is not a COCO instances file: it has no {key!r} list")
    return data[key]


class CocoSource(ImportSource):
    format = "coco"

    def __init__(
        self,
        source: Path,
        *,
        train: Path | None = None,
        val: Path | None = None,
        images: Path | None = None,
        masks: Path | None = None,
        val_share: float | None = None,
        seed: int = 0,
    ) -> None:
        files = _find_files(source, train, val)
        if val_share is not None and any(split is not None for _, split in files):
            raise DataError("--val-share splits one annotation file; the files given already name train and val")
        self.listing_problems = Tally()
        self.description = " + ".join(str(path) for path, _ in files)
        categories: dict[int, str] | None = None
        kinds: set[bool] = set()
        self._items: list[Item] = []
        for path, split in files:
            data = read_json(path)
            found = self._categories(data, path)
            if categories is not None and found != categories:
                raise DataError(f"{path} has other categories than {files[0][0]}; export both from the same project")
            categories = found
            panoptic = any(
                isinstance(a, dict) and "segments_info" in a for a in _require_list(data, "annotations", path)
            )
            kinds.add(panoptic)
            folder = png_folder(path, masks) if panoptic else None
            self._items += self._list(data, path, split, _image_roots(path, images), folder)
        assert categories is not None
        if len(kinds) > 1:
            raise DataError("the annotation files mix COCO instances and COCO panoptic; import them one at a time")
        self.panoptic = kinds == {True}
        if masks is not None and not self.panoptic:
            raise DataError("--masks applies to COCO panoptic files (their PNG folder); these are instance files")
        # Instances: class 0 is the background no annotation covers. Panoptic: every pixel has a category.
        # A category of instances named "background" (some projects label it) is class 0 itself, not a second one.
        own = [] if self.panoptic else [c for c in sorted(categories) if categories[c].lower() == BACKGROUND]
        listed = [c for c in sorted(categories) if c not in own]
        offset = 0 if self.panoptic else 1
        self.category_index = {**{c: 0 for c in own}, **{c: i + offset for i, c in enumerate(listed)}}
        self.native_names = (*([] if self.panoptic else [BACKGROUND]), *(categories[c] for c in listed))
        used = {c for item in self._items for a in item.payload[4] for c in _categories_of(a)}
        unused = [categories[cid] for cid in sorted(categories) if cid not in used]
        self.remarks = []
        if unused:
            self.remarks.append(
                f"no annotation uses the categories {', '.join(unused[:10])}; they are classes all the same "
                f"(pick the classes with --classes to leave them out)"
            )
        self.val_share, self.seed = 0.2 if val_share is None else val_share, seed

    @staticmethod
    def _categories(data: Any, path: Path) -> dict[int, str]:
        categories: dict[int, str] = {}
        for category in _require_list(data, "categories", path):
            if not isinstance(category, dict) or "id" not in category or "name" not in category:
                raise DataError(f"{path}: a category without an id or a name: {str(category)[:80]}")
            categories[category["id"]] = str(category["name"])
        if not categories:
            raise DataError(f"{path} lists no categories")
        return categories

    def _list(
        self, data: Any, path: Path, split: str | None, roots: tuple[Path, ...], panoptic_pngs: Path | None
    ) -> list[Item]:
        images = _require_list(data, "images", path)
        annotations = _require_list(data, "annotations", path)
        by_image: dict[Any, list[dict]] = {}
        for image in images:
            if not isinstance(image, dict) or "id" not in image or not isinstance(image.get("file_name"), str):
                raise DataError(f"{path}: an image entry without an id or a file_name: {str(image)[:80]}")
            by_image.setdefault(image["id"], [])
        for annotation in annotations:
            if isinstance(annotation, dict) and annotation.get("image_id") in by_image:
                by_image[annotation["image_id"]].append(annotation)
            else:
                image_id = annotation.get("image_id") if isinstance(annotation, dict) else None
                self.listing_problems.add(
                    "orphan annotation", f"{path}: an annotation of image id {image_id!r}, which the file does not list"
                )
        items = []
        for image in images:
            declared = (image.get("width"), image.get("height"))
            size = declared if all(isinstance(v, int) and v > 0 for v in declared) else None
            file_name = image["file_name"].replace("\\", "/")
            payload = (str(path), roots, file_name, size, by_image[image["id"]], panoptic_pngs)
            items.append(Item(safe_id(Path(file_name).stem), split, file_name, payload))
        return items

    def items(self) -> list[Item]:
        items, self._items = self._items, []  # the workers need only the items, not a second copy of the JSON
        return items

    def convert(self, item: Item) -> Converted:
        json_name, roots, file_name, declared, annotations, panoptic_pngs = item.payload
        candidates = [root / file_name for root in roots] + [root / Path(file_name).name for root in roots]
        path = next((p for p in candidates if p.is_file()), None)
        where = f"{file_name} (in {json_name})"
        if path is None:
            looked = ", ".join(str(root) for root in roots[:3])
            raise Skip("missing image", f"{where}: image not found (looked in {looked}); pass --images DIR")
        image = read_image_file(path, where)
        if panoptic_pngs is not None:
            if not annotations:
                raise Skip("missing mask", f"{where}: the panoptic file has no annotation for it")
            return convert_panoptic(image, annotations[0], panoptic_pngs, self.category_index, declared, where)
        stored = declared_frame(declared, image, f"{where}: the JSON says the image")
        width, height = declared or image.size
        label = np.zeros((height, width), np.uint16)
        converted = Converted(image, label)
        for annotation in _drawing_order(annotations):
            self._paint(label, annotation, where, converted)
        converted.label = orient(label, image.orientation) if stored else label
        return converted

    def _paint(self, label: np.ndarray, annotation: dict, where: str, converted: Converted) -> None:
        height, width = label.shape
        ann = f"{where}, annotation {annotation.get('id', '?')}"
        value = self.category_index.get(annotation.get("category_id"))
        if annotation.get("iscrowd"):
            value = NATIVE_IGNORE
            converted.notes.add("crowd", ann)
        elif value is None:
            value = NATIVE_IGNORE
            converted.problems.add(
                "unknown category", f"{ann}: category id {annotation.get('category_id')!r} is not in the categories"
            )
        segmentation = annotation.get("segmentation")
        if isinstance(segmentation, dict):
            try:
                size = [int(v) for v in segmentation["size"]]
                if size != [height, width]:
                    raise DataError(
                        f"{ann}: its RLE mask is {size[1]}×{size[0]} but the image is {width}×{height}; "
                        "the label and the image must be the same size: export them together again"
                    )
                mask = rle_mask(segmentation["counts"], height, width)
            except (KeyError, TypeError, ValueError) as exc:
                converted.problems.add("bad segmentation", f"{ann}: cannot decode its RLE ({exc})")
                return
            label[mask] = value
            return
        polygons = _polygons(segmentation)
        if not polygons:
            box = _box(annotation.get("bbox"))
            if box is None:
                converted.problems.add("bad segmentation", f"{ann}: no segmentation and no box")
                return
            converted.notes.add("box only", ann)
            paint_polygon(label, box, NATIVE_IGNORE)
            return
        for points in polygons:
            if points is None:
                converted.problems.add("degenerate shape", f"{ann}: a polygon with fewer than 3 points")
            elif outside(points, width, height):
                converted.problems.add("outside", f"{ann}: a polygon entirely outside the {width}×{height} image")
            else:
                paint_polygon(label, points, value)


def _categories_of(annotation: dict) -> list[Any]:
    """An annotation's category ids: its own, or a panoptic annotation's segments'."""
    segments = annotation.get("segments_info")
    if isinstance(segments, list):
        return [s.get("category_id") for s in segments if isinstance(s, dict)]
    return [annotation.get("category_id")]


def _numbers(values: Any) -> bool:
    return isinstance(values, list) and all(
        isinstance(v, numbers.Real) and not isinstance(v, bool) and np.isfinite(v) for v in values
    )


def _polygons(segmentation: Any) -> list[np.ndarray | None]:
    """COCO polygons [[x1, y1, x2, y2, …], …] (or one flat list) → N×2 arrays; None for a polygon that has
    fewer than 3 points or coordinates that are not numbers."""
    if not isinstance(segmentation, list) or not segmentation:
        return []
    if _numbers(segmentation):
        segmentation = [segmentation]
    result: list[np.ndarray | None] = []
    for polygon in segmentation:
        ok = _numbers(polygon) and len(polygon) >= 6 and len(polygon) % 2 == 0
        result.append(np.asarray(polygon, np.float64).reshape(-1, 2) if ok else None)
    return result


def _box(bbox: Any) -> np.ndarray | None:
    if not _numbers(bbox) or len(bbox) != 4 or bbox[2] <= 0 or bbox[3] <= 0:
        return None
    x, y, w, h = bbox
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float64)


def _area(annotation: dict) -> float:
    """The annotation's area: COCO's own `area` where it has one, else computed from its shape."""
    area = annotation.get("area")
    if isinstance(area, numbers.Real) and area > 0:
        return float(area)
    segmentation = annotation.get("segmentation")
    if isinstance(segmentation, dict):
        try:
            return float(sum(rle_counts(segmentation["counts"])[1::2]))
        except (KeyError, TypeError, ValueError):
            return 0.0
    return sum(polygon_area(p) for p in _polygons(segmentation) if p is not None)


def _drawing_order(annotations: list[dict]) -> list[dict]:
    """Crowd regions first, then the rest from the largest to the smallest (ties in file order)."""
    crowd = [a for a in annotations if a.get("iscrowd")]
    rest = sorted((a for a in annotations if not a.get("iscrowd")), key=_area, reverse=True)
    return crowd + rest
