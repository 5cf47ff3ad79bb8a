"""The distribution as users get it: `python -m build` makes an sdist and a wheel; the wheel installs into a
fresh venv with the base dependencies only, and with OpenCV and ONNX Runtime added runs a model (a Jetson's
install: no torch, no onnx).

Slow (a build and two pip installs, from PyPI or pip's cache), and part of CI.
"""

from __future__ import annotations

import re
import stat
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import tomllib

import edgeseg

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
LEAN_PACKAGES = ("runtime", "export")  # reach the package through the symlinks edgeseg/runtime, edgeseg/export


def _run(*args: object, cwd: Path | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd, timeout=timeout)


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    done = _run(sys.executable, "-m", "build", "--outdir", out, REPO)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


def _sources(folder: str) -> set[str]:
    return {p.relative_to(REPO / folder).as_posix() for p in (REPO / folder).rglob("*.py")}


def test_build_makes_sdist_and_wheel_of_the_one_version(dist):
    version = edgeseg.__version__
    names = sorted(p.name for p in dist.iterdir())
    assert names == [f"edgeseg-{version}-py3-none-any.whl", f"edgeseg-{version}.tar.gz"]
    assert tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dynamic"] == ["version"]
    metadata = zipfile.ZipFile(dist / f"edgeseg-{version}-py3-none-any.whl").read(
        f"edgeseg-{version}.dist-info/METADATA"
    )
    assert f"\nVersion: {version}\n" in metadata.decode()


def test_wheel_holds_runtime_and_export_as_files(dist):
    with zipfile.ZipFile(next(dist.glob("*.whl"))) as wheel:
        entries = {info.filename: info for info in wheel.infolist()}
    for folder in LEAN_PACKAGES:
        packaged = {name[len(f"edgeseg/{folder}/") :] for name in entries if name.startswith(f"edgeseg/{folder}/")}
        assert packaged == _sources(folder), folder
    symlinks = [name for name, info in entries.items() if stat.S_ISLNK(info.external_attr >> 16)]
    assert symlinks == []
    assert not any(name.startswith(("tests/", "runtime/", "export/")) for name in entries)


def test_sdist_carries_license_readme_docs_tests(dist):
    with tarfile.open(next(dist.glob("*.tar.gz"))) as sdist:
        members = {m.name.split("/", 1)[1]: m for m in sdist.getmembers() if "/" in m.name}
    for needed in ("LICENSE", "README.md", "pyproject.toml", "docs/training.md", "tests/conftest.py"):
        assert needed in members, needed
    assert {name for name in members if name.startswith("tests/") and name.endswith(".py")} >= {
        "tests/" + p.relative_to(REPO / "tests").as_posix() for p in (REPO / "tests").rglob("test_*.py")
    }
    for folder in LEAN_PACKAGES:
        for name in _sources(folder):
            assert members[f"edgeseg/{folder}/{name}"].isfile(), name
    assert "Apache License" in (REPO / "LICENSE").read_text()[:200]


def test_wheel_in_a_fresh_venv_base_then_jetson_like(dist, tiny_onnx, tmp_path):
    venv = tmp_path / "venv"
    assert _run(sys.executable, "-m", "venv", venv).returncode == 0
    python, edgeseg_cmd = venv / "bin" / "python", venv / "bin" / "edgeseg"
    done = _run(python, "-m", "pip", "install", "-q", next(dist.glob("*.whl")))
    assert done.returncode == 0, done.stderr[-3000:]
    probe = "import importlib.util as u; print([m for m in ('torch', 'onnx', 'cv2') if u.find_spec(m)])"
    done = _run(python, "-c", probe)
    assert done.stdout.strip() == "[]"  # the base install is the lean one

    help_text = _run(edgeseg_cmd, "--help")
    assert help_text.returncode == 0 and re.search(r"\brun\b", help_text.stdout) and "export" in help_text.stdout
    version = _run(edgeseg_cmd, "--version")
    assert version.returncode == 0 and version.stdout.strip() == f"edgeseg {edgeseg.__version__}"

    image = tmp_path / "scene.png"
    cv2.imwrite(str(image), np.full((48, 64, 3), 90, np.uint8))
    run_args = ("run", "--model", tiny_onnx, "--source", image, "--no-show", "--save", tmp_path / "out")
    without_cv = _run(edgeseg_cmd, *run_args)
    assert without_cv.returncode == 1 and "Traceback" not in without_cv.stderr
    assert "pip install 'edgeseg[cv]'" in without_cv.stderr

    done = _run(python, "-m", "pip", "install", "-q", "opencv-python", "onnxruntime")
    assert done.returncode == 0, done.stderr[-3000:]
    ran = _run(edgeseg_cmd, *run_args, "--provider", "cpu")
    assert ran.returncode == 0, ran.stderr
    assert "1 frames" in ran.stdout + ran.stderr
    written = {p.suffix for p in (tmp_path / "out").rglob("*") if p.is_file()}
    assert written == {".jpg", ".png"}  # the overlay, and the mask as a palette PNG
