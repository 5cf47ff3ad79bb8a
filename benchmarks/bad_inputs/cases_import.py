"""Hostile inputs for `edgeseg data import`: malformed annotation files, shapes that cannot be drawn, unknown
category ids, missing images, duplicate names, label maps that miss the mask colours, and output folders that
must not be written. Problems an import can count and go on from are errors here through --strict; the tests in
tests/data/test_import_*.py show them counted without it.

Placeholders as in sweep.py; {data} is the sweep's synthetic VOC dataset (12 images, classes background, circle,
rectangle), whose JPEGs and palette PNGs the sources below point at by absolute path.
"""

from __future__ import annotations

import json
from typing import Any

VOC = "{data}/VOCdevkit/VOC2012"
IMAGES = f"{VOC}/JPEGImages"
MASKS = f"{VOC}/SegmentationClass"
CASES: list[dict[str, Any]] = []


def _add(name: str, args: list[str], expect: str, files: dict[str, str] | None = None) -> None:
    CASES.append({"name": f"import/{name}", "args": ["data", "import", *args], "expect": expect, "files": files or {}})


def _coco(annotations: list[dict], images: list[dict] | None = None) -> str:
    """A COCO file over the sweep dataset's first two images (sizes left out: taken from the images)."""
    images = images or [{"id": 1, "file_name": "synth_00000.jpg"}, {"id": 2, "file_name": "synth_00001.jpg"}]
    anns = [{"id": n + 1, "image_id": 1, "category_id": 1, "iscrowd": 0, **a} for n, a in enumerate(annotations)]
    categories = [{"id": 1, "name": "circle"}, {"id": 2, "name": "rectangle"}]
    return json.dumps({"images": images, "annotations": anns, "categories": categories})


def _labelme(shapes: list[dict], image: str = f"{IMAGES}/synth_00000.jpg") -> str:
    return json.dumps({"shapes": shapes, "imagePath": image, "imageData": None})


# fmt: off
SQUARE = [[2, 2, 20, 2, 20, 20, 2, 20]]
COCO = ["{tmp}/src/a.json", "--format", "coco", "--images", IMAGES, "--out", "{tmp}/o"]
STRICT = [*COCO, "--strict"]

# COCO
_add("coco-malformed-json", COCO, "a.json is not valid JSON (line 1, column", {"src/a.json": '{"images": ['})
_add("coco-not-an-instances-file", COCO, "is not a COCO instances file", {"src/a.json": "[1, 2]"})
_add("coco-polygon-of-two-points", STRICT, "annotation 1: a polygon with fewer than 3 points",
     {"src/a.json": _coco([{"segmentation": [[1, 1, 5, 5]]}])})
_add("coco-polygon-outside-the-image", STRICT, "annotation 1: a polygon entirely outside",
     {"src/a.json": _coco([{"segmentation": [[500, 500, 600, 500, 600, 600]]}])})
_add("coco-unknown-category", STRICT, "category id 7 is not in the categories",
     {"src/a.json": _coco([{"segmentation": SQUARE, "category_id": 7}])})
_add("coco-bad-rle", STRICT, "cannot decode its RLE",
     {"src/a.json": _coco([{"segmentation": {"size": "hw", "counts": "!!"}}])})
_add("coco-missing-image", STRICT, "gone.jpg (in {tmp}/src/a.json): image not found",
     {"src/a.json": _coco([], [{"id": 1, "file_name": "synth_00000.jpg"}, {"id": 2, "file_name": "gone.jpg"}])})
_add("coco-duplicate-file-name", STRICT, "as synth_00000.jpg does; the first is kept",
     {"src/a.json": _coco([], [{"id": n, "file_name": f"synth_0000{n // 2}.jpg"} for n in range(4)])})
_add("coco-every-image-missing", COCO, "no image could be imported",
     {"src/a.json": _coco([], [{"id": n, "file_name": f"gone{n}.jpg"} for n in range(3)])})
_add("coco-size-in-json-wrong", COCO, "the JSON says the image is 999×10 but its image is",
     {"src/a.json": _coco([], [{"id": 1, "file_name": "synth_00000.jpg", "width": 999, "height": 10},
                               {"id": 2, "file_name": "synth_00001.jpg"}])})
_add("coco-unknown-class-chosen", [*COCO, "--classes", "circle,dog"], "--classes names 'dog'",
     {"src/a.json": _coco([])})
_add("coco-val-without-train", [*COCO, "--val", "{tmp}/src/a.json"], "--val needs --train",
     {"src/a.json": _coco([])})
_add("coco-two-files-no-split", ["{tmp}/src", "--format", "coco", "--out", "{tmp}/o"], "holds 2 COCO JSON files",
     {"src/a.json": _coco([]), "src/b.json": _coco([])})

# LabelMe
LABELME = ["{tmp}/src", "--format", "labelme", "--out", "{tmp}/o", "--strict"]
GOOD = {"src/b.json": _labelme([]), "src/c.json": _labelme([], f"{IMAGES}/synth_00001.jpg")}
_add("labelme-malformed-json", LABELME, "a.json is not valid JSON", {**GOOD, "src/a.json": '{"shapes": [}'})
_add("labelme-no-shapes-list", LABELME, "is not a LabelMe file: it has no 'shapes' list",
     {**GOOD, "src/a.json": '{"imagePath": "x.jpg"}'})
