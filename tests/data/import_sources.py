"""Sources for the importers' tests, made here with known content: COCO JSON, LabelMe files, CVAT and Roboflow
mask exports, and Cityscapes and ADE20K trees. Most are made from the synthetic dataset, whose labels are the
answer a round trip must give back."""

from __future__ import annotations

import base64
import io
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

PALETTE = {0: (0, 0, 0), 1: (250, 50, 50), 2: (50, 250, 50), 3: (50, 50, 250)}  # CVAT colours of the 4 classes


def voc(tiny_dataset: Path) -> Path:
    return tiny_dataset / "VOCdevkit" / "VOC2012"


def label_of(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img)


def imported(out: Path) -> dict[str, np.ndarray]:
    """Every label an import wrote, by id."""
    return {p.stem: label_of(p) for p in sorted((out / "SegmentationClass").glob("*.png"))}


def split_ids(out: Path, split: str) -> list[str]:
    return (out / "ImageSets" / "Segmentation" / f"{split}.txt").read_text().split()


def coco_rle_from_voc(root: Path, json_path: Path, ids: list[str] | None = None) -> dict:
    """The synthetic labels as COCO: one RLE annotation per class per image (pycocotools encodes it), the 255
    band as a crowd region. Importing it must give back the very same labels."""
    from pycocotools import mask as coco_mask

    names = (root / "classes.txt").read_text().split()
    ids = ids or sorted(p.stem for p in (root / "JPEGImages").glob("*.jpg"))
    images, annotations = [], []
    for number, image_id in enumerate(ids):
        label = label_of(root / "SegmentationClass" / f"{image_id}.png")
        images.append({"id": number, "file_name": f"{image_id}.jpg", "width": label.shape[1], "height": label.shape[0]})
        for value in np.unique(label).tolist():
            if value == 0:
                continue
            rle = coco_mask.encode(np.asfortranarray((label == value).astype(np.uint8)))
            rle["counts"] = rle["counts"].decode()
            crowd = value == 255
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": number,
                    "category_id": 1 if crowd else value,
                    "iscrowd": int(crowd),
                    "segmentation": rle,
                    "area": float(coco_mask.area(rle)),
                    "bbox": [float(v) for v in coco_mask.toBbox(rle)],
                }
            )
    data = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": k, "name": n, "supercategory": "shape"} for k, n in enumerate(names) if k],
    }
    json_path.write_text(json.dumps(data))
    return data


def jpeg(path: Path, image: np.ndarray, orientation: int = 1) -> Path:
    """An RGB array as a JPEG, with an EXIF orientation tag when orientation ≠ 1 (as a phone writes it)."""
    img = Image.fromarray(image)
    exif = img.getexif()
    if orientation != 1:
        exif[0x0112] = orientation
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, quality=95, exif=exif.tobytes())
    return path


def labelme_json(
    path: Path, shapes: list[dict], *, image: Path | None = None, embed: bytes | None = None, size=None
) -> Path:
    """A LabelMe file: the image named by imagePath (relative to the JSON) or embedded as imageData."""
    data = {
        "version": "5.4.1",
        "flags": {},
        "shapes": [{"group_id": None, "flags": {}, "description": "", **s} for s in shapes],
        "imagePath": str(image.relative_to(path.parent)) if image else "gone.jpg",
        "imageData": base64.b64encode(embed).decode() if embed else None,
    }
    if size:
        data["imageWidth"], data["imageHeight"] = size
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def shape(label: str, shape_type: str, points) -> dict:
    return {"label": label, "shape_type": shape_type, "points": [list(map(float, p)) for p in points]}


