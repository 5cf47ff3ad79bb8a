"""`edgeseg doctor`: what edgeseg can use on this machine, and what to do about each missing piece.

Every probe is read-only and imports nothing heavy it does not report on: torch is looked up in the
installed distributions, never imported. Hints come from `install_hint`, so they are the same ones
edgeseg's errors give (JetPack's packages on a Jetson).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from edgeseg.errors import EdgesegError, install_hint
from edgeseg.runtime.gpu import GpuFacts, gpu_facts
from edgeseg.runtime.jetson import JetsonRelease, jetson_release
from edgeseg.runtime.stream_url import HARDWARE, SOFTWARE, gst_element_exists

OK, MISSING, WARN, INFO = "ok", "missing", "warning", "info"
MIN_TENSORRT = (8, 5)


@dataclass
class Check:
    name: str
    status: str  # ok, missing, warning, info
    found: str
    hint: str = ""


@dataclass
class Report:
    jetson: JetsonRelease | None
    gpu: GpuFacts | None
    checks: list[Check] = field(default_factory=list)
    run_path: str = ""  # what `edgeseg run` would use here, or "" when nothing can run a model
    model: Check | None = None

    @property
    def ok(self) -> bool:
        return bool(self.run_path) and (self.model is None or self.model.status in (OK, WARN))

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "run_path": self.run_path or None,
            "jetson": asdict(self.jetson) if self.jetson else None,
            "gpu": asdict(self.gpu) if self.gpu else None,
            "checks": [asdict(c) for c in self.checks],
            "model": asdict(self.model) if self.model else None,
        }


def _version(distribution: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _import(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except Exception:  # an ImportError, or a broken install that fails while importing
        return None


def _major_minor(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:2] if part.isdigit())


def check_python(jetson: JetsonRelease | None) -> Check:
    here = "{}.{}.{}".format(*sys.version_info[:3])
    if jetson and jetson.python not in ("unknown", "{}.{}".format(*sys.version_info[:2])):
        hint = f"JetPack {jetson.jetpack}'s TensorRT and OpenCV bindings are for Python {jetson.python}: use python3"
        return Check("python", WARN, here, hint)
    return Check("python", OK, here)


def check_numpy(jetson: JetsonRelease | None) -> Check:
    numpy = _import("numpy")
    if numpy is None:
        return Check("numpy", MISSING, "not installed", "pip install 'numpy<2'" if jetson else "pip install numpy")
    if jetson and _major_minor(numpy.__version__) >= (2,):
        hint = "JetPack's cv2 and tensorrt are built for NumPy 1.x: pip install 'numpy<2'"
        return Check("numpy", WARN, numpy.__version__, hint)
    return Check("numpy", OK, numpy.__version__)


def check_opencv(jetson: JetsonRelease | None) -> Check:
    cv2 = _import("cv2")
    if cv2 is None:
        return Check("opencv", MISSING, "not installed", install_hint("cv2", "cv"))
    info = cv2.getBuildInformation()
    gstreamer = any("GStreamer" in line and "YES" in line for line in info.splitlines())
    found = f"{cv2.__version__}, GStreamer {'yes' if gstreamer else 'no'}"
    if not gstreamer:
        if jetson:
            return Check("opencv", WARN, found, "csi:// cameras need GStreamer: " + install_hint("cv2", "cv"))
        return Check("opencv", INFO, found, "csi:// and GStreamer pipelines need an OpenCV built with GStreamer")
    return Check("opencv", OK, found)


def _opencv_gstreamer() -> str | None:
    """OpenCV's own line on GStreamer ("YES (1.20.3)", "NO"), or None without OpenCV."""
    cv2 = _import("cv2")
    if cv2 is None:
        return None
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GStreamer:"):
            return line.split(":", 1)[1].strip()
    return "NO"


