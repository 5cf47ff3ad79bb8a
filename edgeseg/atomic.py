"""Atomic, durable file writes: write a temporary file beside the target, sync it, rename it over the target.

An interrupted run or a full disk therefore never leaves a half-written checkpoint, engine or report,
and the file that was there before stays intact (docs/architecture.md, rule 6). A rename alone is atomic
but not durable: after a power cut (a robot's battery) the file system may have recorded the rename but
not the data, leaving an empty checkpoint where the old one was. So the temporary file is fsync'd before
the rename, and its folder (and any folder the write created) after it.

The temporary file is `.<name>.<pid>.tmp` beside the target. A run killed mid-write leaves one behind;
the next write of the same target removes those whose process no longer exists (`temp_owner` reads the
name back), so a killed run's half-written checkpoint does not sit beside the real one for ever.

Per-frame outputs (a run's overlays and masks) are written with durable=False: still atomic (never a torn
file), but not synced one by one. Two fsyncs per frame cost ~2 ms here and far more on a Jetson's eMMC or SD
card; a power cut may lose the last seconds of frames, never a frame's half. The sink syncs its folders once
when it closes.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
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


_TEMP_NAME = re.compile(r"\.(?P<name>.+)\.(?P<pid>[0-9]+)\.tmp")


def temp_path(path: Path) -> Path:
    """Where `path` is written before the rename: a hidden name beside it that records the writer's process."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def temp_owner(candidate: Path, name: str) -> int | None:
    """The process id in `candidate`'s name when it is a temporary file of a write of `name`, else None."""
    match = _TEMP_NAME.fullmatch(candidate.name)
    if match is None or match["name"] != name:
        return None
    return int(match["pid"])


def _alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process there: never guess
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: another user's live process
        return True
    return True


class _StaleTemps:
    """Temporary files of earlier writes, per folder: listed once per process, removed as their targets are written.

    Listing a folder on every write would make a run that saves a mask per frame into one folder quadratic;
    a killed run's files are there before this process starts, so one listing per folder finds them all.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._found: dict[str, dict[str, list[tuple[str, int]]]] = {}  # folder → target name → [(path, pid)]

    def remove(self, path: Path) -> None:
        """Remove the temporary files of earlier writes of `path` whose process has gone (a killed run).

        Done before writing, so the space a killed run's half checkpoint holds is free for this one. A file
        whose process still runs is another writer's and stays; so do names that merely look alike.
        """
        folder = os.path.abspath(path.parent)
        with self._lock:
            if folder not in self._found:
                self._found[folder] = _list_temps(folder)
            candidates = self._found[folder].pop(path.name, [])
        for candidate, owner in candidates:
            if owner != os.getpid() and not _alive(owner):
                with contextlib.suppress(OSError):  # gone already, or not ours to remove (a permission)
                    os.unlink(candidate)


def _list_temps(folder: str) -> dict[str, list[tuple[str, int]]]:
    found: dict[str, list[tuple[str, int]]] = {}
    try:
        names = os.listdir(folder)
    except OSError:
        return found
    for name in names:
        match = _TEMP_NAME.fullmatch(name)
        if match:
            found.setdefault(match["name"], []).append((os.path.join(folder, name), int(match["pid"])))
    return found


_stale_temps = _StaleTemps()


def _sync_file(path: Path) -> None:
    """Force `path`'s data to the disk; an error here (EIO, a full disk on flush) fails the write."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_folder(folder: Path) -> None:
    """Force `folder`'s entries (a rename, a new file or folder) to the disk, where the platform can."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return  # Windows cannot open a folder; the rename is still atomic there
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems (network mounts) refuse to sync a folder: atomic, if not durable
    finally:
        os.close(fd)


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
def atomic_path(path: str | Path, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write; on success it is synced and replaces `path`, on failure it is removed.

    durable=False skips the syncs (see the module's docstring): for outputs written once per frame.

    Temporary files a killed run left for `path` are removed first (see the module's docstring). An OSError
    while writing (a full disk, a permission) becomes a WriteError naming `path`, and any folder this call
    created for it is removed again.
    """
    path = Path(path)
    try:
        created = _make_parents(path.parent)
    except OSError as exc:
        raise write_failure(path, exc) from None
    _stale_temps.remove(path)
    tmp = temp_path(path)
    try:
        yield tmp
        if durable:
            _sync_file(tmp)
        os.replace(tmp, path)
        for folder in dict.fromkeys([path.parent, *(made.parent for made in created)]) if durable else ():
            sync_folder(folder)
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
