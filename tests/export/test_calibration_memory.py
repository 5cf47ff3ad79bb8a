"""INT8 calibration in bounded memory (`edgeseg.export.calibration`): peak memory does not grow with the number
of calibration images, and the Q/DQ scales are bit for bit the ones ONNX Runtime computes from all images at
once, for every calibration method."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys

import numpy as np
import pytest

from edgeseg.export.calibration import CalibrationReader
from edgeseg.export.precision import CALIBRATION_METHODS, quantize_int8

from .tiny_onnx import write_wide_onnx

pytest.importorskip("onnxruntime")

SIZE, CHANNELS, DEPTH = 160, 32, 3

# Quantizes the model at argv[1] with argv[2] calibration images, made one at a time when indexed (so that the
# images themselves take no memory), and prints the process's peak resident memory in bytes.
_MEASURE = """
import resource, sys
import numpy as np
from edgeseg.export.precision import quantize_int8

class Images:
    def __init__(self, count, size):
        self.count, self.size = count, size
    def __len__(self):
        return self.count
    def __getitem__(self, i):
        if not 0 <= i < self.count:
            raise IndexError(i)
        return np.random.default_rng(i).standard_normal((1, 3, self.size, self.size)).astype(np.float32)

quantize_int8(sys.argv[1], sys.argv[3], Images(int(sys.argv[2]), int(sys.argv[4])), "images")
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)  # Linux reports KiB
"""


def _peak_bytes(model, images: int, out) -> int:
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(model), str(images), str(out), str(SIZE)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1])


def test_peak_memory_does_not_grow_with_the_calibration_images(tmp_path):
    model = write_wide_onnx(tmp_path / "wide.onnx", SIZE, CHANNELS, DEPTH)
    # What one image's activations take: each convolution's output and its ReLU's, CHANNELS × SIZE² float32.
    one_image = 2 * DEPTH * CHANNELS * SIZE * SIZE * 4
    two, eight = (_peak_bytes(model, n, tmp_path / f"int8_{n}.onnx") for n in (2, 8))
    # Holding every image's activations until the end (ONNX Runtime's own calibrator) adds at least six images'
    # worth from 2 to 8 images; one image at a time adds nothing but noise.
    assert eight - two < one_image, (
        f"peak memory {two / 2**20:.0f} MiB with 2 calibration images, {eight / 2**20:.0f} MiB with 8 "
        f"(one image's activations: {one_image / 2**20:.0f} MiB)"
    )


def _calibration() -> list[np.ndarray]:
    """Images of different contrast, the widest in the middle: no single image sets every range."""
    return [
        (scale * np.random.default_rng(i).standard_normal((1, 3, 24, 24))).astype(np.float32)
        for i, scale in enumerate((0.5, 1.0, 3.0, 1.5, 0.8))
    ]


def _initializers(path) -> dict[str, bytes]:
    import onnx

    return {t.name: t.SerializeToString() for t in onnx.load(str(path)).graph.initializer}


def _all_at_once(fp32, out, images: list[np.ndarray], method: str) -> None:
    """ONNX Runtime's quantize_static alone on the same prepared graph and settings: its calibrator keeps every
    image's activations and builds each histogram from all of them at once."""
    from onnxruntime.quantization import quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from edgeseg.export.precision import static_settings

    prepared = out.with_name(f"prepared_{out.name}")
    quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
    with contextlib.redirect_stdout(io.StringIO()):
        quantize_static(
            str(prepared), str(out), CalibrationReader(images, "images"), **static_settings(method, [], "tensorrt")
        )


@pytest.mark.parametrize("method", CALIBRATION_METHODS)
def test_scales_equal_onnx_runtime_s_all_at_once_calibration(tmp_path, method):
    fp32 = write_wide_onnx(tmp_path / "wide.onnx", 24, channels=8, depth=2)
    images = _calibration()
    _all_at_once(fp32, tmp_path / "reference.onnx", images, method)
    settings = {"method": method, "keep_output_fp32": False, "fp32_input_convs": 0}
    quantize_int8(fp32, tmp_path / "bounded.onnx", images, "images", **settings)
    quantize_int8(fp32, tmp_path / "first.onnx", images[:1], "images", **settings)

    reference, bounded = _initializers(tmp_path / "reference.onnx"), _initializers(tmp_path / "bounded.onnx")
    scales = [name for name in reference if name.endswith("_scale")]
    assert len(scales) >= 4, "the weights' and the activations' Q/DQ scales"
    assert bounded == reference, f"differs: {sorted(n for n in reference if bounded.get(n) != reference[n])}"
    first = _initializers(tmp_path / "first.onnx")
    assert any(first[name] != reference[name] for name in scales), "every image counts, not only the first"


def test_calibration_images_are_read_when_used_and_checked_before(tmp_path):
    from edgeseg.data.voc import DataError, read_image
    from edgeseg.export.verification import calibration_set
    from edgeseg.runtime.preprocess import preprocess_for

    from ..small_metadata import small_metadata
    from .tiny_onnx import write_images

    meta = small_metadata(size=32)
    folder = write_images(tmp_path / "calib", count=4)
    images = calibration_set(folder, meta, 3)
    assert len(images) == 3 and not any(isinstance(value, np.ndarray) for value in vars(images).values())
    first = sorted(folder.iterdir())[0]
    np.testing.assert_array_equal(images[0], preprocess_for(read_image(first), meta)[0])
    assert len(list(images)) == 3 and len(images[1:]) == 2

    (folder / "frame99.png").write_bytes(b"not a png")  # the last of five: read only at the end of calibration
    with pytest.raises(DataError, match=r"frame99\.png"):
        calibration_set(folder, meta, 5)


def test_onnx_runtime_is_left_as_it_was_after_quantizing(tmp_path):
    import importlib

    ort_quantize = importlib.import_module("onnxruntime.quantization.quantize")
    before = ort_quantize.create_calibrator
    fits, smaller = write_wide_onnx(tmp_path / "a.onnx", 24, 4, 1), write_wide_onnx(tmp_path / "b.onnx", 16, 4, 1)
    quantize_int8(fits, tmp_path / "a.int8.onnx", _calibration(), "images")
    assert ort_quantize.create_calibrator is before
    with pytest.raises(Exception, match="invalid dimensions"):  # 24² images into a 16² graph, during calibration
        quantize_int8(smaller, tmp_path / "b.int8.onnx", _calibration(), "images")
    assert ort_quantize.create_calibrator is before