def check_stream_encoders(
    jetson: JetsonRelease | None, exists: Callable[[str], bool | None] = gst_element_exists
) -> Check:
    """The H.264 encoders `--save rtsp://… / rtp:// / udp://` can use: GStreamer's (gst-inspect-1.0), through OpenCV."""
    found = {HARDWARE: exists(HARDWARE), SOFTWARE: exists(SOFTWARE)}
    if None in found.values():
        listed = "encoders unknown (no gst-inspect-1.0)"
    else:
        listed = ", ".join(f"{e}{' (hardware)' if e == HARDWARE else ''}" for e, ok in found.items() if ok) or "none"
    in_opencv = _opencv_gstreamer()
    if not in_opencv or not in_opencv.upper().startswith("YES"):
        hint = "--save rtsp:// rtp:// udp:// need an OpenCV built with GStreamer"
        hint += ": " + install_hint("cv2", "cv") if jetson else " (not pip's opencv-python)"
        return Check("stream encoders", INFO, f"{listed}; OpenCV without GStreamer", hint)
    found_text = f"{listed}; OpenCV GStreamer {in_opencv}"
    if None in found.values():
        return Check("stream encoders", INFO, found_text, "sudo apt-get install gstreamer1.0-tools to list them")
    if not any(found.values()):
        hint = "sudo apt-get install gstreamer1.0-plugins-ugly (x264enc)" + (
            "; the Orin Nano has no hardware encoder" if jetson else ""
        )
        return Check("stream encoders", WARN, found_text, hint)
    return Check("stream encoders", OK, found_text)


def check_tensorrt() -> tuple[Check, Any]:
    trt = _import("tensorrt")
    if trt is None:
        return Check("tensorrt", MISSING, "not installed", install_hint("tensorrt")), None
    version = str(trt.__version__)
    if _major_minor(version) < MIN_TENSORRT:
        return Check("tensorrt", MISSING, f"{version} (< 8.5)", "edgeseg needs TensorRT ≥ 8.5 (named tensors)"), None
    return Check("tensorrt", OK, f"{version} (≥ 8.5)"), trt


def check_cuda_binding(gpu: GpuFacts | None) -> Check:
    """cuda-python (preferred) or pycuda, as `edgeseg.runtime.cuda.cuda_api` picks them: cuda-python only where it
    is built for the driver's CUDA major or an older one (cuda-bindings 12.x runs on every CUDA 12 driver by CUDA's
    minor-version compatibility; 13.x links the CUDA 13 runtime and fails on a CUDA 12 driver)."""
    cuda_python = _version("cuda-python") or _version("cuda-bindings")
    pycuda = _version("pycuda")
    pycuda = pycuda if pycuda and importlib.util.find_spec("pycuda") is not None else None
    if cuda_python and (_import("cuda.bindings.runtime") or _import("cuda.cudart")):
        found = f"cuda-python {cuda_python}" + (f", driver CUDA {gpu.driver_cuda}" if gpu else "")
        major = _major_minor(cuda_python)[:1]
        if gpu is None or major <= _major_minor(gpu.driver_cuda)[:1]:
            return Check("cuda binding", OK, found)
        pip = f"pip install 'cuda-python=={gpu.driver_cuda}.*'"
        built = f"cuda-python {cuda_python} is built for CUDA {major[0]}"
        if pycuda:
            return Check(
                "cuda binding",
                WARN,
                f"{found}, pycuda {pycuda}",
                f"{built}, so edgeseg uses pycuda {pycuda}; for cuda-python: {pip}",
            )
        return Check("cuda binding", MISSING, found, f"{built}: {pip}")
    if pycuda:
        return Check("cuda binding", OK, f"pycuda {pycuda}")
    return Check("cuda binding", MISSING, "neither cuda-python nor pycuda", install_hint("cuda"))


def check_gpu(gpu: GpuFacts | None, jetson: JetsonRelease | None) -> Check:
    if gpu is None:
        if jetson:  # a Jetson always has its GPU: the driver library is what is missing
            hint = "JetPack's CUDA driver is not visible: in a container, run it with --runtime nvidia"
        else:
            hint = "TensorRT engines need an NVIDIA GPU and its driver"
        return Check("gpu", MISSING, "none (no CUDA driver, libcuda.so.1)", hint)
    kind = "integrated: zero-copy buffers" if gpu.integrated else "discrete"
    return Check("gpu", OK, f"{gpu.name}, compute {gpu.capability}, {kind}, driver CUDA {gpu.driver_cuda}")


def check_dla(trt: Any, gpu: GpuFacts | None) -> Check:
    if trt is None or gpu is None:
        return Check("dla cores", INFO, "unknown (needs TensorRT and a GPU)")
    builder = trt.Builder(trt.Logger(trt.Logger.WARNING))
    cores = int(builder.num_DLA_cores)
    return Check("dla cores", INFO, f"{cores} (--dla-core 0…{cores - 1})" if cores else "0")


