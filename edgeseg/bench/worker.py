"""One measurement in a fresh process: `python -m edgeseg.bench.worker < job.json` prints one JSON result.

A process per measurement keeps them apart: its peak memory is its own, thread pools and allocator
caches of the previous backend do not linger, and ONNX Runtime jobs never import torch.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def rss_mb() -> float:
    """Resident memory now (Linux), or the peak so far where /proc is absent."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return peak_rss_mb()


def peak_rss_mb() -> float:
    """Peak resident memory of this process. Linux: VmHWM, which starts afresh at exec; getrusage's
    ru_maxrss would not do, as a child inherits the parent's peak across fork and exec."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**10
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB elsewhere


def latency_stats(seconds: list[float], batch: int) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000
    return {
        "mean_ms": float(ms.mean()),
        "p50_ms": float(np.percentile(ms, 50)),
        "p90_ms": float(np.percentile(ms, 90)),
        "p99_ms": float(np.percentile(ms, 99)),
        "min_ms": float(ms.min()),
        "throughput_ips": float(batch * 1000 / ms.mean()),
    }


def time_calls(call: Callable[[], Any], runs: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        call()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def open_job_model(job: dict[str, Any], spin: bool = True) -> Any:
    """The bench's one way to open what it measures: `open_model`, as `edgeseg run` does, on the checkpoint or
    the exported file; the backend carries its `metadata`."""
    from edgeseg.runtime.backends import open_model

    return open_model(
        job["artifact"],
        provider=job["provider"],
        threads=job["threads"],
        spin=spin,
        precision=job.get("precision_hint"),
    )


def _random_input(job: dict[str, Any]) -> np.ndarray:
    shape = (job["batch"], 3, job["size"], job["size"])
    return np.random.default_rng(0).standard_normal(shape).astype(np.float32)


def _runner(job: dict[str, Any]) -> tuple[Any, Callable[[], Any], Callable[[], dict[str, Any]]]:
    """(backend, one timed inference, what it held on the GPU). Host to host, as an application pays it:
    NumPy in, NumPy out, copies included."""
    backend = open_job_model(job)
    wanted = job["provider"] and _ort_provider(job["provider"])
    if wanted and backend.provider != wanted:  # ONNX Runtime falls back to the CPU when a GPU provider fails
        backend.close()
        raise RuntimeError(f"ONNX Runtime could not start {wanted} here and fell back to {backend.provider}")
    x = _random_input(job)
    memory: Callable[[], dict[str, Any]] = dict
    if job["framework"] == "torch":
        memory = _torch_memory(job)
        if job["precision"] == "fp16":  # PyTorch eager FP16: the weights and the input in half precision
            backend.model.half()
            x = x.astype(np.float16)
    inputs = {backend.input_names[0]: x}
    return backend, lambda: backend.infer(inputs), memory


def _ort_provider(short: str) -> str | None:
    from edgeseg.runtime.backends.onnxruntime import SHORT_NAMES

    return SHORT_NAMES.get(short)


def _set_up_torch(job: dict[str, Any]) -> None:
    """Before torch is imported, what `open_model` is not told for a checkpoint: the threads, and the device
    (PyTorch takes the GPU when it sees one, so a CPU measurement hides it from this process)."""
    if job["device"] == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    import torch

    if job["threads"]:
        torch.set_num_threads(job["threads"])
    if job["device"] == "cuda":
        torch.backends.cudnn.benchmark = True


def _torch_memory(job: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    import torch

    if job["device"] != "cuda":
        return dict
    torch.cuda.reset_peak_memory_stats()
    return lambda: {"gpu_peak_mb": torch.cuda.max_memory_allocated() / 2**20}


def end_to_end(job: dict[str, Any]) -> dict[str, Any]:
    """`edgeseg run`'s pipeline (decode, pre-process, infer, post-process, overlay) over the video."""
    from edgeseg.runtime.loop import RunLoop
    from edgeseg.runtime.render import Renderer
    from edgeseg.runtime.segmenter import Segmenter
    from edgeseg.runtime.sinks import NullSink
    from edgeseg.runtime.sources import open_source

    # As `edgeseg run` opens it: idle ONNX Runtime threads do not spin, decoding and rendering need the cores.
    backend = open_job_model(job, spin=False)
    with backend:
        renderer = Renderer(backend.metadata.class_names, backend.metadata.palette)
        segmenter = Segmenter(backend)
        # One untimed inference first, as the raw measurement had its warm-up: steady state against steady state.
        segmenter.infer(np.zeros((1, 3, job["size"], job["size"]), np.float32))
        source = open_source(job["video"])
        sinks = [NullSink(draw=True)]  # the overlay is drawn, as a display or a video would
        summary = RunLoop(source, segmenter, renderer, sinks, max_frames=job["e2e_frames"]).run().summary()
    return {"e2e_fps": summary["fps"], "e2e_frames": summary["frames"], "e2e_stages": summary["stages"]}


