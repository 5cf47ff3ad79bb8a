"""File kinds by suffix, one list each for every command: the images and videos edgeseg reads, and the videos
it writes."""

from __future__ import annotations

from pathlib import Path

from edgeseg.errors import EdgesegError

# Read with OpenCV (imread; a dataset's JPEGImages too).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
# Read through OpenCV's FFmpeg backend.
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".ts")
# Written: suffix → FourCC. pip's OpenCV has no VP8/VP9 or GIF encoder: .webm and .gif are refused, not
# quietly written as something else.
WRITABLE_FOURCC = {".mp4": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}
WRITABLE_SUFFIXES = tuple(WRITABLE_FOURCC)


def images_in(folder: Path) -> list[Path]:
    """The images of a folder (by suffix, not recursing), sorted by name."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def check_writable_video(path: Path, option: str) -> str:
    """The FourCC to write `path` with, or an error naming the suffixes edgeseg can write."""
    suffix = path.suffix.lower()
    if suffix not in WRITABLE_FOURCC:
        raise EdgesegError(
            f"{option} {path.name}: edgeseg cannot write {suffix or 'a video without a suffix'}; "
            f"name the video {', '.join(WRITABLE_SUFFIXES)}"
            + (", or pass a name without a suffix for a folder of overlays and masks" if option == "--save" else "")
        )
    return WRITABLE_FOURCC[suffix]


def partial_path(path: Path) -> Path:
    """Where a video is written until it is finalized: hidden, beside it, with its suffix (the container)."""
    return path.with_name(f".{path.stem}.partial{path.suffix}")
