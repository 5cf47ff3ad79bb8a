"""edgeseg.atomic: a write is durable (the file and its folder fsync'd) and a killed run's temp files go."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgeseg import atomic
from edgeseg.atomic import write_bytes_atomic, write_text_atomic


@pytest.fixture
def synced(monkeypatch) -> list[tuple[str, str]]:
    """Every os.fsync and os.replace that edgeseg.atomic makes, in order: ("fsync", path) / ("replace", target).

    os.fsync is wrapped, not replaced: the real call still runs, so a descriptor it rejects still fails."""
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src, dst) -> None:
        real_replace(src, dst)
        events.append(("replace", str(Path(dst).resolve())))

    monkeypatch.setattr(atomic.os, "fsync", fsync)
    monkeypatch.setattr(atomic.os, "replace", replace)
    return events


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="names descriptors through /proc (Linux)")
def test_the_file_is_synced_before_the_rename_and_its_folder_after(tmp_path, synced):
    target = tmp_path / "weights" / "last.pt"
    write_bytes_atomic(target, b"checkpoint")
    folder = str(target.parent.resolve())
    replaced = synced.index(("replace", str(target.resolve())))
    before, after = synced[:replaced], synced[replaced + 1 :]
    # The data reached the disk under the temporary name before the rename made it the file …
    assert [kind for kind, _ in before] == ["fsync"] and Path(before[0][1]).name.startswith(".last.pt.")
    # … and the rename itself reached the disk: the folder, and the folder that gained the new weights/.
    assert ("fsync", folder) in after and ("fsync", str(tmp_path.resolve())) in after
    assert target.read_bytes() == b"checkpoint"


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="names descriptors through /proc (Linux)")
def test_a_file_written_by_path_is_synced_too(tmp_path, synced):
    """atomic_path hands out a path (onnx.save, savefig write it themselves): the sync opens it again."""
    with atomic.atomic_path(tmp_path / "model.onnx") as tmp:
        tmp.write_bytes(b"graph")
    assert synced[0][0] == "fsync" and Path(synced[0][1]).name.startswith(".model.onnx.")
    assert ("fsync", str(tmp_path.resolve())) in synced


def _dead_pid() -> int:
    """The id of a process that has exited (and been reaped)."""
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    return done.pid


def test_temp_files_of_a_killed_run_are_removed_on_the_next_write(tmp_path):
    weights = tmp_path / "weights"
    weights.mkdir()
    dead = _dead_pid()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale = weights / f".last.pt.{dead}.tmp"  # a checkpoint half-written when its run was killed
        in_use = weights / f".last.pt.{alive.pid}.tmp"  # another process writing the same file right now
        other = weights / f".best.pt.{dead}.tmp"  # another file's: removed when that file is written
        mine = [weights / ".last.pt.notes.tmp", weights / "last.pt.123.tmp", weights / f".last.pt.{dead}.tmp.bak"]
        for path in (stale, in_use, other, *mine):
            path.write_bytes(b"partial")
        write_bytes_atomic(weights / "last.pt", b"checkpoint")
        left = sorted(p.name for p in weights.iterdir())
        assert not stale.exists()
        assert left == sorted(["last.pt", in_use.name, other.name, *(p.name for p in mine)])
        write_text_atomic(weights / "best.pt", "best")
        assert not other.exists()
    finally:
        alive.kill()
        alive.wait()


def test_the_temp_name_is_the_one_cleanup_recognises(tmp_path):
    with atomic.atomic_path(tmp_path / "report.md") as tmp:
        assert atomic.temp_owner(tmp, "report.md") == os.getpid()
        tmp.write_text("x")
    assert atomic.temp_owner(tmp_path / ".report.md.12.tmp", "report.md") == 12
    assert atomic.temp_owner(tmp_path / ".report.md.12.tmp", "other.md") is None
    assert atomic.temp_owner(tmp_path / ".report.md.x12.tmp", "report.md") is None
