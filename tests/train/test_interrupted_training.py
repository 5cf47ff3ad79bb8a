"""What an interrupted training keeps: the end of an epoch cut at each write, and SIGTERM to the process group."""

from __future__ import annotations

import csv
import errno
import os
import signal
import subprocess
import sys
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


@pytest.mark.slow
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


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (a run's DataLoader workers), read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # exited while we looked
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="finds the workers through /proc (Linux)")
def test_sigterm_to_the_process_group_saves_last_and_resumes(tiny_dataset, tmp_path):
    """systemd's default kill mode, `timeout` and `kill -TERM -PGID` signal every process of the group: the
    DataLoader workers too. They leave it to the main process, which saves last.pt as on Ctrl-C."""
    edgeseg = str(Path(sys.executable).with_name("edgeseg"))
    args = ["train", "--model", "deeplabv3plus_mobilenetv2", "--size", "32", "--batch-size", "4", "--lr", "2e-3"]
    args += ["--data", str(tiny_dataset), "--project", str(tmp_path), "--name", "run", "--epochs", "3"]
    args += ["--workers", "1", "--cache-gb", "1"]
    proc = subprocess.Popen(
        [edgeseg, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        for line in proc.stdout:
            if line.startswith("epoch 1/3"):  # the second epoch is under way
                break
        while not _children(proc.pid) and proc.poll() is None:
            pass  # until its worker runs: the signal must reach one
        os.killpg(proc.pid, signal.SIGTERM)  # start_new_session: the run leads its own group
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted: saved" in out, err
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)  # no worker left behind
    last = tmp_path / "run" / "weights" / "last.pt"
    assert 1 <= torch.load(last, weights_only=True)["train_state"]["position"]["epoch"] < 3

    resumed = subprocess.run([edgeseg, "train", "--resume", str(last)], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert torch.load(last, weights_only=True)["train_state"]["position"]["epoch"] == 3


class _Slow(torch.utils.data.Dataset):
    """A dataset whose items take long: its worker is busy when the signals come."""

    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int) -> int:
        import time

        time.sleep(30)
        return index


def _alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    return stat.is_file() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def _gone_within(pid: int, seconds: float) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="finds the workers through /proc (Linux)")
def test_a_worker_ignores_others_sigterm_but_not_its_parents():
    """Ignoring every SIGTERM would leave torch's shutdown and multiprocessing's exit waiting on a busy worker."""
    from edgeseg.data.workers import SignalSafeLoader

    iterator = iter(SignalSafeLoader(_Slow(), batch_size=1, num_workers=1))
    try:
        (worker,) = _children(os.getpid())
        subprocess.run(["kill", "-TERM", str(worker)], check=True)  # from another process: ignored
        subprocess.run(["kill", "-INT", str(worker)], check=True)
        assert not _gone_within(worker, 1.0)
        os.kill(worker, signal.SIGTERM)  # from its parent: it ends
        assert _gone_within(worker, 5.0)
    finally:
        iterator._shutdown_workers()  # torch's own clean-up (joins, then terminates what is left)