def check_onnxruntime(jetson: JetsonRelease | None) -> Check:
    ort = _import("onnxruntime")
    if ort is None:
        hint = install_hint("onnxruntime", "export")
        return Check("onnxruntime", INFO, "not installed (only to run .onnx directly)", hint)
    providers = ", ".join(p.replace("ExecutionProvider", "") for p in ort.get_available_providers())
    return Check("onnxruntime", OK, f"{ort.__version__} ({providers})")


def check_openvino(jetson: JetsonRelease | None) -> Check:
    """OpenVINO (optional: .onnx files on Intel CPUs, GPUs and NPUs) and the devices its plugins find here."""
    ov = _import("openvino")
    if ov is None and jetson:
        return Check("openvino", INFO, "not installed (Intel hardware only; a Jetson runs TensorRT)")
    if ov is None:
        return Check(
            "openvino", INFO, "not installed (optional: Intel CPUs, GPUs, NPUs)", install_hint("openvino", "openvino")
        )
    try:
        devices = ", ".join(ov.Core().available_devices) or "no device"
    except Exception as exc:  # a plugin that fails to load its library
        return Check("openvino", WARN, ov.get_version().split("-")[0], f"its devices cannot be listed ({exc})")
    return Check("openvino", OK, f"{ov.get_version().split('-')[0]} (devices: {devices})")


def check_cpu() -> Check:
    """The CPU and the instruction sets OpenVINO's bf16 and INT8 speed depend on (AVX-512 VNNI, AMX)."""
    from edgeseg.runtime.cpu import cpu_facts

    facts = cpu_facts()
    if not facts.intel or not facts.flags:
        return Check("cpu", INFO, facts.describe())
    if facts.amx:
        hint = "OpenVINO runs bf16 (its default here) and INT8 on AMX: edgeseg run --model model.int8.onnx"
    elif facts.vnni:
        hint = "no AMX: OpenVINO's INT8 (model.int8.onnx) uses VNNI; bf16 runs as f32"
    else:
        hint = "no VNNI or AMX: OpenVINO runs model.int8.onnx with 7-bit weights (8 bits saturate); bf16 runs as f32"
    return Check("cpu", INFO, facts.describe(), hint)


def check_torch(jetson: JetsonRelease | None) -> Check:
    version = _version("torch")  # looked up, not imported: importing torch takes seconds and is not needed here
    if version is None:
        return Check("torch", INFO, "not installed (optional: training and export from a checkpoint)")
    return Check("torch", OK, version)


def check_cameras(devices: str = "/dev") -> Check:
    cameras = sorted(str(p) for p in Path(devices).glob("video*"))
    if not cameras:
        return Check("cameras", INFO, "no /dev/video* devices (csi:// cameras need nvargus-daemon)")
    return Check("cameras", OK, ", ".join(cameras))


def _check_engine(path: Path, trt: Any, gpu: GpuFacts | None, binding: Check) -> Check:
    from edgeseg.runtime.engine_sidecar import check_compatible, read_sidecar

    try:
        sidecar = read_sidecar(path)
    except EdgesegError as exc:
        return Check("model", MISSING, path.name, str(exc))
    built = f"{path.name}: TensorRT {sidecar.get('tensorrt')} engine for compute {sidecar.get('compute_capability')}"
    if trt is None:
        return Check("model", MISSING, built, "no TensorRT here: " + install_hint("tensorrt"))
    if gpu is None:
        return Check("model", MISSING, built, "no NVIDIA GPU here")
    try:
        warnings = check_compatible(path, sidecar, str(trt.__version__), gpu.name, gpu.capability)
    except EdgesegError as exc:
        return Check("model", MISSING, built, str(exc))
    if binding.status == MISSING:
        return Check("model", MISSING, built, binding.hint)
    return Check("model", WARN if warnings else OK, built + ", fits this TensorRT and GPU", "; ".join(warnings))