def cvat_from_voc(root: Path, out: Path, *, ignore_line: bool = True) -> Path:
    """CVAT's "Segmentation mask 1.1" export of the synthetic set: colour masks and labelmap.txt (white = the
    255 band, named __ignore__ when `ignore_line`), splits in ImageSets/Segmentation/default.txt."""
    names = (root / "classes.txt").read_text().split()
    shutil.copytree(root / "JPEGImages", out / "JPEGImages")
    (out / "SegmentationClass").mkdir(parents=True)
    colours = {**PALETTE, 255: (255, 255, 255)}
    for path in sorted((root / "SegmentationClass").glob("*.png")):
        label = label_of(path)
        rgb = np.zeros((*label.shape, 3), np.uint8)
        for value, colour in colours.items():
            rgb[label == value] = colour
        Image.fromarray(rgb).save(out / "SegmentationClass" / path.name)
    lines = ["# label:color_rgb:parts:actions"]
    lines += [f"{name}:{','.join(map(str, PALETTE[k]))}::" for k, name in enumerate(names)]
    if ignore_line:
        lines.append("__ignore__:255,255,255::")
    (out / "labelmap.txt").write_text("\n".join(lines) + "\n")
    (out / "ImageSets" / "Segmentation").mkdir(parents=True)
    ids = sorted(p.stem for p in (root / "JPEGImages").glob("*.jpg"))
    (out / "ImageSets" / "Segmentation" / "default.txt").write_text("\n".join(ids) + "\n")
    return out


def roboflow_from_voc(root: Path, out: Path) -> Path:
    """Roboflow's "Semantic Segmentation Masks" export: train/ and valid/ with <name>.jpg, <name>_mask.png (pixel
    value = class) and _classes.csv. The 255 band stays 255, a value the CSV does not name."""
    names = (root / "classes.txt").read_text().split()
    for split, folder in (("train", "train"), ("val", "valid")):
        (out / folder).mkdir(parents=True)
        ids = (root / "ImageSets" / "Segmentation" / f"{split}.txt").read_text().split()
        for image_id in ids:
            shutil.copy(root / "JPEGImages" / f"{image_id}.jpg", out / folder / f"{image_id}.jpg")
            label = label_of(root / "SegmentationClass" / f"{image_id}.png")
            Image.fromarray(label, mode="L").save(out / folder / f"{image_id}_mask.png")
        csv = "Pixel Value, Class\n" + "".join(f"{k}, {n}\n" for k, n in enumerate(names))
        (out / folder / "_classes.csv").write_text(csv)
    return out


def cityscapes_tree(out: Path, rng: np.random.Generator, per_split: int = 4) -> dict[str, np.ndarray]:
    """leftImg8bit and gtFine for two cities: random colour images, labelIds of every id 0–33 in blocks."""
    label_ids = {}
    for offset, split in enumerate(("train", "val")):
        for number in range(offset * per_split, (offset + 1) * per_split):
            city = ("aachen", "bremen")[number % 2]
            stem = f"{city}_{number:06d}_000019"
            image = rng.integers(0, 256, (32, 64, 3), dtype=np.uint8)
            blocks = rng.integers(0, 34, (4, 8)).astype(np.uint8)
            ids = np.kron(blocks, np.ones((8, 8), np.uint8))
            (out / "leftImg8bit" / split / city).mkdir(parents=True, exist_ok=True)
            (out / "gtFine" / split / city).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(out / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png"), image)
            Image.fromarray(ids, mode="L").save(out / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png")
            label_ids[stem] = ids
    return label_ids


def ade20k_tree(out: Path, rng: np.random.Generator, per_split: int = 4) -> dict[str, np.ndarray]:
    """ADEChallengeData2016 with random images and annotation values 0–150 (0 = unlabelled)."""
    values = {}
    root = out / "ADEChallengeData2016"
    for folder, prefix in (("training", "train"), ("validation", "val")):
        (root / "images" / folder).mkdir(parents=True)
        (root / "annotations" / folder).mkdir(parents=True)
        for number in range(per_split):
            stem = f"ADE_{prefix}_{number + 1:08d}"
            cv2.imwrite(str(root / "images" / folder / f"{stem}.jpg"), rng.integers(0, 256, (40, 48, 3), np.uint8))
            label = np.kron(rng.integers(0, 151, (5, 6)), np.ones((8, 8), np.int64)).astype(np.uint8)
            Image.fromarray(label, mode="L").save(root / "annotations" / folder / f"{stem}.png")
            values[stem] = label
    return values


def png_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()
