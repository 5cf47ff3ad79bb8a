"""Where and on what a run resumes: only into its own run folder, with as many processes, on any device."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from tests.bad_input import assert_refused, snapshot


@pytest.fixture(scope="module")
def one_epoch_run(tiny_dataset, tiny_trainer, tmp_path_factory) -> Path:
    """The run folder of a one-epoch run (args.yaml, results.csv, weights/last.pt and best.pt)."""
    return tiny_trainer(tiny_dataset, tmp_path_factory.mktemp("one"), epochs=1).parent.parent


def _copy(source: Path, target: Path, edit=None) -> Path:
    payload = torch.load(source, weights_only=True)
    if edit:
        edit(payload)
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, target)
    return target


def test_a_checkpoint_records_its_run_folder_and_processes(one_epoch_run):
    state = torch.load(one_epoch_run / "weights" / "last.pt", weights_only=True)["train_state"]
    assert state["run_dir"] == str(one_epoch_run.resolve())
    assert state["world_size"] == 1


def test_resume_outside_weights_refuses_and_names_the_run_folder(run_edgeseg, one_epoch_run, tmp_path):
    """Before, the checkpoint's grandparent (here tmp_path, say the home folder) got args.yaml, results.csv …"""
    last = _copy(one_epoch_run / "weights" / "last.pt", tmp_path / "downloads" / "last.pt")
    before = snapshot(tmp_path)
    result = run_edgeseg("train", "--resume", last)
    assert_refused(result, f"resume from {one_epoch_run.resolve() / 'weights' / 'last.pt'}", before, tmp_path)


def test_resume_from_a_weights_folder_that_is_no_run_refuses(run_edgeseg, one_epoch_run, tmp_path):
    last = _copy(one_epoch_run / "weights" / "last.pt", tmp_path / "weights" / "last.pt")
    before = snapshot(tmp_path)
    result = run_edgeseg("train", "--resume", last)
    assert_refused(result, "is not in its run folder", before, tmp_path)


def test_an_old_checkpoint_outside_a_run_folder_refuses(run_edgeseg, one_epoch_run, tmp_path):
    def older(payload: dict) -> None:
        del payload["train_state"]["run_dir"], payload["train_state"]["world_size"]

    last = _copy(one_epoch_run / "weights" / "last.pt", tmp_path / "last.pt", older)
    before = snapshot(tmp_path)
    result = run_edgeseg("train", "--resume", last)
    assert_refused(result, "copy it to <run folder>/weights/last.pt", before, tmp_path)


def test_a_run_folder_moved_whole_resumes_where_it_now_is(run_edgeseg, one_epoch_run, tmp_path):
    moved = tmp_path / "elsewhere" / "run"
    shutil.copytree(one_epoch_run, moved)
    before = snapshot(one_epoch_run)
    result = run_edgeseg("train", "--resume", moved / "weights" / "last.pt", "--epochs", "2")
    assert result.returncode == 0, result.stderr
    assert snapshot(one_epoch_run) == before  # the folder it was saved in is left alone
    state = torch.load(moved / "weights" / "last.pt", weights_only=True)["train_state"]
    assert state["position"]["epoch"] == 2 and state["run_dir"] == str(moved.resolve())
    assert len((moved / "results.csv").read_text().splitlines()) == 3  # header and two epochs


def test_resume_with_another_number_of_processes_refuses(run_edgeseg, one_epoch_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(one_epoch_run, run)

    def two_processes(payload: dict) -> None:
        payload["train_state"]["world_size"] = 2

    _copy(run / "weights" / "last.pt", run / "weights" / "last.pt", two_processes)
    before = snapshot(tmp_path)
    result = run_edgeseg("train", "--resume", run / "weights" / "last.pt")
    assert_refused(result, "was saved by a run of 2 processes", before, tmp_path)
    assert "--nproc_per_node 2" in result.stderr


@pytest.mark.parametrize("saved_enabled", [True, False], ids=["saved-with-amp", "saved-without-amp"])
@pytest.mark.parametrize("resumed_enabled", [True, False], ids=["resumed-with-amp", "resumed-without-amp"])
def test_the_loss_scale_moves_between_devices(saved_enabled, resumed_enabled):
    """A run saved on the CPU or with --no-amp has an empty scaler state; resumed with AMP on (CUDA) it starts
    from the default scale instead of failing with "The source state dict is empty". The real GradScaler on the
    CPU (torch's CUDA scaler disables itself without CUDA) gives both kinds of state."""
    from edgeseg.train.resume import restore_scaler

    saved = torch.amp.GradScaler("cpu", init_scale=1024.0, enabled=saved_enabled)
    if saved_enabled:
        saved.scale(torch.ones(1))  # the scale is made on first use
        saved.update(new_scale=512.0)
    resumed = torch.amp.GradScaler("cpu", enabled=resumed_enabled)
    restore_scaler(resumed, saved.state_dict())
    if resumed_enabled:
        assert resumed.get_scale() == (512.0 if saved_enabled else 65536.0)
    assert resumed.is_enabled() == resumed_enabled
