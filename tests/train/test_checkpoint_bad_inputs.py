"""Bad checkpoints and checkpoint/model mismatches (issue 14, kinds 5, 6 and 11), through the real console script."""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

import pytest
import torch

from tests.bad_input import assert_refused, snapshot


@pytest.fixture(scope="module")
def one_epoch(tiny_dataset, tiny_trainer, tmp_path_factory) -> Path:
    """weights/ of a one-epoch run: best.pt and last.pt."""
    return tiny_trainer(tiny_dataset, tmp_path_factory.mktemp("one"), epochs=1).parent


def _edited(source: Path, target: Path, edit) -> Path:
    payload = torch.load(source, weights_only=True)
    edit(payload)
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, target)
    return target


def _swap_architecture(payload: dict) -> None:
    """A last.pt whose metadata and training state both name another architecture (its weights unchanged)."""
    payload["metadata"]["model"] = payload["train_state"]["config"]["model"] = "unet_vgg16"
    payload["metadata"]["model_config"] = {"num_classes": 4, "upsample": "bilinear"}


def _metadata_only(payload: dict) -> None:
    payload["metadata"]["model"] = "unet_vgg16"


@pytest.mark.parametrize(
    ("edit", "message"),
    [(_swap_architecture, "its weights do not fit unet_vgg16 ("), (_metadata_only, "is inconsistent")],
    ids=["other-architecture", "metadata-disagrees"],
)
def test_resume_on_another_architecture_is_one_line(run_edgeseg, one_epoch, tmp_path, edit, message):
    last = _edited(one_epoch / "last.pt", tmp_path / "run" / "weights" / "last.pt", edit)
    (tmp_path / "run" / "args.yaml").write_text("epochs: 1\n")  # a run folder: resume writes only into one
    before = snapshot(tmp_path)
    result = run_edgeseg("train", "--resume", last)
    assert_refused(result, message, before, tmp_path)
    assert len(result.stderr.strip().splitlines()) == 1  # not ~40 lines of state-dict keys


def _five_classes(payload: dict) -> None:
    payload["metadata"]["class_names"].append("extra")
    payload["metadata"]["palette"].append([1, 2, 3])


@pytest.mark.parametrize("command", ["export", "run", "explain", "eval"])
def test_checkpoint_listing_more_classes_than_its_network_outputs(
    run_edgeseg, one_epoch, tiny_dataset, tmp_path, command
):
    bad = _edited(one_epoch / "best.pt", tmp_path / "in" / "best.pt", _five_classes)
    image = next((tiny_dataset / "VOCdevkit" / "VOC2012" / "JPEGImages").glob("*.jpg"))
    args = {
        "export": ["export", bad, "--out", tmp_path / "out", "--no-engine"],
        "run": ["run", "--model", bad, "--source", image, "--no-show", "--save", tmp_path / "out"],
        "explain": ["explain", bad, image, "--class", "background", "--out", tmp_path / "out"],
        "eval": ["eval", bad, "--data", tiny_dataset],
    }[command]
    before = snapshot(tmp_path)
    result = run_edgeseg(*args)
    assert_refused(result, "lists 5 classes in its metadata but its network outputs 4", before, tmp_path)


def _zip_not_torch(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes/readme.txt", "hello")


NOT_CHECKPOINTS = {
    "text": (lambda p, onnx: p.write_text("epochs: 3\nlr: 0.1\n"), "is a text file"),
    "random-bytes": (lambda p, onnx: p.write_bytes(os.urandom(4096)), "is not a PyTorch file"),
    "onnx-named-pt": (lambda p, onnx: shutil.copy(onnx, p), "is an ONNX model, not a checkpoint"),
    "zip-not-torch": (lambda p, onnx: _zip_not_torch(p), "a zip archive, but not one torch.save wrote"),
    "empty": (lambda p, onnx: p.write_bytes(b""), "is an empty file"),
}


@pytest.mark.parametrize("kind", list(NOT_CHECKPOINTS))
def test_files_that_are_not_checkpoints_say_what_they_are_not(run_edgeseg, tiny_onnx, tmp_path, kind):
    make, message = NOT_CHECKPOINTS[kind]
    path = tmp_path / "model.pt"
    make(path, tiny_onnx)
    before = snapshot(tmp_path)
    result = run_edgeseg("export", path, "--out", tmp_path / "out")
    assert_refused(result, message, before, tmp_path)


@pytest.mark.parametrize("command", ["eval", "run", "explain", "train"])
def test_every_command_that_opens_a_checkpoint_says_so(run_edgeseg, tiny_dataset, tmp_path, command):
    path = tmp_path / "model.pt"
    path.write_bytes(os.urandom(4096))
    image = next((tiny_dataset / "VOCdevkit" / "VOC2012" / "JPEGImages").glob("*.jpg"))
    args = {
        "eval": ["eval", path, "--data", tiny_dataset],
        "run": ["run", "--model", path, "--source", image, "--no-show"],
        "explain": ["explain", path, image, "--class", "background", "--out", tmp_path / "out"],
        "train": ["train", "--resume", path],
    }[command]
    before = snapshot(tmp_path)
    assert_refused(run_edgeseg(*args), "is not a PyTorch file", before, tmp_path)


class _RunsCode:
    """Pickled as a call to os.system: what a malicious checkpoint holds."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_malicious_pickle_never_runs(run_edgeseg, one_epoch, tiny_dataset, tmp_path):
    marker = tmp_path / "pwned"
    evil = _edited(one_epoch / "best.pt", tmp_path / "evil.pt", lambda p: p.update(extra=_RunsCode(marker)))
    result = run_edgeseg("eval", evil, "--data", tiny_dataset)
    assert_refused(result, "it could run code")
    assert not marker.exists()


def test_nan_advice_works_when_no_epoch_finished(run_edgeseg, tiny_dataset, tmp_path):
    args = ("--model", "deeplabv3plus_mobilenetv2", "--size", "32", "--batch-size", "4", "--workers", "0")
    result = run_edgeseg(
        "train", *args, "--data", tiny_dataset, "--project", tmp_path, "--name", "nan", "--lr", "1e30",
        "--warmup-epochs", "0", "--epochs", "2",
    )  # fmt: skip
    assert_refused(result, "no epoch finished, so start again with a lower --lr")
    assert "last.pt" not in result.stderr and "--lr 0.0001" in result.stderr
    assert not (tmp_path / "nan").exists()  # a run that kept nothing leaves no folder behind


def test_resume_may_lower_the_learning_rate(run_edgeseg, one_epoch, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(one_epoch.parent, run)
    result = run_edgeseg("train", "--resume", run / "weights" / "last.pt", "--lr", "1e-4", "--epochs", "2")
    assert result.returncode == 0, result.stderr
    state = torch.load(run / "weights" / "last.pt", weights_only=True)["train_state"]
    assert state["config"]["lr"] == 1e-4 and state["position"]["epoch"] == 2
