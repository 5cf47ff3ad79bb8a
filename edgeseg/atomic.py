"""Atomic file writes: write to a temporary file beside the target, then rename over it.

An interrupted run or a full disk therefore never leaves a half-written checkpoint, engine or report,
and the file that was there before stays intact (docs/architecture.md: files are written atomically).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from edgeseg.errors import EdgesegError


class WriteError(EdgesegError):
    """A file could not be written (no space, permission …); whatever was there before is untouched."""


def _make_parents(folder: Path) -> list[Path]:
    """mkdir -p, returning the folders it created (deepest last) so a failed write can remove them."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    for created in reversed(missing):
        created.mkdir(exist_ok=True)
    return list(reversed(missing))


def _remove_empty(folders: list[Path]) -> None:
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:
            return  # not empty (someone else wrote there): leave it and its parents


def write_failure(path: Path, exc: BaseException) -> WriteError:
    """One line naming the file and the cause; ENOSPC hides inside RuntimeErrors of torch.save too."""
    from edgeseg.writable import cause

    if isinstance(exc, OSError):
        reason = cause(exc)
    elif "No space left on device" in str(exc) or "errno 28" in str(exc).lower():
        reason = "no space left on device"
    else:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    hint = "; free some space and run again" if reason == "no space left on device" else ""
    kept = " (the earlier file is intact)" if path.exists() else ""
    return WriteError(f"{reason} while writing {path}{kept}{hint}")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `path`, on failure it is removed.

    An OSError while writing (a full disk, a permission) becomes a WriteError naming `path`, and any
    folder this call created for it is removed again.
    """
    path = Path(path)
    try:
        created = _make_parents(path.parent)
    except OSError as exc:
        raise write_failure(path, exc) from None
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
        created = []
    except OSError as exc:
        raise write_failure(path, exc) from None
    finally:
        tmp.unlink(missing_ok=True)
        _remove_empty(created)


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


@contextmanager
def staged_folder(path: str | Path) -> Iterator[Path]:
    """Yield a hidden folder beside `path` to fill; on success it becomes `path`, on failure it is removed.

    `path` must not exist or be an empty folder. Whatever stops the filling (an error, Ctrl-C) leaves nothing
    behind: not the half-filled folder, nor any parent folder this call created for it.
    """
    import shutil

    path = Path(path)
    try:
        created = _make_parents(path.parent)
    except OSError as exc:
        raise write_failure(path, exc) from None
    staging = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        staging.mkdir()
        yield staging
        if path.is_dir():
            path.rmdir()  # empty (the caller checked): rename cannot replace a folder on every platform
        os.replace(staging, path)
        created = []
    except OSError as exc:
        raise write_failure(path, exc) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        _remove_empty(created)
