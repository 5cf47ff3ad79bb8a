"""The one image reader: every command turns an image file into pixels here, by one rule.

`edgeseg run` (folders and single images), `edgeseg explain`, export's --calib and --verify, `edgeseg data
check`, training and the Python API (`seg("photo.png")`) all call `read_image`, so a file that one of them
reads, every one of them reads, to the same pixels. The rule (docs/architecture.md, "Reading images"):

- 8-bit images are taken as stored; 16-bit ones (gray or colour, PNG or TIFF: depth, medical and industrial
  cameras) are scaled to 8 bits over the full range, value / 257 rounded to the nearest level, so 65535 is
  255 and an 8-bit image widened to 16 bits the usual way (v·257) reads back exactly. No per-image
  stretching: a depth map in millimetres is dark, as its values are; scale it yourself if you want contrast.
- Alpha is dropped, not composited: the colour stored under a transparent pixel is what the network sees
  (what PIL's convert("RGB") and training on such images give, and a camera never writes alpha).
- Palette images are expanded to their colours; gray is replicated to three channels; CMYK JPEGs are
  converted to RGB by libjpeg (through OpenCV).
- EXIF orientation is applied, as a photo viewer shows the picture: a phone held upright stores landscape
  pixels and a tag saying to turn them.
- Refused, with `UnreadableImage` saying why and what to do: a missing, empty or unreadable file, a folder, a
  truncated JPEG (OpenCV would fill the missing part with gray and say nothing), a file no decoder accepts,
  more pixels than OpenCV decodes, and floating-point or 32-bit samples (no agreed range: 0–1, 0–255 or HDR;
  guessing would hand the network a wrong picture without a word).
- A multi-page TIFF or an animated PNG reads as its first frame; an animated WebP too from OpenCV 4.11 on
  (older OpenCV, as JetPack's, refuses it, and the reason says so).

Lean (docs/architecture.md, rule 1): numpy and OpenCV only, no PIL, Python 3.8.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from edgeseg.errors import EdgesegError, require

cv2 = require("cv2", extra="cv")

# value / 257, rounded to the nearest level, for every 16-bit value: (v + 128) // 257 equals round(v / 257)
# for integers (v / 257 is never exactly halfway, 257 being odd). One lookup, no wide temporary array.
_SIXTEEN_TO_EIGHT = ((np.arange(1 << 16, dtype=np.uint32) + 128) // 257).astype(np.uint8)
# Colour (alpha dropped, gray replicated, palette expanded), native depth, EXIF orientation applied: OpenCV
# turns a picture by its EXIF tag for every flag but IMREAD_UNCHANGED, which also keeps alpha and gray as they are.
_FLAGS = cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH
# In a JPEG's entropy-coded data a 0xFF byte is followed by 0x00 (stuffing) or a restart marker (D0–D7);
# a 0xFF followed by anything else but another 0xFF (fill) is the next marker. (A pattern without repetition
# or look-ahead: one that had them took 15 times as long, most of a decode.)
_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


class UnreadableImage(EdgesegError):
    """An image file edgeseg cannot read: `reason` says why, `fix` what to do."""

    def __init__(self, path: str | Path, reason: str, fix: str) -> None:
        self.path, self.reason, self.fix = Path(path), reason, fix
        super().__init__(f"cannot read image {path}: {reason}; {fix}")

    def __reduce__(self) -> tuple:  # pickles (DataLoader workers, multiprocessing) with its three parts
        return type(self), (self.path, self.reason, self.fix)

    def or_else(self, alternative: str) -> str:
        """The message with a second remedy where the caller has one: "…; copy it again or remove it from the list"."""
        return f"cannot read image {self.path}: {self.reason}; {self.fix} or {alternative}"


def read_image(path: str | Path) -> np.ndarray:
    """The image at `path` as BGR uint8 H×W×3 (OpenCV's order), by the rule in this module's docstring.

    Raises UnreadableImage (an EdgesegError) with a one-line reason for anything it cannot read.
    """
    path = Path(path)
    data = _read_bytes(path)
    if data.startswith(b"\xff\xd8\xff") and not jpeg_complete(data):
        raise UnreadableImage(path, "it is truncated (no JPEG end marker)", "copy it again")
    image = _decode(data, _FLAGS, path)
    if image is None:
        # OpenCV cannot turn a gray image of another depth (a 32-bit float TIFF) into colour: name its depth then.
        stored = _decode(data, cv2.IMREAD_UNCHANGED, path)
        if stored is not None:
            _eight_bits(stored, path)
        if _animated_webp(data):  # OpenCV before 4.11 refuses these outright
            raise UnreadableImage(
                path, f"it is an animated WebP, which OpenCV {cv2.__version__} cannot decode", "save a frame of it"
            )
        raise UnreadableImage(path, "it is corrupt, or not an image", "replace it with a readable copy")
    return _eight_bits(image, path)


def read_rgb(path: str | Path) -> np.ndarray:
    """`read_image` in RGB order (what training, export's verification and Grad-CAM pre-process)."""
    return cv2.cvtColor(read_image(path), cv2.COLOR_BGR2RGB)


def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UnreadableImage(path, "there is no such file", "check the path") from None
    except IsADirectoryError:
        raise UnreadableImage(path, "it is a folder", "pass an image file") from None
    except OSError as exc:
        reason = (exc.strerror or type(exc).__name__).lower()
        raise UnreadableImage(path, reason, "check that it can be read") from None
    if not data:
        raise UnreadableImage(path, "the file is empty (0 bytes)", "copy it again")
    return data


def _decode(data: bytes, flags: int, path: Path) -> np.ndarray | None:
    try:
        return cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error as exc:  # OpenCV asserts rather than returns None for an image over its pixel limit
        if "CV_IO_MAX_IMAGE_PIXELS" in str(exc):
            raise UnreadableImage(path, "it has more pixels than OpenCV decodes (2^30)", "scale it down") from None
        detail = str(exc).strip().splitlines()[-1]
        raise UnreadableImage(path, f"OpenCV cannot decode it ({detail})", "copy it again") from None


def _eight_bits(image: np.ndarray, path: Path) -> np.ndarray:
    """8-bit samples as they are, 16-bit ones scaled by the rule; any other depth refused."""
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return np.take(_SIXTEEN_TO_EIGHT, image)
    bits = image.dtype.itemsize * 8
    kind = {"f": f"{bits}-bit floating point", "i": f"signed {bits}-bit integers"}.get(image.dtype.kind, f"{bits}-bit")
    raise UnreadableImage(
        path,
        f"its samples are {kind}, which have no agreed range of values (edgeseg reads 8- and 16-bit images)",
        "convert it to 8 or 16 bits per channel",
    )


def _animated_webp(data: bytes) -> bool:
    """RIFF/WEBP with an extended header (VP8X) whose flags say animation."""
    return data[:4] == b"RIFF" and data[8:16] == b"WEBPVP8X" and len(data) > 20 and bool(data[20] & 0x02)


def jpeg_complete(data: bytes) -> bool:
    """Whether the JPEG in `data` runs to its end-of-image marker (FF D9), walking its segments.

    A walk rather than a look at the last bytes: phones append data after the marker (Samsung's trailer, the
    video of a Motion Photo), and an EXIF thumbnail holds an end marker of its own before the picture starts.
    """
    position, size = 2, len(data)
    while position + 1 < size:
        if data[position] != 0xFF:
            return False  # not at a marker: the data is damaged (the decoder would then say so)
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte before a marker
            position += 1
            continue
        if marker == 0xD9:
            return True
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            position += 2
            continue
        if position + 4 > size:
            return False
        position += 2 + int.from_bytes(data[position + 2 : position + 4], "big")
        if marker == 0xDA:  # start of scan: entropy-coded data runs to the next real marker
            found = _NEXT_MARKER.search(data, position)
            if found is None:
                return False
            position = found.start()
    return False