def _check_onnx(path: Path, trt: Any) -> Check:
    from edgeseg.runtime.backends import open_model

    build = f"; build its engine here: edgeseg export {path.name}" if trt is not None else ""
    try:
        backend = open_model(path)
    except EdgesegError as exc:
        return Check("model", MISSING, path.name, str(exc))
    meta = backend.metadata
    with backend:
        settings = backend.settings
    if "openvino" in settings:
        runs_on = f"OpenVINO {settings['device']} ({settings['precision']})"
    else:
        runs_on = "ONNX Runtime " + str(settings.get("provider", "")).replace("ExecutionProvider", "")
    size = "x".join(str(s) for s in meta.input_size)
    found = f"{path.name}: {meta.num_classes} classes, input {size}, runs on {runs_on}"
    return Check("model", OK, found, build.lstrip("; "))


def check_model(path: Path, trt: Any, gpu: GpuFacts | None, binding: Check) -> Check:
    """Whether `edgeseg run --model path` can load it here, and what to do if not."""
    if not path.is_file():
        return Check("model", MISSING, f"{path} not found")
    suffix = path.suffix.lower()
    if suffix in (".engine", ".plan"):
        return _check_engine(path, trt, gpu, binding)
    if suffix == ".onnx":
        return _check_onnx(path, trt)
    if suffix in (".pt", ".pth"):
        if _version("torch") is None:
            return Check("model", MISSING, path.name, f"a checkpoint needs PyTorch: {install_hint('torch', 'train')}")
        return Check("model", OK, f"{path.name}: runs with PyTorch (export it for speed: edgeseg export {path.name})")
    return Check("model", MISSING, path.name, "--model must be a .engine/.plan, .onnx or .pt file")


def _run_path(checks: dict[str, Check]) -> str:
    if any(checks[name].status == MISSING for name in ("python", "numpy", "opencv")):
        return ""
    paths = []
    if all(checks[name].status != MISSING for name in ("tensorrt", "cuda binding", "gpu")):
        paths.append("TensorRT (.engine)")
    if checks["onnxruntime"].status == OK:
        paths.append("ONNX Runtime (.onnx)")
    if checks["openvino"].status == OK:
        paths.append("OpenVINO (.onnx)")
    return ", ".join(paths)


def diagnose(model: Path | None = None, probe_gpu: Callable[[], GpuFacts | None] = gpu_facts) -> Report:
    """Probe this machine (and `model`, if given) the way `edgeseg run` and `edgeseg export` would use it."""
    jetson, gpu = jetson_release(), probe_gpu()
    tensorrt, trt = check_tensorrt()
    checks = [
        check_python(jetson),
        check_numpy(jetson),
        check_opencv(jetson),
        tensorrt,
        check_cuda_binding(gpu),
        check_gpu(gpu, jetson),
        check_dla(trt, gpu),
        check_onnxruntime(jetson),
        check_openvino(jetson),
        check_cpu(),
        check_torch(jetson),
        check_cameras(),
        check_stream_encoders(jetson),
    ]
    by_name = {c.name: c for c in checks}
    report = Report(jetson, gpu, checks, _run_path(by_name))
    if model is not None:
        report.model = check_model(model, trt, gpu, by_name["cuda binding"])
    return report


def format_report(report: Report) -> str:
    """The report as a plain-text table (one row per component) and a verdict line."""
    if report.jetson:
        where = f"a Jetson: JetPack {report.jetson.jetpack} (Jetson Linux {report.jetson.l4t})"
    else:
        where = "not a Jetson"
    rows = [*report.checks, *([report.model] if report.model else [])]
    width = [max(len(r.name) for r in rows), max(len(r.status) for r in rows), max(len(r.found) for r in rows)]
    header = f"{'component':<{width[0]}}  {'status':<{width[1]}}  {'found':<{width[2]}}  what to do"
    lines = [f"edgeseg doctor: {where}", "", header]
    for r in rows:
        lines.append(f"{r.name:<{width[0]}}  {r.status:<{width[1]}}  {r.found:<{width[2]}}  {r.hint}".rstrip())
    lines.append("")
    if report.ok:
        lines.append(f"edgeseg run works here with: {report.run_path}")
    elif not report.run_path:
        lines.append("edgeseg run cannot run a model here: fix the rows marked missing")
    else:
        lines.append(f"edgeseg run works here with {report.run_path}, but not with this model (see the model row)")
    return "\n".join(lines)
