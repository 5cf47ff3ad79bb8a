"""Shared fixtures: the real console script, and a Python with some packages made unimportable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EDGESEG = Path(sys.executable).with_name("edgeseg")

# Prepended to a `python -c` program: any import of these top-level packages raises ImportError,
# as on a Jetson where they are not installed.
_BLOCKER = """
import importlib.abc, sys
class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ImportError(f"No module named {{name!r}} (blocked by the test)")
sys.meta_path.insert(0, _Block())
"""


@pytest.fixture(scope="session", autouse=True)
def _pinned_environment(tmp_path_factory):
    """The same backend on every machine, and no writes to the user's cache; the CLI's subprocesses inherit both.

    - EDGESEG_PROVIDER=cpu: an .onnx file opened without --provider runs on ONNX Runtime's CPU provider. Without it,
      an Intel CI machine with OpenVINO installed would run those tests on OpenVINO (the product's default there, in
      bf16 on a CPU with AMX) and one of AMD's on ONNX Runtime. Tests of that default choice unset it.
    - EDGESEG_OPENVINO_CACHE: OpenVINO's model cache in a folder of this session, not ~/.cache/edgeseg/openvino.
    """
    pinned = {"EDGESEG_PROVIDER": "cpu", "EDGESEG_OPENVINO_CACHE": str(tmp_path_factory.mktemp("openvino_cache"))}
    previous = {name: os.environ.get(name) for name in pinned}
    os.environ.update(pinned)
    yield
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture
def run_edgeseg():
    """Run the installed `edgeseg` console script in a subprocess; returns the CompletedProcess."""

    def run(*args: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
        assert EDGESEG.exists(), f"console script not installed next to {sys.executable}"
        env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
        return subprocess.run(
            [str(EDGESEG), *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=timeout, env=env
        )

    return run


@pytest.fixture
def run_python_without():
    """Run `code` in a fresh interpreter where the given packages cannot be imported."""

    def run(code: str, blocked: tuple[str, ...]) -> subprocess.CompletedProcess:
        program = _BLOCKER.format(blocked=set(blocked)) + code
        return subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, cwd=REPO, timeout=300)

    return run


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """A 24-image synthetic VOC dataset (4 classes, 48 px): built once, never modified by tests."""
    from edgeseg.data.synth import synth_dataset

    out = tmp_path_factory.mktemp("tiny")
    synth_dataset(out, images=24, size=48, num_classes=4, seed=1)
    return out


def train_tiny(
    data: Path, out: Path, model: str = "deeplabv3plus_mobilenetv2", upsample: str | None = None, epochs: int = 2
) -> Path:
    """Train `model` briefly at 32×32 in this process; returns its best.pt."""
    from edgeseg.train.config import TrainConfig
    from edgeseg.train.trainer import Trainer

    config = TrainConfig(
        model=model,
        data=str(data),
        upsample=upsample,
        size=[32, 32],
        epochs=epochs,
        batch_size=4,
        lr=2e-3,
        workers=0,
        project=str(out),
        name="run",
        warmup_epochs=0,
    )
    run_dir = Trainer(config).run()
    return run_dir / "weights" / "best.pt"


@pytest.fixture(scope="session")
def tiny_trainer():
    """`train_tiny` for tests that train their own model."""
    return train_tiny


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_dataset, tmp_path_factory) -> Path:
    """A DeepLabV3+ trained for two epochs on the tiny dataset."""
    return train_tiny(tiny_dataset, tmp_path_factory.mktemp("ckpt"))


@pytest.fixture(scope="session")
def tiny_onnx(tiny_checkpoint, tmp_path_factory) -> Path:
    """The tiny checkpoint exported to ONNX (no engine)."""
    from edgeseg.export.steps import ExportOptions, run_export

    out = tmp_path_factory.mktemp("onnx")
    run_export(ExportOptions(tiny_checkpoint, out=out, engine=False), log=lambda m: None)
    return out / "model.onnx"


@pytest.fixture(scope="session")
def tiny_onnx_confidence(tiny_checkpoint, tmp_path_factory) -> Path:
    """The tiny checkpoint exported with `--confidence` (class map + top probability), with its FP16 file."""
    from edgeseg.export.steps import ExportOptions, run_export

    out = tmp_path_factory.mktemp("onnx_confidence")
    options = ExportOptions(tiny_checkpoint, out=out, engine=False, confidence=True, fp16=True)
    run_export(options, log=lambda m: None)
    return out / "model.onnx"


@pytest.fixture(scope="session")
def tiny_video(tmp_path_factory) -> Path:
    """A 40-frame 96×72 video of synthetic scenes, written with OpenCV."""
    import cv2
    import numpy as np

    from edgeseg.data.synth import synth_image

    path = tmp_path_factory.mktemp("video") / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (96, 72))
    rng = np.random.default_rng(2)
    for _ in range(40):
        writer.write(cv2.cvtColor(synth_image(rng, 72, 96, 4)[0], cv2.COLOR_RGB2BGR))
    writer.release()
    return path
