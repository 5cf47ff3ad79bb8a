"""Real TensorRT on a real GPU: a Jetson or a CUDA desktop. Skipped elsewhere (CI and dev machines have neither).

On the device, with the export extra and JetPack's TensorRT installed:
    python -m pytest -m tensorrt tests/export/test_real_tensorrt.py
(name the file: the rest of the suite imports PyTorch, which a Jetson need not have).
No PyTorch needed: the model is a small ONNX graph built with onnx.helper (tests/export/tiny_onnx.py).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

trt = pytest.importorskip("tensorrt", reason="TensorRT is not installed here (it needs an NVIDIA GPU)")
pytest.importorskip("onnx", reason="the tests build their ONNX model with onnx: pip install 'edgeseg[export]'")
pytestmark = pytest.mark.tensorrt

from edgeseg.runtime.backends.onnxruntime import OnnxRuntimeBackend  # noqa: E402
from edgeseg.runtime.backends.tensorrt import TensorRTBackend  # noqa: E402

from .tiny_onnx import SIZE, write_images, write_tiny_onnx  # noqa: E402


@pytest.fixture
def onnx_model(tmp_path):
    return write_tiny_onnx(tmp_path / "model.onnx")


def _inputs(batch: int = 1) -> np.ndarray:
    return np.random.default_rng(batch).standard_normal((batch, 3, SIZE, SIZE)).astype(np.float32)


@pytest.mark.parametrize(
    ("flags", "precision", "min_agreement"),
    [([], "fp32", 0.999), (["--fp16"], "fp16", 0.99), (["--int8", "--calib"], "int8", 0.9)],
    ids=["fp32", "fp16", "int8"],
)
def test_onnx_to_engine_matches_onnx_runtime(run_edgeseg, onnx_model, tmp_path, flags, precision, min_agreement):
    if "--calib" in flags:
        flags = [*flags, write_images(tmp_path / "calib", count=8)]
    result = run_edgeseg("export", onnx_model, "--engine", *flags)
    assert result.returncode == 0, result.stderr
    sidecar = json.loads((tmp_path / "model.engine.json").read_text())
    assert sidecar["tensorrt"] == trt.__version__ and sidecar["precision"] == precision
    x = _inputs()
    with TensorRTBackend(tmp_path / "model.engine") as engine, OnnxRuntimeBackend(onnx_model, provider="cpu") as ort:
        got, want = engine.infer({"images": x})["logits"], ort.infer({"images": x})["logits"]
    assert got.shape == want.shape and np.isfinite(got).all()
    if precision == "fp32":
        np.testing.assert_allclose(got, want, atol=1e-3)
    assert (got.argmax(1) == want.argmax(1)).mean() >= min_agreement


def test_dynamic_batch_engine(run_edgeseg, tmp_path):
    model = write_tiny_onnx(tmp_path / "model.onnx", dynamic_batch=True)
    result = run_edgeseg("export", model, "--engine", "--dynamic-batch", "--max-batch", "4")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "model.engine.json").read_text())["dynamic_batch"] == [1, 2, 4]
    with TensorRTBackend(tmp_path / "model.engine") as engine:
        for batch in (1, 3, 4):
            assert engine.infer({"images": _inputs(batch)})["logits"].shape == (batch, 3, SIZE, SIZE)


def test_edgeseg_run_on_the_engine(run_edgeseg, onnx_model, tmp_path):
    assert run_edgeseg("export", onnx_model, "--engine").returncode == 0
    frames = write_images(tmp_path / "frames", count=3)
    result = run_edgeseg(
        "run", "--model", tmp_path / "model.engine", "--source", frames, "--no-show", "--save", tmp_path / "out",
        "--stats-json", tmp_path / "stats.json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert len(list((tmp_path / "out" / "masks").glob("*.png"))) == 3
    assert json.loads((tmp_path / "stats.json").read_text())["backend"] == "TensorRTBackend"


# --- What the doubles model for issue 22, on the real stack. ---


@pytest.mark.parametrize("flags", [[], ["--fp16"]], ids=["fp32", "fp16"])
def test_class_map_engine_matches_onnx_runtime(run_edgeseg, tmp_path, flags):
    # edgeseg's default export: the argmax in the graph, an N×H×W int32 class map out of the engine.
    model = write_tiny_onnx(tmp_path / "model.onnx", output="classes")
    result = run_edgeseg("export", model, "--engine", *flags)
    assert result.returncode == 0, result.stderr
    x = _inputs()
    with TensorRTBackend(tmp_path / "model.engine") as engine, OnnxRuntimeBackend(model, provider="cpu") as ort:
        got, want = engine.infer({"images": x})["classes"], ort.infer({"images": x})["classes"]
    assert got.dtype == np.int32 and got.shape == want.shape == (1, SIZE, SIZE)
    assert (got == want).mean() >= 0.99


def test_inference_in_another_thread(run_edgeseg, onnx_model, tmp_path):
    # The engine is opened in this thread and run in another, as `edgeseg run`'s inference thread does.
    import threading

    assert run_edgeseg("export", onnx_model, "--engine").returncode == 0
    x = _inputs()
    with TensorRTBackend(tmp_path / "model.engine") as engine:
        here = engine.infer({"images": x})["logits"]
        there: list = []
        thread = threading.Thread(target=lambda: there.append(engine.infer({"images": x})["logits"]))
        thread.start()
        thread.join()
    np.testing.assert_array_equal(there[0], here)


def test_pycuda_with_autoinit_runs_in_another_thread(run_edgeseg, onnx_model, tmp_path):
    # Issue 22, defect 1: pycuda.autoinit makes a context of its own current in the main thread; the engine, its
    # execution context, buffers and stream must still be one context's, and run from another thread.
    import subprocess
    import sys

    pytest.importorskip("pycuda", reason="pycuda is not installed here")
    assert run_edgeseg("export", onnx_model, "--engine").returncode == 0
    code = (
        "import threading, numpy as np\n"
        "import pycuda.autoinit\n"
        "from edgeseg.runtime.backends.tensorrt import TensorRTBackend\n"
        "from edgeseg.runtime.cuda import PyCuda\n"
        f"backend = TensorRTBackend({str(tmp_path / 'model.engine')!r}, cuda=PyCuda())\n"
        f"x = np.ones((1, 3, {SIZE}, {SIZE}), np.float32)\n"
        "out = []\n"
        "thread = threading.Thread(target=lambda: out.append(backend.infer({'images': x})['logits']))\n"
        "thread.start(); thread.join()\n"
        "backend.close()\n"
        "print('shape', out[0].shape)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"shape (1, 3, {SIZE}, {SIZE})"


def test_an_unreadable_timing_cache_is_replaced(run_edgeseg, onnx_model, tmp_path):
    # Issue 22, defect 8: the build goes on with a fresh cache.
    assert run_edgeseg("export", onnx_model, "--engine").returncode == 0
    cache = next(tmp_path.glob("timing.trt*.cache"))
    cache.write_bytes(b"\x00 not a timing cache")
    result = run_edgeseg("export", onnx_model, "--engine")
    assert result.returncode == 0, result.stderr
    assert cache.read_bytes() != b"\x00 not a timing cache"


def test_calibrated_int8_engine_with_a_fixed_batch_of_two(tmp_path):
    # Issue 22, defect 7: TensorRT < 10.1 calibrates through edgeseg's calibrator, which must fill the network's
    # batch of 2 (TensorRT reads two images from every pointer). Through the API: the command line refuses INT8 for
    # a fixed batch above 1, since ONNX Runtime's calibration feeds one image at a time.
    import onnx

    from edgeseg.export.tensorrt_build import EngineRequest, build_engine, parse_version
    from edgeseg.runtime.metadata import ModelMetadata

    if parse_version(trt.__version__) >= (10, 1):
        pytest.skip("TensorRT ≥ 10.1 builds INT8 from the Q/DQ graph, without a calibrator")
    model = write_tiny_onnx(tmp_path / "model.onnx", batch=2)
    props = {p.key: p.value for p in onnx.load(str(model)).metadata_props}
    meta = ModelMetadata.from_onnx_props(props, str(model))
    images = [_inputs(1) + i for i in range(5)]
    request = EngineRequest({"fp32": model}, tmp_path / "model.engine", meta, precision="int8", calibration=images)
    build_engine(request, log=print)
    x = _inputs(2)
    with TensorRTBackend(tmp_path / "model.engine") as engine, OnnxRuntimeBackend(model, provider="cpu") as ort:
        got, want = engine.infer({"images": x})["logits"], ort.infer({"images": x})["logits"]
    assert got.shape == want.shape == (2, 3, SIZE, SIZE)
    assert (got.argmax(1) == want.argmax(1)).mean() >= 0.9
