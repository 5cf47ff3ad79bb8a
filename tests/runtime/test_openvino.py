"""The OpenVINO backend through the real library: metadata, masks against ONNX Runtime, the INT8 file, the model
cache, devices and precision hints, the default choice of backend, and `edgeseg run` / the API on it."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

pytest.importorskip("openvino")  # the `openvino` extra; CI installs it (.[all,dev]), a Jetson never does

from PIL import Image

import edgeseg
from edgeseg.errors import EdgesegError
from edgeseg.runtime.backends import open_model
from edgeseg.runtime.backends.onnxruntime import OnnxRuntimeBackend
from edgeseg.runtime.backends.openvino import OpenVinoBackend, reason
from edgeseg.runtime.backends.providers import check_provider, default_onnx_provider
from edgeseg.runtime.cpu import cpu_facts, parse_cpuinfo
from edgeseg.runtime.segmenter import Segmenter
from tests.export.tiny_onnx import write_images, write_tiny_onnx

# /proc/cpuinfo of an Intel Xeon with AMX (the lines edgeseg reads; the real file repeats them per core).
INTEL_CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse sse2 avx avx2 avx512f avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8
"""
AMD_CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7763 64-Core Processor
flags\t\t: fpu sse sse2 avx avx2 fma
"""


@pytest.fixture(scope="module")
def frames(tiny_video) -> list[np.ndarray]:
    capture, read = cv2.VideoCapture(str(tiny_video)), []
    while len(read) < 12:
        ok, frame = capture.read()
        if not ok:
            break
        read.append(frame)
    return read


def test_masks_and_metadata_match_onnx_runtime(tiny_onnx, frames):
    with OpenVinoBackend(tiny_onnx, precision="f32") as ov, OnnxRuntimeBackend(tiny_onnx, provider="cpu") as ort:
        assert ov.metadata == ort.metadata  # the same metadata_props, read through OpenVINO's rt_info
        assert (ov.input_names, ov.output_names, ov.max_batch) == (ort.input_names, ort.output_names, 1)
        ov_seg, ort_seg = Segmenter(ov), Segmenter(ort)
        agree = np.mean([(ov_seg(f) == ort_seg(f)).mean() for f in frames])
        settings = ov.settings
    assert agree > 0.999
    assert settings["device"] == "CPU" and settings["precision_hint"] == "f32" and settings["precision"] == "f32"


def test_logits_output_and_dynamic_batch(tmp_path):
    path = write_tiny_onnx(tmp_path / "tiny.onnx", dynamic_batch=True)
    batch = np.random.default_rng(0).standard_normal((3, 3, 32, 32)).astype(np.float32)
    with OpenVinoBackend(path) as ov, OnnxRuntimeBackend(path, provider="cpu") as ort:
        assert ov.max_batch is None  # a dynamic batch axis
        got, want = ov.infer({"images": batch})["logits"], ort.infer({"images": batch})["logits"]
    assert got.shape == (3, 3, 32, 32) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-4)
    got[:] = 0  # a copy the caller owns, not the request's buffer


def test_int8_qdq_file_runs_and_agrees(tiny_checkpoint, tiny_dataset, tmp_path, frames):
    from edgeseg.export.steps import ExportOptions, run_export

    images = tiny_dataset / "VOCdevkit" / "VOC2012" / "JPEGImages"
    options = ExportOptions(tiny_checkpoint, out=tmp_path, int8=True, calib=images, calib_images=8, engine=False)
    run_export(options, log=lambda m: None)
    with OpenVinoBackend(tmp_path / "model.int8.onnx") as ov, open_model(tmp_path / "model.onnx") as fp32:
        ov_seg, fp32_seg = Segmenter(ov), Segmenter(fp32)
        agree = np.mean([(ov_seg(f) == fp32_seg(f)).mean() for f in frames])
    assert agree > 0.9  # 8 calibration images at 32 px; the 512² benchmark measures the real agreement


def test_second_start_loads_the_compiled_model_from_the_cache(tiny_onnx, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGESEG_OPENVINO_CACHE", str(tmp_path / "cache"))
    with OpenVinoBackend(tiny_onnx) as first:
        assert not first.loaded_from_cache
    blobs = list((tmp_path / "cache").glob("*.blob"))
    assert len(blobs) == 1
    with OpenVinoBackend(tiny_onnx) as second:
        assert second.loaded_from_cache and second.settings["loaded_from_cache"]
    monkeypatch.setenv("EDGESEG_OPENVINO_CACHE", "off")
    with OpenVinoBackend(tiny_onnx) as uncached:
        assert not uncached.loaded_from_cache and uncached.cache is None


def test_precision_hint_is_recorded_with_what_the_cpu_runs(tiny_onnx):
    with OpenVinoBackend(tiny_onnx, precision="bf16") as ov:
        settings = ov.settings
    assert settings["precision_hint"] == "bf16"
    facts = cpu_facts()
    if not ({"avx512_bf16", "amx_bf16"} & facts.flags):
        assert settings["precision"] == "f32"  # no bf16 hardware: OpenVINO runs f32 whatever the hint
    else:
        assert settings["precision"] == "bf16"


def test_devices_and_files_openvino_refuses(tiny_onnx, tmp_path):
    with pytest.raises(EdgesegError, match=r"unknown OpenVINO device 'XPU': use openvino:CPU.*this machine has: "):
        OpenVinoBackend(tiny_onnx, device="XPU")
    import openvino

    if not any(d.startswith("NPU") for d in openvino.Core().available_devices):
        with pytest.raises(EdgesegError, match=r"OpenVINO finds no NPU on this machine \(it has: .*intel-npu-driver"):
            OpenVinoBackend(tiny_onnx, device="NPU")
    text = tmp_path / "notes.onnx"
    text.write_text("not a model\n")
    with pytest.raises(EdgesegError, match=r"OpenVINO cannot read .*notes.onnx as ONNX \(Model can't be parsed\)"):
        OpenVinoBackend(text)
    foreign = write_tiny_onnx(tmp_path / "foreign.onnx")
    import onnx

    proto = onnx.load(str(foreign))
    del proto.metadata_props[:]
    onnx.save(proto, str(foreign))
    with pytest.raises(EdgesegError, match=r"carries no edgeseg metadata.*edgeseg import"):
        OpenVinoBackend(foreign)


def test_reason_keeps_openvinos_last_line():
    error = RuntimeError("Exception from src/inference/src/cpp/core.cpp:84:\nCheck 'x' failed at y.cpp:1:\n"
                         "FrontEnd API failed with GeneralFailure:\nModel can't be parsed\n\n")  # fmt: skip
    assert reason(error) == "Model can't be parsed"


def test_provider_names():
    for good in ("cpu", "cuda", "tensorrt", "openvino", "openvino:GPU", "openvino:AUTO", "openvino:GPU.1"):
        check_provider(good)
    for bad in ("CPU", "openvino:", "ov", "onnxruntime"):
        with pytest.raises(EdgesegError, match="--provider must be one of"):
            check_provider(bad)
    with pytest.raises(EdgesegError, match="--precision must be one of f32, bf16, f16, got 'fp16'"):
        check_provider("openvino", "fp16")
    with pytest.raises(EdgesegError, match="--precision is OpenVINO's precision hint; --provider cpu is ONNX"):
        check_provider("cpu", "bf16")


def test_default_is_openvino_on_an_intel_cpu_and_explicit_provider_wins(tiny_onnx, tmp_path, monkeypatch):
    monkeypatch.delenv("EDGESEG_PROVIDER")
    (tmp_path / "intel").write_text(INTEL_CPUINFO)
    (tmp_path / "amd").write_text(AMD_CPUINFO)
    facts = parse_cpuinfo(INTEL_CPUINFO)
    assert facts.intel and facts.vnni and facts.amx
    assert facts.describe() == (
        "Intel(R) Xeon(R) Platinum 8480+: AVX2, AVX-512, AVX-512 VNNI, AVX-512 BF16, AMX, AMX-BF16, AMX-INT8"
    )
    assert parse_cpuinfo(AMD_CPUINFO).describe() == "AMD EPYC 7763 64-Core Processor: AVX2 (no AVX-512 VNNI, no AMX)"
    monkeypatch.setenv("EDGESEG_CPUINFO", str(tmp_path / "intel"))
    assert default_onnx_provider() == "openvino"  # this onnxruntime has no CUDA or TensorRT provider
    with open_model(tiny_onnx) as chosen, open_model(tiny_onnx, provider="cpu") as explicit:
        assert isinstance(chosen, OpenVinoBackend) and isinstance(explicit, OnnxRuntimeBackend)
    with open_model(tiny_onnx, precision="f32") as hinted:  # --precision alone follows the default backend
        assert hinted.settings["precision_hint"] == "f32"
    monkeypatch.setenv("EDGESEG_CPUINFO", str(tmp_path / "amd"))
    assert default_onnx_provider() is None
    with open_model(tiny_onnx) as chosen:
        assert isinstance(chosen, OnnxRuntimeBackend)
    with pytest.raises(EdgesegError, match="runs on ONNX Runtime here: add --provider openvino"):
        open_model(tiny_onnx, precision="bf16")
    monkeypatch.setenv("EDGESEG_PROVIDER", "openvino:AUTO")
    with open_model(tiny_onnx) as chosen:
        assert chosen.settings["device"] == "AUTO" and chosen.settings["execution_devices"] == ["CPU"]
    monkeypatch.setenv("EDGESEG_PROVIDER", "gpu")
    with pytest.raises(EdgesegError, match="EDGESEG_PROVIDER: --provider must be one of"):
        open_model(tiny_onnx)


def test_openvino_is_for_onnx_files(tiny_checkpoint):
    with pytest.raises(EdgesegError, match=r"--provider openvino is for \.onnx files \(OpenVINO\); best.pt"):
        open_model(tiny_checkpoint, provider="openvino")


def test_run_and_api_on_openvino(run_edgeseg, tiny_onnx, tmp_path, frames):
    images = write_images(tmp_path / "images", count=3)
    stats = tmp_path / "stats.json"
    done = run_edgeseg(
        "run", "--model", tiny_onnx, "--source", images, "--no-show", "--provider", "openvino:CPU",
        "--precision", "f32", "--save", tmp_path / "out", "--stats-json", stats,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    written = json.loads(stats.read_text())
    assert written["frames"] == 3 and written["backend"] == "OpenVinoBackend"
    assert written["backend_settings"]["precision_hint"] == "f32" and written["backend_settings"]["device"] == "CPU"
    saved = sorted((tmp_path / "out" / "masks").glob("*.png"))
    with edgeseg.load(tiny_onnx, provider="openvino", precision="f32") as seg:
        assert seg.backend_settings["backend"] == "OpenVinoBackend"
        for mask_file, image_file in zip(saved, sorted(images.glob("*.png"))):
            np.testing.assert_array_equal(np.asarray(Image.open(mask_file)), seg(image_file))  # a palette PNG
    bad = run_edgeseg("run", "--model", tiny_onnx, "--source", images, "--no-show", "--provider", "openvino:XPU")
    assert bad.returncode == 1 and bad.stderr.strip().splitlines()[-1].startswith("error: unknown OpenVINO device")
    assert "Traceback" not in bad.stderr
