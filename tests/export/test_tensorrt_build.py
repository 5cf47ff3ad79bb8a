"""The TensorRT build logic, up to the API boundary, against a test double of `tensorrt` (FakeTensorRT)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgeseg.export.tensorrt_build import EngineBuildError, EngineRequest, build_engine, make_calibrator, plan_build
from edgeseg.runtime.engine_sidecar import EngineMismatch, check_compatible, read_sidecar

from .fake_tensorrt import FakeCuda, FakeTensorRT

ONNX = {"fp32": Path("model.onnx"), "fp16": Path("model.fp16.onnx"), "int8": Path("model.int8.onnx")}


@pytest.mark.parametrize(
    ("version", "precision", "onnx", "flags", "explicit", "typed", "calibrate"),
    [
        ((8, 5), "fp32", "model.onnx", (), True, False, False),
        ((8, 6), "fp16", "model.onnx", ("FP16",), True, False, False),
        ((8, 6), "int8", "model.onnx", ("INT8", "FP16"), True, False, True),
        ((10, 3), "fp16", "model.onnx", ("FP16",), False, False, False),
        ((10, 3), "int8", "model.onnx", ("INT8", "FP16"), False, False, True),
        ((11, 0), "fp32", "model.onnx", (), False, True, False),
        ((11, 0), "fp16", "model.fp16.onnx", (), False, True, False),
        ((11, 0), "int8", "model.int8.onnx", (), False, True, False),
    ],
)
def test_version_dispatch(version, precision, onnx, flags, explicit, typed, calibrate):
    plan = plan_build(version, precision, ONNX, dla_core=None)
    assert plan.onnx.name == onnx
    assert plan.builder_flags == flags
    assert (plan.explicit_batch_flag, plan.strongly_typed, plan.calibrate) == (explicit, typed, calibrate)


def test_plan_refusals():
    with pytest.raises(EngineBuildError, match=r"needs ≥ 8\.5"):
        plan_build((8, 4), "fp32", ONNX, None)
    with pytest.raises(EngineBuildError, match="FP16 or INT8 only"):
        plan_build((10, 0), "fp32", ONNX, dla_core=0)
    with pytest.raises(EngineBuildError, match=r"model\.fp16\.onnx, which is missing"):
        plan_build((11, 0), "fp16", {"fp32": Path("model.onnx")}, None)
    assert plan_build((10, 0), "fp16", ONNX, dla_core=1).builder_flags == ("FP16", "GPU_FALLBACK")


def _request(tmp_path: Path, **kwargs) -> EngineRequest:
    onnx = tmp_path / "model.onnx"
    if not onnx.exists():
        onnx.write_bytes(b"onnx-bytes")
    defaults = {
        "onnx_files": {"fp32": onnx},
        "engine": tmp_path / "model.engine",
        "metadata": {"model": "m", "class_names": ["a", "b"], "input_size": [32, 32]},
    }
    return EngineRequest(**{**defaults, **kwargs})


def test_build_writes_raw_engine_sidecar_and_timing_cache(tmp_path):
    trt, cuda = FakeTensorRT("10.3.0"), FakeCuda()
    info = build_engine(_request(tmp_path, workspace_gb=2), trt=trt, cuda=cuda, log=lambda m: None)
    assert (tmp_path / "model.engine").read_bytes().startswith(b"FAKE-ENGINE")  # raw: no header of ours
    sidecar = read_sidecar(tmp_path / "model.engine")
    assert sidecar == json.loads((tmp_path / "model.engine.json").read_text())
    assert sidecar["tensorrt"] == "10.3.0" and sidecar["gpu"] == "Fake Orin" and sidecar["compute_capability"] == "8.7"
    assert sidecar["class_names"] == ["a", "b"] and sidecar["precision"] == "fp32" and len(sidecar["onnx_sha256"]) == 64
    assert trt.config.pool_limits == {"WORKSPACE": 2 * 2**30}
    assert trt.network_flags == 0  # TensorRT 10: no explicit-batch flag
    assert info == sidecar
    # The second build starts from the timing cache the first one left.
    assert trt.config.cache_read == b""
    build_engine(_request(tmp_path), trt=trt, cuda=cuda, log=lambda m: None)
    assert trt.config.cache_read == b"+tactics"


def test_tensorrt_8_uses_explicit_batch_flag_and_fp16_flag(tmp_path):
    trt = FakeTensorRT("8.6.1")
    build_engine(_request(tmp_path, precision="fp16"), trt=trt, cuda=FakeCuda(), log=lambda m: None)
    assert trt.network_flags == 1 << 0
    assert trt.config.flags == ["FP16"]


def test_tensorrt_11_parses_the_fp16_graph_strongly_typed(tmp_path):
    trt = FakeTensorRT("11.0.0")
    (tmp_path / "model.fp16.onnx").write_bytes(b"fp16-onnx")
    files = {"fp32": tmp_path / "model.onnx", "fp16": tmp_path / "model.fp16.onnx"}
    (tmp_path / "model.onnx").write_bytes(b"onnx")
    notes = []
    info = build_engine(
        _request(tmp_path, precision="fp16", onnx_files=files), trt=trt, cuda=FakeCuda(), log=notes.append
    )
    assert trt.parsed.name == "model.fp16.onnx" and trt.network_flags == 1 << 1 and trt.config.flags == []
    assert info["parsed_onnx"] == "model.fp16.onnx" and info["onnx"] == "model.onnx"
    assert any("strongly typed" in n for n in notes)


def test_int8_calibrator_feeds_every_batch_and_caches(tmp_path):
    trt, cuda = FakeTensorRT("10.0.1"), FakeCuda()
    batches = [np.full((1, 3, 32, 32), i, np.float32) for i in range(5)]
    build_engine(_request(tmp_path, precision="int8", calibration=batches), trt=trt, cuda=cuda, log=lambda m: None)
    assert trt.calibration_batches == 5
    assert [int(c[0, 0, 0, 0]) for c in cuda.copies] == [0, 1, 2, 3, 4]
    assert (tmp_path / "calibration.cache").read_bytes() == b"calibration-table"
    assert cuda.freed, "the calibration buffer must be freed"
    # A second build reuses the calibration cache instead of calibrating again.
    cuda.copies.clear()
    build_engine(_request(tmp_path, precision="int8", calibration=batches), trt=trt, cuda=cuda, log=lambda m: None)
    assert cuda.copies == []


def test_calibrator_batch_protocol():
    cuda = FakeCuda()
    calibrator = make_calibrator(FakeTensorRT(), cuda, [np.zeros((2, 3, 8, 8))] * 2, Path("/nonexistent/cache"))
    assert calibrator.get_batch_size() == 2
    pointers = [calibrator.get_batch(["images"]) for _ in range(3)]
    assert pointers[0] == pointers[1] == [calibrator.pointer] and pointers[2] is None
    assert calibrator.read_calibration_cache() is None
    with pytest.raises(EngineBuildError, match="--calib"):
        make_calibrator(FakeTensorRT(), cuda, [], Path("c"))


def test_dla_and_dynamic_batch_profile(tmp_path):
    trt = FakeTensorRT("8.6.2", dla_cores=2, dynamic=True)
    request = _request(tmp_path, precision="fp16", dla_core=1, dynamic_batch=(1, 4, 8))
    info = build_engine(request, trt=trt, cuda=FakeCuda(), log=lambda m: None)
    config = trt.config
    assert config.default_device_type == "DLA" and config.DLA_core == 1 and "GPU_FALLBACK" in config.flags
    assert config.profiles[0].shapes["images"] == ((1, 3, 32, 32), (4, 3, 32, 32), (8, 3, 32, 32))
    assert info["dla_core"] == 1 and info["dynamic_batch"] == [1, 4, 8]
    assert not hasattr(config, "calibration_profile")  # FP16: nothing to calibrate
    int8 = _request(tmp_path, precision="int8", dynamic_batch=(1, 4, 8), calibration=[np.zeros((1, 3, 32, 32))])
    build_engine(int8, trt=trt, cuda=FakeCuda(), log=lambda m: None)
    # Calibration batches hold one image, so TensorRT must calibrate at batch 1, not at the opt batch of 4.
    assert trt.config.calibration_profile.shapes["images"] == ((1, 3, 32, 32),) * 3
    with pytest.raises(EngineBuildError, match="has 2 DLA cores"):
        build_engine(_request(tmp_path, precision="fp16", dla_core=2), trt=trt, cuda=FakeCuda(), log=lambda m: None)


def test_failures_leave_no_engine(tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"junk")
    with pytest.raises(EngineBuildError, match=r"cannot parse model\.onnx: In node 0"):
        build_engine(_request(tmp_path), trt=FakeTensorRT(), cuda=FakeCuda(), log=lambda m: None)
    (tmp_path / "model.onnx").write_bytes(b"onnx")
    with pytest.raises(EngineBuildError, match="could not build"):
        build_engine(_request(tmp_path), trt=FakeTensorRT(fail_build=True), cuda=FakeCuda(), log=lambda m: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]


def test_sidecar_mismatch_says_how_to_rebuild(tmp_path):
    build_engine(_request(tmp_path), trt=FakeTensorRT("8.6.1"), cuda=FakeCuda("Orin", "8.7"), log=lambda m: None)
    sidecar = read_sidecar(tmp_path / "model.engine")
    assert check_compatible("model.engine", sidecar, "8.6.1", "Orin", "8.7") == []
    with pytest.raises(
        EngineMismatch, match=r"built for TensorRT 8.6.1 on Orin .* this is TensorRT 10.3.0.*edgeseg export model.onnx"
    ):
        check_compatible("model.engine", sidecar, "10.3.0", "Orin", "8.7")
    with pytest.raises(EngineMismatch, match=r"compute 8.7.*compute 7.2"):
        check_compatible("model.engine", sidecar, "8.6.1", "Xavier", "7.2")
    warnings = check_compatible("model.engine", sidecar, "8.6.1", "Orin Nano", "8.7")
    assert "tuned for the other GPU" in warnings[0]


def test_missing_or_corrupt_sidecar(tmp_path):
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"x")
    with pytest.raises(Exception, match=r"has no sidecar model\.engine\.json"):
        read_sidecar(engine)
    (tmp_path / "model.engine.json").write_text("{not json")
    with pytest.raises(Exception, match="not valid JSON"):
        read_sidecar(engine)
