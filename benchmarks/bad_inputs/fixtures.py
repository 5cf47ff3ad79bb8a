"""The shared things hostile cases point at: a dataset, a trained checkpoint, its ONNX, a read-only folder,
a regular file, and a full disk. Made once per sweep; cases must leave every one of them as it was.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _mount_tmpfs(path: Path, size: str, read_only: bool = False) -> bool:
    """A small tmpfs at `path` (needs root); False where mounting is not allowed."""
    options = f"size={size}" + (",ro" if read_only else "")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    return done.returncode == 0


def _read_only_folder(path: Path) -> str:
    """Root ignores mode bits, so as root a read-only mount is the honest read-only folder."""
    path.mkdir()
    if os.geteuid() == 0:
        if _mount_tmpfs(path, "1m"):
            (path / "keep.txt").write_text("a file that must stay\n")
            remount = ["mount", "-o", "remount,ro", str(path)]
            if subprocess.run(remount, capture_output=True).returncode == 0:
                return "read-only tmpfs mount"
            subprocess.run(["umount", str(path)], capture_output=True)
        raise RuntimeError("running as root without mount: no honest read-only folder")
    (path / "keep.txt").write_text("a file that must stay\n")
    path.chmod(0o555)
    return "folder with mode 555"


def _full_folder(path: Path) -> str | None:
    """A folder on a file system with no space left (a tiny tmpfs filled up), or None where not possible."""
    path.mkdir()
    if os.geteuid() != 0 or not _mount_tmpfs(path, "256k"):
        return None
    with contextlib.suppress(OSError), open(path / "filler.bin", "wb") as filler:
        while True:
            filler.write(b"\0" * 65536)
    return "256 KiB tmpfs, filled"


def _train_and_export(data: Path, base: Path) -> tuple[Path, Path]:
    from edgeseg.export.steps import ExportOptions, run_export
    from edgeseg.train.config import TrainConfig
    from edgeseg.train.trainer import Trainer

    config = TrainConfig(
        model="deeplabv3plus_mobilenetv2",
        data=str(data),
        size=[32, 32],
        epochs=1,
        batch_size=4,
        lr=2e-3,
        workers=0,
        project=str(base / "runs"),
        name="tiny",
        warmup_epochs=0,
    )
    with contextlib.redirect_stdout(open(os.devnull, "w")):
        checkpoint = Trainer(config).run() / "weights" / "best.pt"
        run_export(ExportOptions(checkpoint, out=base / "onnx", engine=False), log=lambda m: None)
    return checkpoint, base / "onnx" / "model.onnx"


@contextlib.contextmanager
def prepared(base: Path | None = None) -> Iterator[dict[str, str]]:
    """The placeholders' values ({data}, {ckpt}, {onnx}, {ro}, {file}, and {full} where it can be made)."""
    from edgeseg.data.synth import synth_dataset

    with tempfile.TemporaryDirectory(prefix="edgeseg-sweep-") as made:
        root = Path(base or made)
        synth_dataset(root / "data", images=12, size=48, num_classes=3, seed=1)
        checkpoint, onnx = _train_and_export(root / "data", root)
        (root / "file.txt").write_text("a regular file, not a folder\n")
        values = {
            "data": str(root / "data"),
            "ckpt": str(checkpoint),
            "onnx": str(onnx),
            "file": str(root / "file.txt"),
        }
        mounts = []
        values["ro_kind"] = _read_only_folder(root / "ro")
        values["ro"] = str(root / "ro")
        if values["ro_kind"].startswith("read-only tmpfs"):
            mounts.append(root / "ro")
        full = _full_folder(root / "full")
        if full:
            values["full"], values["full_kind"] = str(root / "full"), full
            mounts.append(root / "full")
        try:
            yield values
        finally:
            for mount in mounts:
                subprocess.run(["umount", str(mount)], capture_output=True)
            (root / "ro").chmod(0o755)
