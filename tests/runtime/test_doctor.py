"""`edgeseg doctor` and the install hints it shares with every missing-dependency error.

This machine has no GPU and no TensorRT; a Jetson is simulated by pointing EDGESEG_TEGRA_RELEASE at a
copy of the /etc/nv_tegra_release file Jetson Linux writes.
"""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest

from edgeseg.errors import MissingDependencyError, install_hint, require
from edgeseg.runtime.cpu import cpu_facts
from edgeseg.runtime.jetson import TEGRA_RELEASE_ENV, jetson_release

from ..export.fake_cuda import FakeLibCuda
from ..export.tiny_onnx import write_images, write_tiny_onnx

# The first line of /etc/nv_tegra_release on each JetPack.
JETPACK_6_1 = "# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, DATE: Wed Jan  8 2025\n"
JETPACK_6_0 = "# R36 (release), REVISION: 3.0, GCID: 36191598, BOARD: generic, EABI: aarch64, DATE: Mon May  6 2024\n"
JETPACK_5_1 = "# R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref, EABI: aarch64, DATE: Tue Aug  1 2023\n"
OPENVINO = importlib.util.find_spec("openvino") is not None
RUN_PATH = "ONNX Runtime (.onnx)" + (", OpenVINO (.onnx)" if OPENVINO else "")
PIP_HINTS = ("pip install opencv-python", "edgeseg[gpu]", "pip install tensorrt", "edgeseg[cv]")


@pytest.fixture
def jetson(tmp_path, monkeypatch):
    """Make this machine look like a Jetson on the JetPack whose release file text is passed."""

    def on(release_text: str) -> None:
        path = tmp_path / "nv_tegra_release"
        path.write_text(release_text)
        monkeypatch.setenv(TEGRA_RELEASE_ENV, str(path))

    return on


@pytest.fixture(autouse=True)
def _not_a_jetson(tmp_path, monkeypatch):
    monkeypatch.setenv(TEGRA_RELEASE_ENV, str(tmp_path / "absent"))  # even on a real Jetson, start from "no"


def _doctor(run_edgeseg, *args):
    result = run_edgeseg("doctor", "--json", *args)
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    return result.returncode, report, {c["name"]: c for c in report["checks"]}


def test_doctor_table_here(run_edgeseg):
    result = run_edgeseg("doctor")
    assert result.returncode == 0, result.stdout + result.stderr  # ONNX Runtime and OpenCV run models here
    lines = result.stdout.splitlines()
    assert lines[0] == "edgeseg doctor: not a Jetson"
    names = ("python", "numpy", "opencv", "tensorrt", "cuda binding", "gpu", "dla cores", "onnxruntime", "openvino")
    for name in (*names, "cpu", "torch"):
        assert any(line.startswith(name + " ") for line in lines), name
    tensorrt = next(line for line in lines if line.startswith("tensorrt "))
    assert "missing" in tensorrt and "pip install tensorrt" in tensorrt
    assert lines[-1] == f"edgeseg run works here with: {RUN_PATH}"


def test_doctor_json_here(run_edgeseg):
    code, report, checks = _doctor(run_edgeseg)
    assert code == 0 and report["ok"] and report["jetson"] is None and report["gpu"] is None
    assert checks["tensorrt"]["status"] == "missing" and checks["gpu"]["status"] == "missing"
    assert checks["onnxruntime"]["status"] == "ok" and "CPU" in checks["onnxruntime"]["found"]
    assert report["run_path"] == RUN_PATH
    if OPENVINO:
        assert checks["openvino"]["status"] == "ok" and "devices: CPU" in checks["openvino"]["found"]
    else:
        assert checks["openvino"]["status"] == "info" and "edgeseg[openvino]" in checks["openvino"]["hint"]
    assert checks["cpu"]["status"] == "info" and cpu_facts().model in checks["cpu"]["found"]


def test_doctor_names_the_cpus_vnni_and_amx(run_edgeseg, tmp_path, monkeypatch):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "vendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Gold 6248\nflags\t\t: avx2 avx512f avx512_vnni\n"
    )
    monkeypatch.setenv("EDGESEG_CPUINFO", str(cpuinfo))
    _, _, checks = _doctor(run_edgeseg)
    assert checks["cpu"]["found"] == "Intel(R) Xeon(R) Gold 6248: AVX2, AVX-512, AVX-512 VNNI (no AMX)"
    assert checks["cpu"]["hint"] == "no AMX: OpenVINO's INT8 (model.int8.onnx) uses VNNI; bf16 runs as f32"
    cpuinfo.write_text(cpuinfo.read_text().replace("avx512_vnni", "avx512_vnni amx_tile amx_bf16 amx_int8"))
    _, _, checks = _doctor(run_edgeseg)
    assert "AMX, AMX-BF16, AMX-INT8" in checks["cpu"]["found"] and "bf16 (its default here)" in checks["cpu"]["hint"]


