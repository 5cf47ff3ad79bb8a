"""File kinds by suffix, one list each for every command: the images and videos edgeseg reads, and the videos
it writes; and the one rule that names what a command writes per input (docs/architecture.md, "Output names")."""

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


def output_base(name: str) -> str:
    """What an output is named after: the input's whole file name, suffix included, without its folders.

    photo.bmp and photo.tif are different pictures, so their outputs are photo.bmp.jpg and photo.tif.jpg, never
    one photo.jpg for both; a stream's frames are named by their number (000042). Folders are left out, so a
    name can never point outside the output folder.
    """
    return Path(name).name or "frame"


class UniqueNames:
    """Hands out one output base name per input, never the same one twice in a run.

    A writer asks `claim(input_name)` once per input and names every file of that input after the answer:
    `edgeseg run --save DIR` writes DIR/<base>.jpg and DIR/masks/<base>.png, `edgeseg explain` writes
    <base>_<class>_<method>.png and .npy. The first claim of a name gets `output_base(name)`; a later input
    with the same base (a/x.jpg and b/x.jpg from a list, or the same file twice) gets a counter, x.jpg~2, x.jpg~3,
    in the order claimed, so the same inputs in the same order get the same names every run. Names are compared
    case-insensitively, as macOS and Windows file systems compare them. Memory: one short string per claim.
    """

    def __init__(self) -> None:
        self._taken: set[str] = set()
        self._next: dict[str, int] = {}  # base (case-folded) → the counter to try next

    def claim(self, name: str) -> str:
        """The base name for the input `name`: its `output_base`, or that with the next free ~N."""
        base = output_base(name)
        key = base.casefold()
        candidate = base
        if key in self._taken:
            counter = self._next.get(key, 2)
            while f"{key}~{counter}" in self._taken:
                counter += 1
            self._next[key] = counter + 1
            candidate = f"{base}~{counter}"
        self._taken.add(candidate.casefold())
        return candidate
