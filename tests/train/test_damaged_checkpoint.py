"""A damaged checkpoint, training state or options file: one line naming what is wrong, through the real loaders
and the real `edgeseg` command. Before, these were KeyErrors, AttributeErrors or UnicodeDecodeErrors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from edgeseg.errors import EdgesegError
from edgeseg.train.checkpoint import FORMAT, load_checkpoint, model_from_checkpoint
from edgeseg.train.config import load_yaml
from edgeseg.train.resume import config_for_resume, resume_payload
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


def _set(*keys, value):
    """An edit that sets payload[keys[0]][keys[1]]… to `value`."""

    def edit(payload: dict) -> None:
        node = payload
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value

    return edit


def _drop(key):
    return lambda payload: payload.pop(key)


DAMAGED_CHECKPOINTS = {
    "no-metadata": (_drop("metadata"), "has the edgeseg format tag but no metadata"),
    "metadata-list": (_set("metadata", value=[1, 2]), "its metadata is a list, not a mapping"),
    "no-weights": (_drop("model"), "has the edgeseg format tag but no weights"),
    "weights-not-tensors": (_set("model", value={"backbone.0.weight": 1.0}), "its weights are not tensors"),
    "palette-5": (_set("metadata", "palette", value=5), "its metadata field 'palette' must be"),
    "std-zero": (_set("metadata", "std", value=[0.0, 0.0, 0.0]), "its metadata field 'std' must be"),
    "mean-nan": (_set("metadata", "mean", value=[float("nan")] * 3), "its metadata field 'mean' must be"),
    "input-size-text": (_set("metadata", "input_size", value="ab"), "its metadata field 'input_size' must be"),
}


@pytest.mark.parametrize("kind", DAMAGED_CHECKPOINTS)
def test_damaged_checkpoints_are_refused_when_loaded(one_epoch, tmp_path, kind):
    edit, message = DAMAGED_CHECKPOINTS[kind]
    path = _edited(one_epoch / "best.pt", tmp_path / "best.pt", edit)
    with pytest.raises(EdgesegError, match=re.escape(message)) as caught:
        model_from_checkpoint(path)
    assert "\n" not in str(caught.value)
    with pytest.raises(EdgesegError, match=re.escape(message)):
        load_checkpoint(path)  # what resume and every other reader go through


@pytest.mark.parametrize(
    ("command", "kind"), [("eval", "no-metadata"), ("export", "palette-5"), ("run", "std-zero"), ("eval", "mean-nan")]
)
def test_commands_on_a_damaged_checkpoint_are_one_line(run_edgeseg, one_epoch, tiny_dataset, tmp_path, command, kind):
    edit, message = DAMAGED_CHECKPOINTS[kind]
    path = _edited(one_epoch / "best.pt", tmp_path / "model" / "best.pt", edit)
    images = tiny_dataset / "VOCdevkit" / "VOC2012" / "JPEGImages"
    args = {
        "eval": ["eval", path, "--data", tiny_dataset, "--workers", "0"],
        "export": ["export", path, "--out", tmp_path / "out"],
        "run": ["run", "--model", path, "--source", images, "--no-show", "--save", tmp_path / "out"],
    }[command]
    before = snapshot(tmp_path, tiny_dataset)
    assert_refused(run_edgeseg(*args), message, before, tmp_path, tiny_dataset)


DAMAGED_STATES = {
    "state-list": (_set("train_state", value=[1]), "its training state is a list, not a mapping"),
    "no-position": (lambda p: p["train_state"].pop("position"), "its training state has no 'position'"),
    "epoch-text": (_set("train_state", "position", "epoch", value="x"), "training state 'position' field 'epoch'"),
    "best-nan": (
        _set("train_state", "position", "best_miou", value=float("nan")),
        "training state 'position' field 'best_miou'",
    ),
    "config-int-key": (_set("train_state", "config", 1, value=2), "option names must be text, got 1"),
    "config-unknown": (_set("train_state", "config", "colour", value="red"), "unknown option(s) colour"),
    "config-wrong-type": (_set("train_state", "config", "epochs", value="many"), "epochs in the training state of"),
    "world-size-text": (_set("train_state", "world_size", value="2"), "training state field 'world_size'"),
    "rng-without-torch": (_set("train_state", "rng", value={"cuda": 5}), "'rng' holds no random-number-generator"),
}
# Read by torch only when the run is set up: its own checks, turned into one line.
OPTIMIZER_GROUPS = (_set("train_state", "optimizer", "param_groups", value=[]), "its optimizer or AMP state does not")


@pytest.mark.parametrize("kind", DAMAGED_STATES)
def test_a_damaged_training_state_is_refused_before_resuming(one_epoch, tmp_path, kind):
    edit, message = DAMAGED_STATES[kind]
    path = _edited(one_epoch / "last.pt", tmp_path / "run" / "weights" / "last.pt", edit)
    with pytest.raises(EdgesegError, match=re.escape(message)) as caught:
        config_for_resume(resume_payload(path), {})
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("kind", ["state-list", "epoch-text", "config-int-key", "optimizer-groups"])
def test_resume_from_a_damaged_training_state_is_one_line(run_edgeseg, one_epoch, tmp_path, kind):
    edit, message = OPTIMIZER_GROUPS if kind == "optimizer-groups" else DAMAGED_STATES[kind]
    path = _edited(one_epoch / "last.pt", tmp_path / "run" / "weights" / "last.pt", edit)
    (tmp_path / "run" / "args.yaml").write_text("epochs: 1\n")
    before = snapshot(tmp_path)
    assert_refused(run_edgeseg("train", "--resume", path), message, before, tmp_path)


DAMAGED_YAML = {
    "integer-key": (b"epochs: 2\n1: 2\n", "option names must be text, got 1"),
    "not-utf8": (b"epochs: 2\nname: caf\xe9\n", "is not UTF-8 text (byte 19 is 0xe9)"),
    "deep": (b"[" * 100_000 + b"]" * 100_000, "nests too deeply"),
    "scalar-zero": (b"0\n", "must hold a mapping of option: value"),
    "model-kwargs-keys": (b"model_kwargs: {1: 2, a: 3}\n", "model_kwargs in"),
    "nan-epochs": (b"epochs: .nan\n", "epochs in"),
}


@pytest.mark.parametrize("kind", DAMAGED_YAML)
def test_damaged_options_files_are_one_line(run_edgeseg, tiny_dataset, tmp_path, kind):
    text, message = DAMAGED_YAML[kind]
    config = tmp_path / "train.yaml"
    config.write_bytes(text)
    with pytest.raises(EdgesegError, match=re.escape(message.split(" in")[0])) as caught:
        from edgeseg.train.config import TrainConfig, merge

        merge(TrainConfig(), load_yaml(config), str(config))
    assert "\n" not in str(caught.value)
    if kind in ("integer-key", "not-utf8", "deep"):  # and through the command, for a few
        before = snapshot(tmp_path)
        args = ["train", "--config", config, "--data", tiny_dataset, "--project", tmp_path / "runs"]
        assert_refused(run_edgeseg(*args, "--model", "deeplabv3plus_mobilenetv2"), message, before, tmp_path)


def test_a_runs_own_args_yaml_reads_back_as_a_config(one_epoch):
    """What training writes as args.yaml is a valid --config (the checks above refuse only damage)."""
    from edgeseg.train.config import TrainConfig, merge

    args = load_yaml(one_epoch.parent / "args.yaml")
    assert merge(TrainConfig(), args, "args.yaml").to_dict() == args


def test_a_format_tag_alone_is_refused(tmp_path):
    path = tmp_path / "tag.pt"
    torch.save({"format": FORMAT}, path)
    with pytest.raises(EdgesegError, match="has the edgeseg format tag but no metadata"):
        load_checkpoint(path)
