"""The TensorRT build logic, up to the API boundary, against a test double of `tensorrt` (FakeTensorRT)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgeseg.export.tensorrt_build import EngineBuildError, EngineRequest, build_engine, make_calibrator, plan_build
from edgeseg.runtime.engine_sidecar import EngineMismatch, check_compatible, read_sidecar
from tests.small_metadata import small_metadata

from .fake_tensorrt import FakeCuda, FakeTensorRT

ONNX = {"fp32": Path("model.onnx"), "fp16": Path("model.fp16.onnx"), "int8": Path("model.int8.onnx")}


@pytest.mark.parametrize(
    ("version", "precision", "onnx", "flags", "explicit", "typed", "calibrate"),
    [
        ((8, 5), "fp32", "model.onnx", (), True, False, False),
        ((8, 6), "fp16", "model.onnx", ("FP16",), True, False, False),
        ((8, 6), "int8", "model.onnx", ("INT8", "FP16", "OBEY_PRECISION_CONSTRAINTS"), True, False, True),
        ((10, 3), "fp16", "model.onnx", ("FP16",), False, False, False),
        ((10, 0), "int8", "model.onnx", ("INT8", "FP16", "OBEY_PRECISION_CONSTRAINTS"), False, False, True),
        ((10, 1), "int8", "model.int8.onnx", ("INT8", "FP16"), False, False, False),
        ((10, 3), "int8", "model.int8.onnx", ("INT8", "FP16"), False, False, False),
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
        "metadata": small_metadata(size=32),
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
    assert trt.config.cache_read == trt.cache_stamp() + b"+tactics"


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
    # TensorRT 11: STRONGLY_TYPED = 0 (deprecated there: always on), and no precision flags.
    assert trt.parsed.name == "model.fp16.onnx" and trt.network_flags == 1 << 0 and trt.config.flags == []
    assert info["parsed_onnx"] == "model.fp16.onnx" and info["onnx"] == "model.onnx"
    assert any("strongly typed" in n for n in notes)


def test_int8_calibrator_feeds_every_batch_and_caches(tmp_path):
    cuda = FakeCuda()
    trt = FakeTensorRT("8.6.1", cuda=cuda)
    batches = [np.full((1, 3, 32, 32), i, np.float32) for i in range(5)]
    build_engine(_request(tmp_path, precision="int8", calibration=batches), trt=trt, cuda=cuda, log=lambda m: None)
    assert trt.calibration_batches == 5
    assert [int(c[0, 0, 0, 0]) for c in cuda.copies] == [0, 1, 2, 3, 4]
    assert [p.read_bytes() for p in tmp_path.glob("calibration*.cache")] == [b"calibration-table"]
    assert cuda.freed, "the calibration buffer must be freed"
    # A second build reuses the calibration cache instead of calibrating again.
    cuda.copies.clear()
    build_engine(_request(tmp_path, precision="int8", calibration=batches), trt=trt, cuda=cuda, log=lambda m: None)
    assert cuda.copies == []


@pytest.mark.parametrize("version", ["8.5.3", "8.6.1", "10.0.1"])
def test_calibrated_int8_keeps_the_classifier_and_what_follows_in_fp32(tmp_path, version):
    # As output_tail does for model.int8.onnx: INT8 class scores flip argmax along every object border.
    cuda, notes = FakeCuda(), []
    trt = FakeTensorRT(version, cuda=cuda)
    request = _request(tmp_path, precision="int8", calibration=[np.zeros((1, 3, 32, 32))])
    build_engine(request, trt=trt, cuda=cuda, log=notes.append)
    built = trt.built_precisions
    assert built["/model/classifier/Conv"] == ("FLOAT", ["FLOAT"])
    assert built["/model/Resize"] == ("FLOAT", ["FLOAT"])
    assert built["/ArgMax"] == ("FLOAT", ["FLOAT", "INT32"])  # TopK's indices are INT32 whatever is asked
    assert built["/model/backbone/Conv"] == ("INT8", ["INT8"]), "the rest of the network stays INT8"
    assert trt.errors == [], "no output type may be requested on an INT32 output"
    assert any("3 layers from the classifier on kept FP32" in n for n in notes)


def test_qdq_int8_sets_no_precision_constraints(tmp_path):
    # TensorRT ≥ 10.1 takes precision from the Q/DQ nodes: output_tail already left the classifier unquantized.
    files = {"fp32": tmp_path / "model.onnx", "int8": tmp_path / "model.int8.onnx"}
    for path in files.values():
        path.write_bytes(b"onnx-bytes")
    trt = FakeTensorRT("10.3.0")
    build_engine(_request(tmp_path, precision="int8", onnx_files=files), trt=trt, cuda=FakeCuda(), log=print)
    assert not any(layer.precision_is_set for layer in trt.network.layers)
    assert "OBEY_PRECISION_CONSTRAINTS" not in trt.config.flags


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
    cuda = FakeCuda()
    trt = FakeTensorRT("8.6.2", dla_cores=2, dynamic=True, cuda=cuda)
    request = _request(tmp_path, precision="fp16", dla_core=1, dynamic_batch=(1, 4, 8))
    info = build_engine(request, trt=trt, cuda=cuda, log=lambda m: None)
    config = trt.config
    assert config.default_device_type == "DLA" and config.DLA_core == 1 and "GPU_FALLBACK" in config.flags
    assert config.profiles[0].shapes["images"] == ((1, 3, 32, 32), (4, 3, 32, 32), (8, 3, 32, 32))
    assert info["dla_core"] == 1 and info["dynamic_batch"] == [1, 4, 8]
    assert not hasattr(config, "calibration_profile")  # FP16: nothing to calibrate
    int8 = _request(tmp_path, precision="int8", dynamic_batch=(1, 4, 8), calibration=[np.zeros((1, 3, 32, 32))])
    build_engine(int8, trt=trt, cuda=cuda, log=lambda m: None)  # 8.6: INT8 through the calibrator
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


# --- The defects of issue 13, each a test that failed before its fix. ---


def test_dynamic_onnx_without_the_flag_gets_a_batch_one_profile(tmp_path):
    # Defect 2: the profile follows the parsed graph: a -1 batch needs one even without --dynamic-batch.
    trt = FakeTensorRT("10.3.0", dynamic=True)
    notes = []
    info = build_engine(_request(tmp_path), trt=trt, cuda=FakeCuda(), log=notes.append)
    assert trt.config.profiles[0].shapes["images"] == ((1, 3, 32, 32),) * 3
    assert info["dynamic_batch"] == [1, 1, 1]
    assert any("--dynamic-batch" in n for n in notes)


def test_static_onnx_with_the_dynamic_batch_flag_is_refused(tmp_path):
    # Defect 2: a fixed-batch graph cannot take a 1…N profile; say so instead of failing inside TensorRT.
    with pytest.raises(EngineBuildError, match=r"fixed batch of 1.*--dynamic-batch"):
        build_engine(
            _request(tmp_path, dynamic_batch=(1, 4, 8)), trt=FakeTensorRT("10.3.0"), cuda=FakeCuda(), log=print
        )
    assert not (tmp_path / "model.engine").exists()


def test_timing_cache_from_another_tensorrt_or_gpu_is_not_used(tmp_path):
    # Defect 4: a timing cache is keyed by TensorRT version and compute capability.
    build_engine(_request(tmp_path), trt=FakeTensorRT("10.3.0"), cuda=FakeCuda(), log=lambda m: None)
    other_version = FakeTensorRT("8.6.2")
    build_engine(_request(tmp_path), trt=other_version, cuda=FakeCuda(), log=lambda m: None)
    assert other_version.config.cache_read == b""
    other_gpu = FakeTensorRT("10.3.0", capability="7.2")
    build_engine(_request(tmp_path), trt=other_gpu, cuda=FakeCuda("Xavier", "7.2"), log=lambda m: None)
    assert other_gpu.config.cache_read == b""
    same = FakeTensorRT("10.3.0")
    build_engine(_request(tmp_path), trt=same, cuda=FakeCuda(), log=lambda m: None)
    assert same.config.cache_read.startswith(same.cache_stamp())


def test_calibration_cache_of_another_model_is_not_reused(tmp_path):
    # Defect 5: the calibration cache is keyed to the ONNX file (and the calibration images).
    batches = [np.full((1, 3, 32, 32), i, np.float32) for i in range(3)]
    cuda = FakeCuda()
    trt = FakeTensorRT("8.6.1", cuda=cuda)
    build_engine(_request(tmp_path, precision="int8", calibration=batches), trt=trt, cuda=cuda, log=print)
    (tmp_path / "model.onnx").write_bytes(b"another model")
    build_engine(_request(tmp_path, precision="int8", calibration=batches), trt=trt, cuda=cuda, log=print)
    assert trt.calibration_batches == 3, "the second model must be calibrated, not given the first one's scales"
    other_images = [b + 1 for b in batches]
    build_engine(_request(tmp_path, precision="int8", calibration=other_images), trt=trt, cuda=cuda, log=print)
    assert trt.calibration_batches == 3


class _FailingCuda(FakeCuda):
    """A CUDA copy that fails on the third calibration batch (e.g. out of memory)."""

    def copy_to_device(self, pointer, array, stream):
        if len(self.copies) == 2:
            raise RuntimeError("cudaErrorMemoryAllocation")
        super().copy_to_device(pointer, array, stream)


def test_calibration_error_fails_the_build(tmp_path, capsys):
    # Defect 6: TensorRT swallows get_batch's exception and calibrates on fewer batches; edgeseg must not.
    batches = [np.full((1, 3, 32, 32), i, np.float32) for i in range(5)]
    request = _request(tmp_path, precision="int8", calibration=batches)
    cuda = _FailingCuda()
    with pytest.raises(EngineBuildError, match=r"calibration failed at batch 3 of 5.*cudaErrorMemoryAllocation"):
        build_engine(request, trt=FakeTensorRT("8.6.1", cuda=cuda), cuda=cuda, log=lambda m: None)
    assert "Exception caught in get_batch()" in capsys.readouterr().err  # what the real trampoline prints
    assert not (tmp_path / "model.engine").exists() and not list(tmp_path.glob("calibration*.cache"))


def test_fp32_and_fp16_engines_build_without_a_cuda_binding(tmp_path, monkeypatch):
    # Defect 8: TensorRT needs no CUDA binding to build; the GPU is read through the driver (libcuda).
    from edgeseg.runtime import gpu

    from .fake_cuda import FakeLibCuda

    for name in ("cuda", "cuda.bindings", "cuda.bindings.runtime", "cuda.cudart", "pycuda", "pycuda.driver"):
        monkeypatch.setitem(__import__("sys").modules, name, None)
    monkeypatch.setattr(gpu, "load_libcuda", lambda: FakeLibCuda("Orin", (8, 7), integrated=True))
    for precision in ("fp32", "fp16"):
        info = build_engine(_request(tmp_path, precision=precision), trt=FakeTensorRT("10.3.0"), log=lambda m: None)
        assert (info["gpu"], info["compute_capability"]) == ("Orin", "8.7")


def test_int8_on_tensorrt_10_1_builds_from_the_qdq_graph_without_calibrating(tmp_path):
    # Defect 9: explicit quantization from model.int8.onnx on ≥ 10.1; no calibrator, no CUDA copies.
    (tmp_path / "model.onnx").write_bytes(b"onnx")
    (tmp_path / "model.int8.onnx").write_bytes(b"qdq-onnx")
    files = {"fp32": tmp_path / "model.onnx", "int8": tmp_path / "model.int8.onnx"}
    trt, cuda = FakeTensorRT("10.3.0"), FakeCuda()
    request = _request(tmp_path, precision="int8", onnx_files=files, calibration=[np.zeros((1, 3, 32, 32))])
    info = build_engine(request, trt=trt, cuda=cuda, log=lambda m: None)
    assert trt.parsed.name == "model.int8.onnx" and info["parsed_onnx"] == "model.int8.onnx"
    assert trt.config.int8_calibrator is None and cuda.copies == [] and "INT8" in trt.config.flags
    with pytest.raises(EngineBuildError, match=r"model\.int8\.onnx"):
        plan_build((10, 1), "int8", {"fp32": Path("model.onnx")}, None)


def test_a_mismatched_timing_cache_under_the_right_name_is_replaced(tmp_path):
    trt = FakeTensorRT("10.3.0")
    (tmp_path / "timing.trt10.3.0.sm87.cache").write_bytes(b"trt9.9-sm1.0:copied from elsewhere")
    notes = []
    build_engine(_request(tmp_path), trt=trt, cuda=FakeCuda(), log=notes.append)
    assert trt.config.cache_read == b"" and any("starting a new one" in n for n in notes)
    assert (tmp_path / "timing.trt10.3.0.sm87.cache").read_bytes().startswith(trt.cache_stamp())


# --- The defects of issue 22, each a test that failed before its fix. ---


@pytest.mark.parametrize("requested", [(1, 8, 4), (4, 2, 8), (0, 1, 4)])
def test_an_inconsistent_batch_profile_is_refused_naming_its_shapes(tmp_path, requested):
    # Defect 6: TensorRT's set_shape raises a raw RuntimeError ("Shape provided for max is inconsistent with other
    # shapes.") for min ≤ opt ≤ max violated; say which shapes, before any TensorRT work.
    shapes = ", ".join(f"\\({b}, 3, 32, 32\\)" for b in requested)
    with pytest.raises(EngineBuildError, match=rf"batch profile {shapes} .*1 ≤ min ≤ opt ≤ max"):
        build_engine(
            _request(tmp_path, dynamic_batch=requested), trt=FakeTensorRT(dynamic=True), cuda=FakeCuda(), log=print
        )
    assert not (tmp_path / "model.engine").exists()


@pytest.mark.parametrize("version", ["8.6.1", "10.0.1"])
def test_calibration_fills_the_fixed_batch_of_the_network(tmp_path, version):
    # Defect 7: a network with a fixed batch of 4 reads 4 images from every pointer get_batch returns (TensorRT
    # ignores get_batch_size for an explicit-batch network); a one-image buffer is an out-of-bounds device read.
    # So the images go in batches of 4, the last one filled up from the first images.
    cuda = FakeCuda()
    trt = FakeTensorRT(version, cuda=cuda, batch=4)
    images = [np.full((1, 3, 32, 32), i, np.float32) for i in range(5)]
    request = _request(tmp_path, precision="int8", calibration=images)
    build_engine(request, trt=trt, cuda=cuda, log=lambda m: None)
    assert trt.errors == [] and trt.calibration_batches == 2
    assert [copy.shape for copy in cuda.copies] == [(4, 3, 32, 32)] * 2
    assert [int(image[0, 0, 0]) for copy in cuda.copies for image in copy] == [0, 1, 2, 3, 4, 0, 1, 2]


@pytest.mark.parametrize("content", [b"\x00\x13garbage", b"trt10.3"], ids=["corrupt", "truncated"])
def test_an_unreadable_timing_cache_is_replaced_by_a_fresh_one(tmp_path, content):
    # Defect 8: create_timing_cache returns None for a blob TensorRT cannot read; set_timing_cache(None) is a
    # TypeError. Start a fresh cache, and say so.
    cache = tmp_path / "timing.trt10.3.0.sm87.cache"
    cache.write_bytes(content)
    trt, notes = FakeTensorRT("10.3.0"), []
    build_engine(_request(tmp_path), trt=trt, cuda=FakeCuda(), log=notes.append)
    assert (tmp_path / "model.engine").is_file() and trt.config.cache_read == b""
    assert f"note: {cache.name} cannot be read (corrupt or cut short); starting a new one" in notes
    assert cache.read_bytes().startswith(trt.cache_stamp())


def test_calibration_runs_under_the_context_of_its_buffers(tmp_path, monkeypatch):
    # Defect 1's rule at build time: with pycuda.autoinit imported, the builder would run the calibration under
    # autoinit's context while the calibrator's buffers and stream belong to the primary one.
    from edgeseg.runtime import gpu

    from .fake_cuda import FakeLibCuda, FakePyCudaDriver, install_fake_pycuda

    driver = FakePyCudaDriver()
    install_fake_pycuda(monkeypatch, driver)
    monkeypatch.setattr(gpu, "load_libcuda", lambda: FakeLibCuda("Orin", (8, 7)))
    trt = FakeTensorRT("8.6.1", cuda=driver)
    images = [np.full((1, 3, 32, 32), i, np.float32) for i in range(3)]
    build_engine(_request(tmp_path, precision="int8", calibration=images), trt=trt, log=lambda m: None)
    assert trt.errors == [] and trt.calibration_batches == 3
