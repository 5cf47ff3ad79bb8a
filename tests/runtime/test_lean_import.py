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
    # the CUDA bindings and ONNX Runtime are imported only inside the functions that use them.
    blocked = ("torch", "torchvision", "onnx", "tensorrt", "cuda", "pycuda", "onnxruntime")
    result = run_python_without(
        "import edgeseg.runtime, importlib, pkgutil\n"
        "for mod in pkgutil.walk_packages(edgeseg.runtime.__path__, 'edgeseg.runtime.'):\n"
        "    importlib.import_module(mod.name)\n"
        "from edgeseg.runtime.doctor import diagnose\n"
        "print(diagnose().run_path or 'nothing')\n",
        blocked=blocked,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "nothing"  # neither TensorRT nor ONNX Runtime: nothing can run a model


def test_every_commands_help_works_on_the_base_install(run_python_without):
    # The base install has none of the extras: `edgeseg --help` and each command's help must not import
    # OpenCV, torch or onnx (the command modules load when the CLI starts; their defaults come from configs).
    result = run_python_without(
        "from typer.testing import CliRunner\n"
        "from edgeseg.cli import app\n"
        "for args in (['--help'], ['train', '--help'], ['bench', '--help'], ['export', '--help'], ['run', '--help']):\n"
        "    done = CliRunner().invoke(app, args)\n"
        "    assert done.exit_code == 0, (args, done.output, done.exception)\n"
        "print('ok')\n",
        blocked=("torch", "torchvision", "onnx", "cv2"),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
