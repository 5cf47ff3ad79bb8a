"""`edgeseg run --jsonl out.jsonl`: one JSON record per frame (docs/outputs.md), written as frames finish.

A lossless output (every frame, in order). Each line goes to the file in one write() call, unbuffered, so
`tail -f` sees a frame as soon as it is finished and a process that is killed keeps every finished line (at
most the line being written is cut short; a reader skips a last line without its newline). Nothing is
fsynced: a power cut can lose what the operating system had not yet written to the disk.

An existing file is kept unless `force`; the file is created with the first record, so a run that fails
before its first frame leaves nothing behind (and, with --force, the old file as it was).
"""

from __future__ import annotations

import os
from pathlib import Path

from edgeseg.errors import EdgesegError, describe
from edgeseg.runtime.record import FrameRecord
from edgeseg.runtime.sinks import RecordDropped


class JsonLinesSink:
    """Appends `record.to_dict()` as one line of compact JSON per frame."""

    name, live = "jsonl", False

    def __init__(self, path: Path, *, polygons: bool = False, confidence: bool = False, force: bool = False) -> None:
        self.path, self.polygons, self.wants_confidence, self.force = Path(path), polygons, confidence, force
        if self.path.is_dir():
            raise EdgesegError(f"--jsonl {path} is a folder; pass a file name, e.g. {Path(path) / 'results.jsonl'}")
        if self.path.exists() and not force:
            raise EdgesegError(f"--jsonl {path} exists; pass another path, or --force to replace it")
        self._fd: int | None = None
        self.lines = 0

    def _open(self) -> int:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | (os.O_TRUNC if self.force else os.O_EXCL)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(self.path, flags, 0o644)
        except FileExistsError:
            raise EdgesegError(f"--jsonl {self.path} appeared after the run started; it was kept") from None

    def write(self, record: FrameRecord) -> None:
        try:
            line = record.to_json(polygons=self.polygons)
        except Exception as exc:  # a record that cannot be made is one lost line, not the end of the file
            raise RecordDropped(f"frame {record.name}: {describe(exc)}") from exc
        if self._fd is None:
            self._fd = self._open()
        data = memoryview((line + "\n").encode())
        while data:  # os.write may write less than asked; an OSError (disk full) stops the run
            data = data[os.write(self._fd, data) :]
        self.lines += 1

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