_add("labelme-polygon-of-two-points", LABELME, "a.json, shape 1: a polygon with 2 point(s)",
     {**GOOD, "src/a.json": _labelme([{"label": "x", "shape_type": "polygon", "points": [[1, 1], [5, 5]]}])})
_add("labelme-shape-outside-the-image", LABELME, "a rectangle entirely outside",
     {**GOOD, "src/a.json": _labelme([{"label": "x", "shape_type": "rectangle", "points": [[-50, -50], [-10, -9]]}])})
_add("labelme-points-not-numbers", LABELME, "its points are not a list of (x, y) numbers",
     {**GOOD, "src/a.json": _labelme([{"label": "x", "shape_type": "polygon", "points": [[1, "a"], [2, 2], [3]]}])})
_add("labelme-missing-image", LABELME, "no imageData, and its image",
     {**GOOD, "src/a.json": _labelme([], "{tmp}/src/gone.jpg")})
_add("labelme-bad-image-data", LABELME, "cannot read it as an image",
     {**GOOD, "src/a.json": json.dumps({"shapes": [], "imageData": "bm90IGFuIGltYWdl"})})
_add("labelme-no-json", ["{tmp}/src", "--format", "labelme", "--out", "{tmp}/o"], "holds no LabelMe .json files",
     {"src/notes.txt": "no labels here\n"})

# Masks and label maps
MASK_ARGS = ["{tmp}/src", "--format", "masks", "--images", IMAGES, "--masks", MASKS, "--out", "{tmp}/o"]
_add("masks-label-map-misses-values", [*MASK_ARGS, "--label-map", "{tmp}/src/classes.txt", "--strict"],
     "in no label map", {"src/classes.txt": "background\ncircle\n"})
_add("masks-no-label-map", MASK_ARGS, "no label map in {tmp}/src", {"src/notes.txt": "x\n"})
_add("masks-cvat-map-bad-line", [*MASK_ARGS, "--label-map", "{tmp}/src/labelmap.txt"], "is not `name:r,g,b",
     {"src/labelmap.txt": "background:0,0::\ncircle:1,2,3::\n"})
_add("masks-csv-map-bad-header", [*MASK_ARGS, "--label-map", "{tmp}/src/_classes.csv"],
     "a CSV label map needs a header", {"src/_classes.csv": "a,b\n0,background\n"})
_add("masks-map-colour-twice", [*MASK_ARGS, "--label-map", "{tmp}/src/labelmap.txt"], "gives #000000 to two classes",
     {"src/labelmap.txt": "background:0,0,0::\ncircle:0,0,0::\n"})
_add("masks-colour-map-on-index-masks", [*MASK_ARGS, "--label-map", "{tmp}/src/labelmap.txt", "--strict"],
     "in no label map", {"src/labelmap.txt": "background:0,0,0::\ncircle:200,0,0::\n"})

# Cityscapes, ADE20K
_add("cityscapes-not-a-tree", ["{tmp}/src", "--format", "cityscapes", "--out", "{tmp}/o"], "has no leftImg8bit/",
     {"src/readme.txt": "x\n"})
_add("ade20k-not-a-tree", ["{tmp}/src", "--format", "ade20k", "--out", "{tmp}/o"],
     "is not ADEChallengeData2016", {"src/readme.txt": "x\n"})
_add("cityscapes-val-share", ["{tmp}/src", "--format", "cityscapes", "--out", "{tmp}/o", "--val-share", "0.3"],
     "--val-share does not apply", {"src/leftImg8bit/x.txt": "", "src/gtFine/x.txt": ""})

# Options and output folders
_add("unknown-format", ["{tmp}/src", "--format", "yolo", "--out", "{tmp}/o"], "--format must be one of",
     {"src/x.txt": ""})
_add("val-share-out-of-range", [*COCO, "--val-share", "1.5"], "--val-share must be a number > 0 and ≤ 1",
     {"src/a.json": _coco([])})
_add("workers-zero", [*COCO, "--workers", "0"], "--workers must be a whole number ≥ 1", {"src/a.json": _coco([])})
_add("option-of-another-format", [*COCO, "--label-map", "x.txt"], "--label-map applies to --format masks",
     {"src/a.json": _coco([])})
_add("source-missing", ["{tmp}/nothing", "--format", "labelme", "--out", "{tmp}/o"], "SOURCE not found")
_add("out-not-empty", COCO, "is not empty", {"src/a.json": _coco([]), "o/mine.txt": "mine\n"})
_add("out-inside-source", ["{tmp}/src", "--format", "labelme", "--out", "{tmp}/src/voc"], "is inside SOURCE",
     {"src/b.json": _labelme([])})
_add("out-read-only", [*COCO[:-2], "--out", "{ro}/o"], "cannot write --out", {"src/a.json": _coco([])})
_add("out-under-a-file", [*COCO[:-2], "--out", "{file}/o"], "is a regular file", {"src/a.json": _coco([])})
# fmt: on