def test_doctor_on_jetpack_6_names_jetpacks_packages(run_edgeseg, jetson):
    jetson(JETPACK_6_1)
    _, report, checks = _doctor(run_edgeseg)
    assert report["jetson"] == {"l4t": "36.4.3", "jetpack": "6.1/6.2", "cuda": "12.6", "python": "3.10"}
    assert "sudo apt-get install python3-libnvinfer" in checks["tensorrt"]["hint"]
    assert "pip install 'cuda-python==12.6.*'" in checks["cuda binding"]["hint"]
    assert checks["opencv"]["status"] == "warning" and "nvidia-opencv" in checks["opencv"]["hint"]
    text = run_edgeseg("doctor").stdout
    assert "JetPack 6.1/6.2 (Jetson Linux 36.4.3)" in text
    assert not [hint for hint in PIP_HINTS if hint in text]


def test_doctor_on_jetpack_5(run_edgeseg, jetson):
    jetson(JETPACK_5_1)
    _, report, checks = _doctor(run_edgeseg)
    assert report["jetson"]["jetpack"] == "5.1.x" and report["jetson"]["python"] == "3.8"
    assert checks["cuda binding"]["hint"].startswith("pip install pycuda")  # cuda-python has no CUDA 11.4 release
    if sys.version_info[:2] == (3, 8):
        assert checks["python"]["status"] == "ok"
    else:  # JetPack 5's TensorRT and OpenCV bindings exist for its Python 3.8 only
        assert checks["python"]["status"] == "warning" and "Python 3.8" in checks["python"]["hint"]


def test_errors_give_the_hint_doctor_gives(run_edgeseg, jetson, tmp_path):
    jetson(JETPACK_6_1)
    _, _, checks = _doctor(run_edgeseg)
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"engine")
    sidecar = {"tensorrt": "10.3.0", "gpu": "Orin", "compute_capability": "8.7", "class_names": ["a"], "palette": []}
    (tmp_path / "model.engine.json").write_text(json.dumps(sidecar))
    frames = write_images(tmp_path / "frames", count=1)
    result = run_edgeseg("run", "--model", engine, "--source", frames, "--no-show")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == f"error: TensorRT is not installed; install it with: {checks['tensorrt']['hint']}"


def test_doctor_model_engine_that_cannot_load_here(run_edgeseg, tmp_path):
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"engine")
    (tmp_path / "model.engine.json").write_text(json.dumps({"tensorrt": "8.6.2", "compute_capability": "8.7"}))
    code, report, _ = _doctor(run_edgeseg, "--model", engine)
    assert code == 1 and not report["ok"] and report["model"]["status"] == "missing"
    assert "TensorRT 8.6.2 engine for compute 8.7" in report["model"]["found"]
    assert "no TensorRT here" in report["model"]["hint"]
    code, report, _ = _doctor(run_edgeseg, "--model", tmp_path / "absent.engine")
    assert code == 1 and "not found" in report["model"]["found"]


def test_doctor_model_onnx_that_runs_here(run_edgeseg, tmp_path):
    model = write_tiny_onnx(tmp_path / "model.onnx")
    code, report, _ = _doctor(run_edgeseg, "--model", model)
    assert code == 0 and report["model"]["status"] == "ok"
    assert "3 classes, input 32x32, runs on ONNX Runtime CPU" in report["model"]["found"]


