"""Hostile-input cases: image files no command can read, and outputs an earlier run left (issue 24, items 1–2).

Every unreadable form goes through each command that refuses it: `edgeseg explain IMAGE`, export's --calib
(read before anything is exported) and `edgeseg data check`; and `edgeseg explain` into a --out that already
holds the files it would write. The images are made here with OpenCV (binary `files`). `edgeseg run` skips an
unreadable image and exits 0 (unreadable files are counted, never fatal), so it has no case here:
tests/runtime/test_images.py::test_run_skips_and_names_every_unreadable_form covers it.
"""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np

_GRAY = np.random.default_rng(24).random((24, 32))


def _encoded(suffix: str, array: np.ndarray) -> bytes:
    ok, data = cv2.imencode(suffix, array)
    assert ok, suffix
    return data.tobytes()


def _header_only_png(width: int, height: int) -> bytes:
    """A PNG whose header claims width × height pixels: what a decompression bomb starts with."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


_JPEG = _encoded(".jpg", (_GRAY * 255).astype(np.uint8))
_PNG = _encoded(".png", (_GRAY * 255).astype(np.uint8))
# name → (file content, the reason every command gives for it)
UNREADABLE: dict[str, tuple[bytes, str]] = {
    "float32.tif": (_encoded(".tif", _GRAY.astype(np.float32)), "its samples are 32-bit floating point"),
    "signed16.tif": (_encoded(".tif", (_GRAY * 1000).astype(np.int16)), "its samples are signed 16-bit integers"),
    "cut.jpg": (_JPEG[: len(_JPEG) // 2], "it is truncated (no JPEG end marker); copy it again"),
    "cut.png": (_PNG[: len(_PNG) // 2], "it is corrupt, or not an image; replace it with a readable copy"),
    "empty.png": (b"", "the file is empty (0 bytes); copy it again"),
    "text.jpg": (b"a text file named .jpg\n", "it is corrupt, or not an image"),
    "huge.png": (_header_only_png(50000, 50000), "it has more pixels than OpenCV decodes (2^30); scale it down"),
}
_LABEL = _encoded(".png", np.zeros((24, 32), np.uint8))


def _dataset_with(name: str, content: bytes) -> dict[str, object]:
    stem = name.rsplit(".", 1)[0]
    return {
        f"d/JPEGImages/{name}": content,
        f"d/SegmentationClass/{stem}.png": _LABEL,
        "d/ImageSets/Segmentation/train.txt": f"{stem}\n",
        "d/ImageSets/Segmentation/val.txt": f"{stem}\n",
        "d/classes.txt": "background\nthing\n",
    }


CASES: list[dict] = []
for _name, (_content, _reason) in UNREADABLE.items():
    _tag = _name.replace(".", "-")
    CASES += [
        {"name": f"image-explain-{_tag}",
         "args": ["explain", "{ckpt}", f"{{tmp}}/images/{_name}", "--class", "background", "--out", "{tmp}/out"],
         "files": {f"images/{_name}": _content}, "expect": f"cannot read image {{tmp}}/images/{_name}: {_reason}"},
        {"name": f"image-export-calib-{_tag}",
         "args": ["export", "{onnx}", "--int8", "--calib", "{tmp}/calib", "--no-engine", "--out", "{tmp}/out"],
         "files": {f"calib/{_name}": _content},
         "expect": f"cannot read image {{tmp}}/calib/{_name}: {_reason}"},
        {"name": f"image-data-check-{_tag}", "args": ["data", "check", "{tmp}/d"],
         "files": _dataset_with(_name, _content),
         "expect": f"cannot read image {{tmp}}/d/JPEGImages/{_name}: {_reason}"},
    ]  # fmt: skip
CASES += [
    {"name": "image-explain-folder-of-every-unreadable-form",
     "args": ["explain", "{ckpt}", "{tmp}/images", "--class", "background", "--out", "{tmp}/out"],
     "files": {f"images/{name}": content for name, (content, _) in UNREADABLE.items()},
     "expect": f"could be read; skipped {len(UNREADABLE)} unreadable file(s)"},
    {"name": "image-export-calib-one-bad-among-good",
     "args": ["export", "{onnx}", "--int8", "--calib", "{tmp}/calib", "--no-engine", "--out", "{tmp}/out"],
     "files": {"calib/a.png": _PNG, "calib/b.jpg": _JPEG, "calib/c.jpg": UNREADABLE["cut.jpg"][0]},
     "expect": "c.jpg: it is truncated (no JPEG end marker); copy it again or remove it from --calib"},
    # Names: an earlier run's outputs are a user's files; photo.bmp and photo.tif are two pictures, two names.
    {"name": "image-explain-outputs-of-an-earlier-run",
     "args": ["explain", "{ckpt}", "{tmp}/images", "--class", "background", "--out", "{tmp}/out"],
     "files": {"images/photo.bmp": _encoded(".bmp", (_GRAY * 255).astype(np.uint8)),
               "images/photo.tif": _encoded(".tif", (_GRAY * 255).astype(np.uint8)),
               "out/photo.tif_background_gradcam.npy": "an earlier run's CAM\n"},
     "expect": "already holds photo.tif_background_gradcam.npy from an earlier run; pass --force"},
]  # fmt: skip
