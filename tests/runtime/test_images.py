"""The one image reader (edgeseg.runtime.images): its rule for each form, and a one-line reason for each refusal."""

from __future__ import annotations

import pickle
import re
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import edgeseg
from edgeseg.data.voc import DataError
from edgeseg.data.voc import read_image as read_dataset_image
from edgeseg.runtime.images import UnreadableImage, jpeg_complete, read_image
from tests.runtime.image_forms import sixteen_to_eight, write_forms, write_oriented


def test_sixteen_bits_scale_by_value_over_257_rounded(tmp_path):
    values = np.arange(1 << 16, dtype=np.uint16).reshape(256, 256)
    for name, array in (("gray.png", values), ("rgb.png", np.dstack([values, values[::-1], values.T]))):
        assert cv2.imwrite(str(tmp_path / name), array)
        read = read_image(tmp_path / name)
        expected = sixteen_to_eight(array if array.ndim == 3 else np.dstack([array] * 3))
        assert np.array_equal(read, expected), name
    flat = read_image(tmp_path / "gray.png")[..., 0].ravel()
    assert flat[0] == 0 and flat[128] == 0 and flat[129] == 1 and flat[65535] == 255
    assert np.array_equal(flat[np.arange(256) * 257], np.arange(256))  # an 8-bit image widened (v·257) reads back


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_as_pil_shows_it(tmp_path, orientation):
    shown = write_oriented(tmp_path / "phone.jpg", orientation)
    assert np.array_equal(read_image(tmp_path / "phone.jpg"), shown)


def test_the_reader_needs_no_pil_or_torch(run_python_without, tmp_path):
    forms = write_forms(tmp_path / "forms")
    code = (
        "import sys, numpy as np\n"
        "from pathlib import Path\n"
        "from edgeseg.runtime.images import read_image\n"
        f"for path in sorted(Path({str(tmp_path / 'forms')!r}).iterdir()):\n"
        "    np.save(str(path) + '.npy', read_image(path))\n"
        "print('loaded:', sorted(m for m in sys.modules if m.split('.')[0] in ('PIL', 'torch')))\n"
    )
    result = run_python_without(code, blocked=("PIL", "torch", "torchvision", "onnx"))
    assert result.returncode == 0, result.stderr
    assert "loaded: []" in result.stdout
    for name, form in forms.items():
        assert np.array_equal(np.load(f"{form.path}.npy"), read_image(form.path)), name


def _jpeg(tmp_path: Path, name: str = "photo.jpg", **options) -> Path:
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 256, (64, 80, 3), dtype=np.uint8)).save(tmp_path / name, quality=90, **options)
    return tmp_path / name


def test_jpegs_phones_and_encoders_write_are_complete(tmp_path):
    plain = _jpeg(tmp_path).read_bytes()
    progressive = _jpeg(tmp_path, "progressive.jpg", progressive=True).read_bytes()
    restarts = cv2.imencode(".jpg", cv2.imread(str(tmp_path / "photo.jpg")), [cv2.IMWRITE_JPEG_RST_INTERVAL, 1])[1]
    # A Motion Photo or Samsung's trailer: more data after the end marker, which decoders ignore.
    trailer = plain + b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4 + b"SEFT"
    for data in (plain, progressive, restarts.tobytes(), trailer, plain + b"\x00\x00\r\n"):
        assert jpeg_complete(data)
    (tmp_path / "motion.jpg").write_bytes(trailer)
    assert np.array_equal(read_image(tmp_path / "motion.jpg"), read_image(tmp_path / "photo.jpg"))


