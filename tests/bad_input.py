"""What every bad-input test asserts: one `error:` line, exit code 1, no traceback, the files as they were."""

from __future__ import annotations

import subprocess
from pathlib import Path


def snapshot(*folders: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under `folders`: path → (size, mtime in ns); folders as (-1, 0), since a folder's
    mtime changes when something is created in it and removed again, which leaves nothing behind."""
    state = {}
    for folder in folders:
        if folder.exists():
            for path in [folder, *folder.rglob("*")]:
                info = path.stat()
                state[str(path)] = (-1, 0) if path.is_dir() else (info.st_size, info.st_mtime_ns)
    return state


def assert_refused(result: subprocess.CompletedProcess, message: str, before: dict | None = None, *folders: Path):
    """The command failed with one line naming `message`, and (given a snapshot) changed no file."""
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert "weights_only set to False" not in result.stderr and "Re-running" not in result.stderr
    if before is not None:
        assert snapshot(*folders) == before, "the command changed files it refused to work on"