def test_doctor_works_without_torch_or_tensorrt(run_python_without):
    result = run_python_without(
        "import sys\n"
        "sys.argv = ['edgeseg', 'doctor', '--json']\n"
        "from edgeseg.cli import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exit:\n"
        "    print('exit', exit.code, 'torch imported:', 'torch' in sys.modules)\n",
        blocked=("torch", "torchvision", "tensorrt"),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "exit 0 torch imported: False"


def test_gpu_facts_and_the_gpu_row_from_libcuda(monkeypatch):
    from edgeseg.runtime import gpu
    from edgeseg.runtime.doctor import diagnose

    monkeypatch.setattr(gpu, "load_libcuda", lambda: FakeLibCuda("Orin", (8, 7), integrated=True, driver=12060))
    facts = gpu.gpu_facts()
    assert facts == gpu.GpuFacts("Orin", "8.7", True, "12.6")
    rows = {c.name: c for c in diagnose(probe_gpu=lambda: facts).checks}
    assert rows["gpu"].status == "ok" and "compute 8.7, integrated" in rows["gpu"].found


def test_install_hints(jetson):
    assert jetson_release() is None
    assert install_hint("cv2", "cv") == "pip install 'edgeseg[cv]'"
    with pytest.raises(MissingDependencyError, match=r"install it with: pip install 'edgeseg\[export\]'$"):
        require("edgeseg_no_such_module", "export")
    jetson(JETPACK_6_0)
    assert jetson_release().jetpack == "6.0"
    assert install_hint("cuda") == "pip install 'cuda-python==12.2.*' (the CUDA of JetPack 6.0)"
    assert "python3-libnvinfer" in install_hint("tensorrt")
    with pytest.raises(MissingDependencyError, match=r"pip install 'edgeseg\[export\]' 'numpy<2'$"):
        require("edgeseg_no_such_module", "export")
    assert install_hint("PIL", "train") == "pip install pillow 'numpy<2'"  # the train extra is empty on JetPack 5
    jetson("a file Jetson Linux did not write\n")
    assert jetson_release().jetpack == "unknown"  # still a Jetson: the file exists
    assert "nvcc --version" in install_hint("cuda")


def test_doctor_exits_1_when_nothing_can_run_a_model(run_python_without):
    result = run_python_without(
        "import sys\nsys.argv = ['edgeseg', 'doctor']\nfrom edgeseg.cli import main\nmain()\n",
        blocked=("onnxruntime", "openvino", "tensorrt"),
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == "edgeseg run cannot run a model here: fix the rows marked missing"


@pytest.mark.skipif(not OPENVINO, reason="needs the openvino extra")
def test_doctor_counts_openvino_as_a_way_to_run_onnx(run_python_without):
    result = run_python_without(
        "import sys\nsys.argv = ['edgeseg', 'doctor']\nfrom edgeseg.cli import main\nmain()\n",
        blocked=("onnxruntime", "tensorrt"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == "edgeseg run works here with: OpenVINO (.onnx)"


@pytest.mark.parametrize(
    ("cuda_python", "driver", "pycuda", "status", "hint"),
    [
        (
            "13.0.1",
            "12.6",
            None,
            "missing",
            "cuda-python 13.0.1 is built for CUDA 13: pip install 'cuda-python==12.6.*'",
        ),
        (
            "13.0.1",
            "12.6",
            "2024.1",
            "warning",
            "cuda-python 13.0.1 is built for CUDA 13, so edgeseg uses pycuda 2024.1; "
            "for cuda-python: pip install 'cuda-python==12.6.*'",
        ),
        ("12.9.1", "12.2", None, "ok", ""),  # CUDA 12's minor-version compatibility: any CUDA 12 driver
        ("12.6.0", "13.0", None, "ok", ""),  # a newer driver runs an older CUDA
    ],
)
def test_cuda_binding_row_compares_cuda_majors(monkeypatch, cuda_python, driver, pycuda, status, hint):
    # Issue 22, defect 2: the doctor applies the rule edgeseg's CUDA layer applies when it opens an engine.
    from edgeseg.runtime import doctor
    from edgeseg.runtime.gpu import GpuFacts

    from ..export.fake_cuda import FakeCudart, install_fake_cuda_python

    install_fake_cuda_python(monkeypatch, FakeCudart(), pycuda_absent=pycuda is None)
    versions = {"cuda-python": cuda_python, "pycuda": pycuda}
    monkeypatch.setattr(doctor, "_version", versions.get)
    monkeypatch.setattr(doctor.importlib.util, "find_spec", lambda name: object() if pycuda else None)
    row = doctor.check_cuda_binding(GpuFacts("RTX", "8.9", False, driver))
    assert (row.status, row.hint) == (status, hint)
    assert row.found.startswith(f"cuda-python {cuda_python}, driver CUDA {driver}")


@pytest.mark.parametrize(
    ("release", "jetpack", "cuda", "python", "hint"),
    [
        (
            "# R34 (release), REVISION: 1.1, GCID: 30414990, BOARD: t186ref, EABI: aarch64",
            "5.0 DP",
            "11.4",
            "3.8",
            "pip install pycuda (it builds against JetPack 5.0 DP's CUDA 11.4)",
        ),
        (
            "# R35 (release), REVISION: 1.0, GCID: 31346300, BOARD: t186ref, EABI: aarch64",
            "5.0.2",
            "11.4",
            "3.8",
            "pip install pycuda (it builds against JetPack 5.0.2's CUDA 11.4)",
        ),
        (
            "# R36 (release), REVISION: 2.0, GCID: 34956989, BOARD: generic, EABI: aarch64",
            "6.0",
            "12.2",
            "3.10",
            "pip install 'cuda-python==12.2.*' (the CUDA of JetPack 6.0)",
        ),
        (
            "# R38 (release), REVISION: 2.1, GCID: 42061081, BOARD: generic, EABI: aarch64",
            "7",
            "13.0",
            "3.12",
            "pip install 'cuda-python==13.0.*' (the CUDA of JetPack 7)",
        ),
        (
            "# R40 (release), REVISION: 1.0, GCID: 1, BOARD: generic, EABI: aarch64",
            "unknown",
            "unknown",
            "unknown",
            "pip install cuda-python of the CUDA version `nvcc --version` shows, or pip install pycuda",
        ),
    ],
    ids=["R34", "R35.1", "R36.2", "R38", "R40"],
)
def test_jetson_linux_releases_map_to_their_jetpack(jetson, release, jetpack, cuda, python, hint):
    # Issue 22, defect 4: R38 is JetPack 7 (Jetson Thor: CUDA 13, Python 3.12), not 6.1/6.2 with a CUDA 12.6 hint;
    # R34 is JetPack 5.0's developer preview, not 4.x; a release newer than the table is not guessed.
    jetson(release + "\n")
    facts = jetson_release()
    assert (facts.jetpack, facts.cuda, facts.python) == (jetpack, cuda, python)
    assert install_hint("cuda") == hint
