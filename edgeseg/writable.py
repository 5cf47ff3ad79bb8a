"""Can an output path be written? Checked once, before a command starts its long work.

Every command that writes (train, eval, explain, run, bench, data synth/video, export) asks here first,
so a read-only folder, a regular file where a folder must go, or a full disk is one line naming the path
and the real cause — not a traceback after an hour of training, and not a codec blamed for a permission.
Nothing is created: the check probes the nearest existing folder and removes its probe.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from edgeseg.errors import EdgesegError

MIN_FREE_BYTES = 1 << 20  # less than this free and even a report will not fit
_CAUSES = {
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "read-only file system",
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.ENOTDIR: "not a directory",
}


class OutputPathError(EdgesegError):
    """An output path that cannot be written."""


def cause(exc: OSError) -> str:
    """The reason an OSError gives, in words (errno's name when the platform has no text for it)."""
    return _CAUSES.get(exc.errno or 0) or exc.strerror or type(exc).__name__


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return candidate
    return Path(".")


def check_writable(path: str | Path, option: str, folder: bool) -> None:
    """Raise OutputPathError unless `path` (a folder when `folder`, else a file) can be created or written.

    `option` names where the path came from (--out, --project …), so the message says what to change.
    """
    path = Path(path)
    where = f"{option} {path}"
    existing = _nearest_existing(path.absolute())
    if existing == path.absolute():
        if folder and not existing.is_dir():
            raise OutputPathError(f"cannot write {where}: it is a regular file, not a folder; pass a folder")
        if not folder and existing.is_dir():
            raise OutputPathError(f"cannot write {where}: it is a folder; pass a file name")
        if not folder:
            existing = existing.parent
    elif not existing.is_dir():
        raise OutputPathError(
            f"cannot write {where}: {existing} is a regular file, so nothing can be created under it; "
            "pass a path in a folder"
        )
    _probe(existing, where)


def _probe(folder: Path, where: str) -> None:
    """Create and remove a file in `folder`: the only honest test (root ignores mode bits, mounts can be ro)."""
    try:
        handle, probe = tempfile.mkstemp(prefix=".edgeseg-probe-", dir=folder)
    except OSError as exc:
        raise OutputPathError(f"cannot write {where}: {folder} is not writable ({cause(exc)})") from None
    os.close(handle)
    os.unlink(probe)
    stats = os.statvfs(folder)
    free = stats.f_bavail * stats.f_frsize
    if free < MIN_FREE_BYTES:
        raise OutputPathError(
            f"cannot write {where}: no space left on device ({free // 1024} KiB free on {folder}); free some space"
        )
