"""The backends `edgeseg bench` knows, and why one cannot run here."""

from __future__ import annotations

from dataclasses import dataclass

from edgeseg.errors import MissingDependencyError


@dataclass(frozen=True)
class BenchBackend:
    name: str
    label: str
    framework: str  # torch, ort or trt
    device: str  # cpu or cuda
    precision: str  # fp32, fp16 or int8
    artifact: str  # the file it runs: the checkpoint (PyTorch) or what the exporter wrote
    provider: str | None = None  # ONNX Runtime provider

    @property
    def runs_in_runtime(self) -> bool:
        """`edgeseg run` can serve it, so its end-to-end throughput can be measured."""
        return self.framework in ("ort", "trt")


BACKENDS: dict[str, BenchBackend] = {
    b.name: b
    for b in (
        BenchBackend("torch", "PyTorch eager CPU FP32", "torch", "cpu", "fp32", "model.pt"),
        BenchBackend("torch-cuda", "PyTorch eager CUDA FP32", "torch", "cuda", "fp32", "model.pt"),
        BenchBackend("torch-cuda-fp16", "PyTorch eager CUDA FP16", "torch", "cuda", "fp16", "model.pt"),
        BenchBackend("ort", "ONNX Runtime CPU FP32", "ort", "cpu", "fp32", "model.onnx", "cpu"),
        BenchBackend("ort-int8", "ONNX Runtime CPU INT8 (QDQ)", "ort", "cpu", "int8", "model.int8.onnx", "cpu"),
        BenchBackend("ort-cuda", "ONNX Runtime CUDA FP32", "ort", "cuda", "fp32", "model.onnx", "cuda"),
        BenchBackend("ort-trt", "ONNX Runtime TensorRT EP", "ort", "cuda", "fp32", "model.onnx", "tensorrt"),
        BenchBackend("trt", "TensorRT engine FP16", "trt", "cuda", "fp16", "model.engine"),
        BenchBackend("trt-int8", "TensorRT engine INT8", "trt", "cuda", "int8", "model.int8.engine"),
    )
}


def unavailable_reason(backend: BenchBackend) -> str | None:
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
