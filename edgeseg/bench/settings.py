"""The settings `edgeseg bench --backends` names (framework × device × precision × the file it runs), and why one
cannot run here. Not inference backends: those are edgeseg.runtime.backends, which every setting runs through."""

from __future__ import annotations

from dataclasses import dataclass

from edgeseg.errors import MissingDependencyError


@dataclass(frozen=True)
class BackendSetting:
    """One value of --backends: what runs the model, where, in which precision, on which file."""

    name: str
    label: str
    framework: str  # torch, ort, openvino or trt
    device: str  # cpu or cuda
    precision: str  # fp32, fp16, bf16 or int8
    artifact: str  # the file it runs: the checkpoint (PyTorch) or what the exporter wrote
    provider: str | None = None  # --provider: an ONNX Runtime provider, or openvino:DEVICE
    precision_hint: str | None = None  # OpenVINO's --precision (None: the device's own)

    @property
    def runs_in_runtime(self) -> bool:
        """`edgeseg run` can serve it, so its end-to-end throughput can be measured."""
        return self.framework in ("ort", "openvino", "trt")


BACKENDS: dict[str, BackendSetting] = {
    b.name: b
    for b in (
        BackendSetting("torch", "PyTorch eager CPU FP32", "torch", "cpu", "fp32", "model.pt"),
        BackendSetting("torch-cuda", "PyTorch eager CUDA FP32", "torch", "cuda", "fp32", "model.pt"),
        BackendSetting("torch-cuda-fp16", "PyTorch eager CUDA FP16", "torch", "cuda", "fp16", "model.pt"),
        BackendSetting("ort", "ONNX Runtime CPU FP32", "ort", "cpu", "fp32", "model.onnx", "cpu"),
        BackendSetting("ort-int8", "ONNX Runtime CPU INT8 (QDQ)", "ort", "cpu", "int8", "model.int8.onnx", "cpu"),
        BackendSetting("ort-cuda", "ONNX Runtime CUDA FP32", "ort", "cuda", "fp32", "model.onnx", "cuda"),
        BackendSetting("ort-trt", "ONNX Runtime TensorRT EP", "ort", "cuda", "fp32", "model.onnx", "tensorrt"),
        # OpenVINO on the CPU: the FP32 file with f32 and bf16 hints (bf16 runs f32 on a CPU without AMX or
        # AVX-512 BF16; the row records what ran), and model.int8.onnx with the CPU's own default precision.
        BackendSetting("openvino", "OpenVINO CPU f32", "openvino", "cpu", "fp32", "model.onnx", "openvino:CPU", "f32"),
        BackendSetting(
            "openvino-bf16", "OpenVINO CPU bf16", "openvino", "cpu", "bf16", "model.onnx", "openvino:CPU", "bf16"
        ),
        BackendSetting(
            "openvino-int8", "OpenVINO CPU INT8 (QDQ)", "openvino", "cpu", "int8", "model.int8.onnx", "openvino:CPU"
        ),
        BackendSetting("trt", "TensorRT engine FP16", "trt", "cuda", "fp16", "model.engine"),
        BackendSetting("trt-int8", "TensorRT engine INT8", "trt", "cuda", "int8", "model.int8.engine"),
    )
}


def unavailable_reason(backend: BackendSetting) -> str | None:
    """None when `backend` can run on this machine, else why not (said in the report beside the skip)."""
    if backend.framework == "torch":
        import torch

        if backend.device == "cuda" and not torch.cuda.is_available():
            return f"no CUDA device visible to PyTorch (torch {torch.__version__})"
        return None
    if backend.framework == "ort":
        try:
            import onnxruntime
        except ImportError:
            return "onnxruntime is not installed (pip install 'edgeseg[export]')"
        from edgeseg.runtime.backends.onnxruntime import SHORT_NAMES

        wanted = SHORT_NAMES[backend.provider]
        if wanted not in onnxruntime.get_available_providers():
            return (
                f"this onnxruntime {onnxruntime.__version__} has no {wanted} "
                f"(it has {', '.join(onnxruntime.get_available_providers())}; onnxruntime-gpu adds CUDA and TensorRT)"
            )
        return None
    if backend.framework == "openvino":
        try:
            import openvino
        except ImportError:
            return "openvino is not installed (pip install 'edgeseg[openvino]')"
        device = (backend.provider or "openvino:CPU").partition(":")[2]
        if device not in openvino.Core().available_devices:
            return f"OpenVINO {openvino.get_version().split('-')[0]} finds no {device} here"
        return None
    from edgeseg.runtime.backends.tensorrt import import_tensorrt
    from edgeseg.runtime.cuda import cuda_api

    try:
        import_tensorrt()
        cuda_api().device()  # engines need CUDA memory calls too (cuda-python or PyCUDA) and a GPU
    except MissingDependencyError as exc:
        return str(exc)
    except Exception as exc:
        return f"TensorRT is installed but no CUDA device answers ({exc})"
    return None
