"""docs/architecture.md, rule 1: the runtime imports on a machine without torch, torchvision or onnx."""


def test_runtime_imports_without_torch_or_onnx(run_python_without):
    result = run_python_without(
        "import edgeseg.runtime, sys\n"
        "import pkgutil, importlib\n"
        "for mod in pkgutil.walk_packages(edgeseg.runtime.__path__, 'edgeseg.runtime.'):\n"
        "    importlib.import_module(mod.name)\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision', 'onnx'))\n"
        "print('loaded:', heavy)\n",
        blocked=("torch", "torchvision", "onnx"),
    )
    assert result.returncode == 0, result.stderr
    assert "loaded: []" in result.stdout


def test_blocker_really_blocks(run_python_without):
    # Guards the test above: if the blocker did nothing, it would pass vacuously.
    result = run_python_without("import torch", blocked=("torch",))
    assert result.returncode != 0
    assert "blocked by the test" in result.stderr


def test_runtime_imports_without_any_gpu_package(run_python_without):
    # A Jetson before JetPack's bindings are installed (what `edgeseg doctor` must still run on): TensorRT,
    # the CUDA bindings, ONNX Runtime and OpenVINO are imported only inside the functions that use them.
    blocked = ("torch", "torchvision", "onnx", "tensorrt", "cuda", "pycuda", "onnxruntime", "openvino")
    result = run_python_without(
        "import edgeseg.runtime, importlib, pkgutil\n"
        "for mod in pkgutil.walk_packages(edgeseg.runtime.__path__, 'edgeseg.runtime.'):\n"
        "    importlib.import_module(mod.name)\n"
        "from edgeseg.runtime.doctor import diagnose\n"
        "print(diagnose().run_path or 'nothing')\n",
        blocked=blocked,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "nothing"  # no TensorRT, ONNX Runtime or OpenVINO: nothing can run a model


def test_every_commands_help_works_on_the_base_install(run_python_without):
    # The base install has none of the extras: `edgeseg --help` and each command's help must not import
    # OpenCV, torch or onnx (the command modules load when the CLI starts; their defaults come from configs).
    result = run_python_without(
        "from typer.testing import CliRunner\n"
        "from edgeseg.cli import app\n"
        "for args in (['--help'], ['train', '--help'], ['bench', '--help'], ['export', '--help'], ['run', '--help'],\n"
        "             ['eval', '--help'], ['import', '--help']):\n"
        "    done = CliRunner().invoke(app, args)\n"
        "    assert done.exit_code == 0, (args, done.output, done.exception)\n"
        "print('ok')\n",
        blocked=("torch", "torchvision", "onnx", "cv2"),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_real_hardware_tests_collect_without_torch(run_python_without, tmp_path):
    # docs/jetson.md's `python -m pytest -m tensorrt tests/export/test_real_tensorrt.py` runs on a Jetson without
    # PyTorch. A stand-in `tensorrt` module gets collection past the importorskip; only collection is checked here
    # (running needs the GPU). The whole suite does need torch: many test modules import it at the top.
    (tmp_path / "tensorrt.py").write_text("__version__ = '10.3.0'\n")
    result = run_python_without(
        f"import sys\nsys.path.insert(0, {str(tmp_path)!r})\n"
        "import edgeseg.export.tensorrt_build, edgeseg.runtime.cuda, onnx  # what the tests import inside them\n"
        "import pytest\n"
        "code = pytest.main(['-m', 'tensorrt', '--collect-only', '-q', '-p', 'no:cacheprovider',\n"
        "                    'tests/export/test_real_tensorrt.py'])\n"
        "print('exit', int(code), 'torch imported:', 'torch' in sys.modules)\n",
        blocked=("torch", "torchvision"),
    )
    assert result.stdout.strip().splitlines()[-1] == "exit 0 torch imported: False", result.stdout + result.stderr
    assert "11 tests collected" in result.stdout