def test_truncated_jpegs_are_refused_wherever_they_end(tmp_path):
    plain = _jpeg(tmp_path).read_bytes()
    progressive = _jpeg(tmp_path, "progressive.jpg", progressive=True).read_bytes()
    # An end marker before the picture (an EXIF thumbnail's; here in a comment) does not make a cut file whole.
    commented = plain[:2] + b"\xff\xfe\x00\x06\xff\xd9\x00\x00" + plain[2:]
    for data in (plain, progressive, commented):
        for cut in (len(data) // 10, len(data) // 2, len(data) - 2):
            assert not jpeg_complete(data[:cut]), cut
    (tmp_path / "cut.jpg").write_bytes(commented[: len(commented) // 2])
    with pytest.raises(UnreadableImage, match=r"cut.jpg: it is truncated \(no JPEG end marker\); copy it again$"):
        read_image(tmp_path / "cut.jpg")


def _header_only_png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def write_unreadable(folder: Path) -> dict[str, str]:
    """A file per way an image can be unreadable, with (a part of) the reason the reader gives."""
    folder.mkdir(parents=True, exist_ok=True)
    gray = np.random.default_rng(1).random((24, 32))
    cv2.imwrite(str(folder / "float32.tif"), gray.astype(np.float32))
    cv2.imwrite(str(folder / "float64.tif"), np.dstack([gray] * 3))
    cv2.imwrite(str(folder / "signed16.tif"), (gray * 1000).astype(np.int16))
    cv2.imwrite(str(folder / "int32.tif"), (gray * 1e6).astype(np.int32))
    png = cv2.imencode(".png", (gray * 255).astype(np.uint8))[1]
    (folder / "cut.png").write_bytes(png.tobytes()[: len(png) // 2])
    jpeg = cv2.imencode(".jpg", (gray * 255).astype(np.uint8))[1]
    (folder / "truncated.jpg").write_bytes(jpeg.tobytes()[: len(jpeg) // 2])
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.png").write_text("not an image\n")
    (folder / "huge.png").write_bytes(_header_only_png(50000, 50000))
    (folder / "folder.jpg").mkdir()
    return {
        "float32.tif": "its samples are 32-bit floating point, which have no agreed range of values",
        "float64.tif": "its samples are 64-bit floating point",
        "signed16.tif": "its samples are signed 16-bit integers",
        "int32.tif": "its samples are signed 32-bit integers",
        "cut.png": "it is corrupt, or not an image; replace it with a readable copy",
        "truncated.jpg": "it is truncated (no JPEG end marker); copy it again",
        "empty.png": "the file is empty (0 bytes); copy it again",
        "text.png": "it is corrupt, or not an image",
        "huge.png": "it has more pixels than OpenCV decodes (2^30); scale it down",
        "folder.jpg": "it is a folder; pass an image file",
    }


def test_each_unreadable_form_gets_its_reason(tmp_path):
    reasons = write_unreadable(tmp_path)
    for name, reason in {**reasons, "missing.png": "there is no such file; check the path"}.items():
        with pytest.raises(UnreadableImage) as refused:
            read_image(tmp_path / name)
        message = str(refused.value)
        assert message.startswith(f"cannot read image {tmp_path / name}: ") and reason in message, message
        assert "\n" not in message
        assert pickle.loads(pickle.dumps(refused.value)).args == refused.value.args  # crosses process boundaries


def test_the_api_and_the_dataset_refuse_the_same_files_with_their_own_remedy(tiny_onnx, tmp_path):
    reasons = write_unreadable(tmp_path)
    with edgeseg.load(tiny_onnx, provider="cpu") as seg:
        for name, reason in reasons.items():
            with pytest.raises(UnreadableImage, match=re.escape(reason)):
                seg(tmp_path / name)
    remedy = r"float32.tif: its samples .*; convert it to 8 or 16 bits per channel or remove it from the list$"
    with pytest.raises(DataError, match=remedy):
        read_dataset_image(tmp_path / "float32.tif")


def test_run_skips_and_names_every_unreadable_form(run_edgeseg, tiny_onnx, tmp_path):
    folder = tmp_path / "images"
    reasons = write_unreadable(folder)
    forms = write_forms(folder)
    result = run_edgeseg("run", "--model", tiny_onnx, "--source", folder, "--no-show")
    assert result.returncode == 0, result.stderr
    assert f"{len(forms)} frames" in result.stdout and f"unreadable {len(reasons)}" in result.stdout
    assert f"skipped {len(reasons)} unreadable file(s): " in result.stderr
    for name in reasons:
        assert name in result.stderr, name


def _dataset_of(folder: Path, images: dict[str, str], tmp_path: Path) -> Path:
    root = tmp_path / "dataset"
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for name in images:
        (root / "JPEGImages" / name).write_bytes((folder / name).read_bytes())
        Image.fromarray(np.zeros((24, 32), np.uint8)).save(root / "SegmentationClass" / f"{Path(name).stem}.png")
    ids = "".join(f"{Path(name).stem}\n" for name in images)
    (root / "ImageSets/Segmentation/train.txt").write_text(ids)
    (root / "ImageSets/Segmentation/val.txt").write_text(ids)
    (root / "classes.txt").write_text("background\nthing\n")
    return root


def test_data_check_names_every_unreadable_form_with_its_reason(run_edgeseg, tmp_path):
    reasons = write_unreadable(tmp_path / "bad")
    files = {name: reason for name, reason in reasons.items() if name != "folder.jpg"}  # a list names files
    root = _dataset_of(tmp_path / "bad", files, tmp_path)
    result = run_edgeseg("data", "check", root)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert f"{len(files)} problem(s) found in {root}:" in lines
    for name, reason in files.items():
        assert any(f"{name}: {reason}" in line and line.endswith("remove it from the list") for line in lines), name
    one = _dataset_of(tmp_path / "bad", {"float32.tif": ""}, tmp_path / "one")
    single = run_edgeseg("data", "check", one)
    last = single.stderr.strip().splitlines()[-1]  # one problem: the last line is the one `error:` line
    assert single.returncode == 1 and last.startswith("error: train: cannot read image ")


def test_multi_frame_files_read_as_their_first_frame(tmp_path):
    frames = [Image.fromarray(np.full((16, 20, 3), value, np.uint8)) for value in (10, 200)]
    for name, options in (("pages.tif", {}), ("anim.png", {"duration": 100}), ("anim.webp", {"lossless": True})):
        frames[0].save(tmp_path / name, save_all=True, append_images=frames[1:], **options)
        try:
            image = read_image(tmp_path / name)
        except UnreadableImage as refused:  # OpenCV < 4.11 has no animated WebP; nothing else may be refused
            assert name == "anim.webp" and "it is an animated WebP, which OpenCV" in str(refused), str(refused)
            continue
        assert image.shape == (16, 20, 3) and (image == 10).all(), name