def host_costs(job: dict[str, Any]) -> dict[str, Any]:
    """What the host pays per frame around inference, one step at a time on one thread (no pipeline
    overlap to blur it): pre-processing, post-processing (argmax unless in the graph, un-letterbox), and
    the overlay, each over the video's frames; their p50s add up to `host_ms`."""
    import cv2

    from edgeseg.runtime.render import Renderer
    from edgeseg.runtime.segmenter import Segmenter

    capture = cv2.VideoCapture(job["video"])
    frames = []
    while len(frames) < job["e2e_frames"]:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    if not frames:
        raise RuntimeError(f"no frames could be read from {job['video']}")
    backend = open_job_model(job)
    times: dict[str, list[float]] = {"pre": [], "post": [], "render": []}
    with backend:
        segmenter = Segmenter(backend)
        renderer = Renderer(backend.metadata.class_names, backend.metadata.palette)
        for index, frame in enumerate([frames[0], *frames]):  # the first frame warms up, untimed
            start = time.perf_counter()
            tensor, placement = segmenter.prepare(frame)
            prepared = time.perf_counter()
            output = segmenter.infer(tensor)
            inferred = time.perf_counter()
            mask = segmenter.finish(output, placement)
            finished = time.perf_counter()
            renderer.draw(frame, mask, "12.3 FPS | infer 45.6 ms")
            drawn = time.perf_counter()
            if index:
                times["pre"].append(prepared - start)
                times["post"].append(finished - inferred)
                times["render"].append(drawn - finished)
    p50 = {stage: float(np.percentile(np.asarray(values) * 1000, 50)) for stage, values in times.items()}
    return {
        "host_frames": len(frames),
        "frame_size": [int(frames[0].shape[0]), int(frames[0].shape[1])],
        **{f"host_{stage}_ms": value for stage, value in p50.items()},
        "host_ms": sum(p50.values()),
    }


def gemm_peak(device: str, threads: int | None) -> float:
    """GFLOP/s of large FP32 matrix products, the best of several: the practical peak rows are compared to.

    On the CPU both PyTorch's and ONNX Runtime's kernels are tried, as either may be the faster here.
    """
    import torch

    if threads:
        torch.set_num_threads(threads)
    best = 0.0
    for n in (1024, 2048) if device == "cpu" else (4096, 8192):
        a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)

        def call(a=a, b=b) -> None:
            a @ b
            if device == "cuda":
                torch.cuda.synchronize()

        best = max(best, 2 * n**3 / min(time_calls(call, runs=5, warmup=2)) / 1e9)
    if device == "cpu":
        best = max(best, _onnxruntime_gemm(threads))
    return best


def _onnxruntime_gemm(threads: int | None, n: int = 2048) -> float:
    try:
        import onnxruntime
        from onnx import TensorProto, helper
    except ImportError:
        return 0.0
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["c"])],
        "gemm",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, [n, n]) for name in "ab"],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(model.SerializeToString(), options, ["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feed = {name: rng.standard_normal((n, n)).astype(np.float32) for name in "ab"}
    return 2 * n**3 / min(time_calls(lambda: session.run(None, feed), runs=5, warmup=2)) / 1e9


_FRAMEWORK_MODULES = {"torch": "torch", "ort": "onnxruntime", "openvino": "openvino", "trt": "tensorrt"}


def measure(job: dict[str, Any]) -> dict[str, Any]:
    if job["kind"] == "gemm":
        return {"gflops": gemm_peak(job["device"], job["threads"])}
    if job["framework"] == "torch":
        _set_up_torch(job)
    __import__(_FRAMEWORK_MODULES[job["framework"]])
    baseline = rss_mb()  # after the framework's import: memory is what the model and its inference add
    backend, call, memory = _runner(job)
    with backend:
        result = latency_stats(time_calls(call, job["runs"], job["warmup"]), job["batch"])
        result.update(memory())
        if job["framework"] == "openvino":  # the precision the compiled model runs in, not only the hint
            result["backend_settings"] = backend.settings
    result["peak_rss_mb"] = peak_rss_mb()
    result["memory_mb"] = result["peak_rss_mb"] - baseline
    if job.get("video") and job["e2e_frames"]:
        try:
            result.update(host_costs(job))
            result.update(end_to_end(job))
        except Exception as exc:  # the raw numbers stand; say why the end-to-end one is missing
            from edgeseg.errors import describe

            result["e2e_error"] = describe(exc)
        else:
            result["e2e_ratio"] = result["e2e_fps"] / result["throughput_ips"]
    return result


def main() -> None:
    job = json.loads(sys.stdin.read())
    try:
        result = measure(job)
    except Exception as exc:  # reported as this row's error; the suite goes on with the next
        from edgeseg.errors import describe

        result = {"error": describe(exc)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
