"""The folder output: every frame's overlay and mask as whole files, synced to the disk once, at the end."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

from .test_run_nothing_lost import _record


@pytest.mark.skipif(not hasattr(os, "sync"), reason="os.sync is POSIX")
def test_a_folders_frames_are_whole_files_synced_once_at_the_end(tmp_path, monkeypatch):
    """Per-frame outputs are atomic (no torn JPEG or mask after a kill) but not fsync'd one by one: two syncs a
    frame would throttle a run on a Jetson's SD card. The sink syncs once, when it closes."""
    from edgeseg import atomic
    from edgeseg.runtime import sinks
    from edgeseg.runtime.sinks import FolderSink

    calls: list[str] = []
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: calls.append("fsync"))
    monkeypatch.setattr(sinks.os, "sync", lambda: calls.append("sync"))
    sink = FolderSink(tmp_path / "out", np.array([[0, 0, 0], [255, 0, 0]]))
    for i in range(3):
        sink.write(_record(i, float(i)))
    assert calls == [] and sorted(p.name for p in (tmp_path / "out").iterdir()) == ["0.jpg", "1.jpg", "2.jpg", "masks"]
    assert not [p for p in (tmp_path / "out").rglob(".*")]  # no temporary file left beside them
    sink.close()
    assert calls == ["sync"]
    assert cv2.imread(str(tmp_path / "out" / "2.jpg")).shape == (*_record(0, 0.0).image.shape[:2], 3)
    assert cv2.imread(str(tmp_path / "out" / "masks" / "2.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint8
