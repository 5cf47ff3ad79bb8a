"""What an interrupted training keeps: the end of an epoch cut at each write, and SIGTERM to the process group."""

from __future__ import annotations

import csv
import errno
import os
from pathlib import Path

import pytest
import torch

from edgeseg import atomic
from edgeseg.atomic import WriteError
from edgeseg.train.config import TrainConfig
from edgeseg.train.resume import config_for_resume, resume_payload
from edgeseg.train.trainer import Trainer

# Two epochs that both improve the val mIoU on the tiny dataset (asserted by `straight`), so the second one
# writes best.pt, its results.csv row and last.pt: the writes an interruption can come between.
SETTINGS = dict(
    model="deeplabv3plus_mobilenetv2",
    size=[32, 32],
    epochs=2,
    batch_size=4,
    lr=5e-3,
    class_weights=[0.1, 1.0, 1.0, 1.0],  # pushes the first epochs off "all background", so mIoU moves
    warmup_epochs=0,
    workers=0,
    cache_gb=1,
)


def _train(data: Path, project: Path, name: str) -> Path:
    config = TrainConfig(**SETTINGS, data=str(data), project=str(project), name=name)
    return Trainer(config).run()


def _rows(run: Path) -> list[dict[str, str]]:
    with (run / "results.csv").open() as f:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


@pytest.fixture(scope="module")
def straight(tiny_dataset, tmp_path_factory) -> Path:
    """The run uninterrupted: what every interrupted and resumed run must end up as."""
    run = _train(tiny_dataset, tmp_path_factory.mktemp("straight"), "run")
    scores = [float(row["val_mIoU"]) for row in _rows(run)]
    assert scores[1] > scores[0], f"the second epoch must improve for this test to mean anything: {scores}"
    return run


def _fail_at(monkeypatch, name: str, call: int) -> None:
    """The atomic writer's `call`-th rename onto a file called `name` fails as a full disk does: what was
    written before that point is on disk, nothing after it."""
    real_replace, seen = os.replace, []

    def replace(src, dst) -> None:
        if Path(dst).name == name:
            seen.append(dst)
            if len(seen) == call:
                raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", replace)


@pytest.mark.parametrize("cut_at", ["best.pt", "results.csv", "last.pt"])
def test_an_epoch_end_cut_at_any_write_resumes_to_the_uninterrupted_run(
    straight, tiny_dataset, tmp_path, monkeypatch, cut_at
):
    _fail_at(monkeypatch, cut_at, call=2)  # the second epoch's write of that file
    with pytest.raises(WriteError, match="no space left on device"):
        _train(tiny_dataset, tmp_path, "run")
    monkeypatch.undo()
    run = tmp_path / "run"

    payload = resume_payload(run / "weights" / "last.pt")
    Trainer(config_for_resume(payload, {}), payload, run_dir=run).run()

    assert _rows(run) == _rows(straight)  # every epoch's row, once
    for key, value in _weights(straight / "weights" / "best.pt").items():
        assert torch.equal(value, _weights(run / "weights" / "best.pt")[key]), key
    best = torch.load(run / "weights" / "last.pt", weights_only=True)["train_state"]["position"]["best_miou"]
    assert f"{best:.5f}" == max(row["val_mIoU"] for row in _rows(run))  # the score best.pt was saved for

