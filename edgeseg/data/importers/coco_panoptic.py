"""COCO panoptic: a JSON whose annotations list `segments_info` per image, and a PNG per image whose colour is
the segment id (id = R + 256·G + 256²·B). The classes are the categories in the order of their ids (stuff such as
sky is a category too, so there is no separate background); void (id 0) and crowd segments are 255, ignored.
The PNGs are looked for in the folder named after the JSON, beside it (annotations/panoptic_val2017.json →
annotations/panoptic_val2017/), as COCO ships them, or in --masks."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from edgeseg.data.importers.common import NATIVE_IGNORE, Converted, Skip
from edgeseg.data.importers.images import SourceImage, declared_frame, orient
from edgeseg.errors import describe, require


def png_folder(json_path: Path, masks: Path | None) -> Path:
    return masks if masks is not None else json_path.parent / json_path.stem


def convert_panoptic(
    image: SourceImage,
    annotation: dict,
    folder: Path,
    category_index: dict,
    declared: tuple[int, int] | None,
    where: str,
) -> Converted:
    """The image's label from its panoptic PNG and segments_info."""
    name = annotation.get("file_name")
    png = folder / name if isinstance(name, str) else None
    if png is None or not png.is_file():
        raise Skip("missing mask", f"{where}: its panoptic PNG {png or '(no file_name)'} is not there")
    pil_image = require("PIL.Image", extra="train")
    try:
        with pil_image.open(png) as img:
            rgb = np.asarray(img.convert("RGB")).astype(np.int64)
    except Exception as exc:
        raise Skip("malformed file", f"cannot read panoptic PNG {png} ({describe(exc)})") from None
    segment_ids = rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]
    stored = declared_frame((segment_ids.shape[1], segment_ids.shape[0]), image, f"panoptic PNG {png}")
    if declared is not None and declared not in (image.size, image.stored_size):
        declared_frame(declared, image, f"{where}: the JSON says the image")
    converted = Converted(image, np.empty(0, np.uint16))
    value_of = {0: NATIVE_IGNORE}  # void
    for segment in annotation.get("segments_info") or []:
        if not isinstance(segment, dict) or "id" not in segment:
            converted.problems.add("bad segmentation", f"{where}: a segment without an id")
            continue
        value = category_index.get(segment.get("category_id"))
        if segment.get("iscrowd"):
            converted.notes.add("crowd", f"{where}, segment {segment['id']}")
            value = NATIVE_IGNORE
        elif value is None:
            converted.problems.add(
                "unknown category", f"{where}, segment {segment['id']}: category id {segment.get('category_id')!r}"
            )
            value = NATIVE_IGNORE
        value_of[int(segment["id"])] = value
    found, inverse = np.unique(segment_ids, return_inverse=True)
    unknown = Counter()
    counts = np.bincount(inverse.ravel(), minlength=found.size)
    for segment_id, count in zip(found.tolist(), counts.tolist()):
        if segment_id not in value_of:
            unknown[f"segment id {segment_id}"] += count
    if unknown:
        converted.unknown_colours = unknown
        converted.problems.add("unknown colour", f"panoptic PNG {png} has segment ids segments_info does not list")
    label = np.array([value_of.get(i, NATIVE_IGNORE) for i in found.tolist()], np.uint16)[inverse]
    label = label.reshape(segment_ids.shape)
    converted.label = orient(label, image.orientation) if stored else label
    return converted
