"""Palette PNGs (VOC's label format) with zlib alone: OpenCV cannot write them, and a Jetson need not
have Pillow."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from edgeseg.atomic import atomic_path


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_palette_png(path: str | Path, indices: np.ndarray, palette: np.ndarray, durable: bool = True) -> None:
    """Write an H×W uint8 index map with an N×3 RGB palette (N ≤ 256) as an 8-bit palette PNG.

    Atomically; durable=False for a mask per frame (edgeseg.atomic says why)."""
    if indices.ndim != 2 or indices.dtype != np.uint8:
        raise ValueError(f"palette PNGs hold H×W uint8 indices, got {indices.dtype} {indices.shape}")
    height, width = indices.shape
    header = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)  # 8-bit, colour type 3 = palette
    rows = np.concatenate([np.zeros((height, 1), np.uint8), indices], axis=1)  # filter byte 0 per row
    full = np.zeros((256, 3), np.uint8)
    full[: len(palette)] = palette[:256]
    data = (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"PLTE", full.tobytes())
        + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 6))
        + _chunk(b"IEND", b"")
    )
    with atomic_path(path, durable) as tmp:
        tmp.write_bytes(data)
