"""Bad input through the real console script: one `error:` line, a non-zero exit, no traceback, nothing written.

One test per kind, parametrized over the commands where the kind repeats: output paths that cannot be
written, option values, YAML configs, a full disk, and the general guard at the CLI edge.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeseg.atomic import WriteError, write_bytes_atomic
from edgeseg.schema import Field, OptionError, check_value
from edgeseg.train.config import TrainConfig, merge

IMAGES = "VOCdevkit/VOC2012/JPEGImages"


def _tree(*roots: Path) -> dict[str, tuple]:
    """Every file (size, mtime) and folder under `roots`: what "left as it was" compares."""
    state: dict[str, tuple] = {}
    for root in roots:
        for folder, _dirs, files in os.walk(root):
            state[folder] = ()
            for name in files:
                info = os.stat(os.path.join(folder, name))
                state[os.path.join(folder, name)] = (info.st_size, info.st_mtime_ns)
    return state


def _one_error_line(result: subprocess.CompletedProcess, expect: str) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert expect in lines[0], lines[0]
    return lines[0]


def _mount_tmpfs(path: Path, options: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    return done.returncode == 0


@pytest.fixture
def read_only_dir(tmp_path) -> Iterator[Path]:
    """A folder no one may write: a read-only tmpfs as root (root ignores mode bits), else mode 555."""
    path = tmp_path / "ro"
    if os.geteuid() == 0:
        if not _mount_tmpfs(path, "size=1m,ro"):
            pytest.skip("running as root where tmpfs cannot be mounted: no honest read-only folder")
        yield path
        subprocess.run(["umount", str(path)], check=True)
    else:
        path.mkdir()
        path.chmod(0o555)
        yield path
        path.chmod(0o755)


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A 6 MiB tmpfs: room for args.yaml and logs, not for a 23 MB checkpoint (needs root to mount)."""
    path = tmp_path / "small"
    if os.geteuid() != 0 or not _mount_tmpfs(path, "size=6m"):
        pytest.skip("mounting a small tmpfs needs root")
    yield path
    subprocess.run(["umount", str(path)], check=True)


# Each writing command with its output option; {out} is replaced by a path that cannot be written.
WRITERS = {
    "train": ["train", "--model", "deeplabv3plus_mobilenetv2", "--data", "{data}", "--epochs", "1", "--project"],
    "eval --json": ["eval", "{ckpt}", "--data", "{data}", "--json"],
    "explain --out": ["explain", "{ckpt}", "{data}/" + IMAGES, "--class", "circle", "--out"],
    "run --save": ["run", "--model", "{onnx}", "--source", "{data}/" + IMAGES, "--no-show", "--save"],
    "run --stats-json": ["run", "--model", "{onnx}", "--source", "{data}/" + IMAGES, "--no-show", "--stats-json"],
    "bench --out": ["bench", "--models", "unet_classic", "--backends", "ort", "--runs", "1", "--out"],
    "data synth": ["data", "synth"],
    "data video": ["data", "video"],
    "export --out": ["export", "{ckpt}", "--no-engine", "--out"],
}
LEAF = {"run --save": "out.mp4", "run --stats-json": "s.json", "eval --json": "m.json", "data video": "v.mp4"}


def _writer_args(command: str, out: str, data: Path, ckpt: Path, onnx: Path) -> list[str]:
    args = [
        a.replace("{data}", str(data)).replace("{ckpt}", str(ckpt)).replace("{onnx}", str(onnx))
        for a in WRITERS[command]
    ]
    return [*args, out]


@pytest.mark.parametrize("command", list(WRITERS))
def test_unwritable_output_is_refused_before_work(
    command, run_edgeseg, tiny_dataset, tiny_checkpoint, tiny_onnx, read_only_dir, tmp_path
):
    """A read-only folder and a path under a regular file: the real cause named, nothing written anywhere."""
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file\n")
    leaf = LEAF.get(command, "out")
    before = _tree(tmp_path, tiny_dataset, tiny_checkpoint.parent.parent, tiny_onnx.parent)
    for out, cause in (
        (f"{read_only_dir}/{leaf}", ("read-only file system", "permission denied")),
        (f"{blocker}/{leaf}", ("is a regular file",)),
    ):
        result = run_edgeseg(*_writer_args(command, out, tiny_dataset, tiny_checkpoint, tiny_onnx), cwd=tmp_path)
        line = _one_error_line(result, f"cannot write {WRITERS[command][-1] if command[:4] != 'data' else 'OUT'} {out}")
        assert any(c in line for c in cause), line
        assert "codec" not in line and ".avi" not in line  # a permission is never blamed on OpenCV
    assert _tree(tmp_path, tiny_dataset, tiny_checkpoint.parent.parent, tiny_onnx.parent) == before


OPTION_CASES = [
    (
        ["train", "--model", "deeplabv3plus_mobilenetv2", "--data", "{data}", "--upsample", "magic"],
        "--upsample must be one of bilinear, transposed, got 'magic'",
    ),
    (
        ["train", "--model", "deeplabv3plus_mobilenetv2", "--data", "{data}", "--output-stride", "7"],
        "--output-stride must be one of 8, 16, got 7",
    ),
    (
        ["train", "--model", "deeplabv3plus_mobilenetv2", "--data", "{data}", "--class-weights", "1,2"],
        "--class-weights has 2 values but",
    ),
    (
        ["train", "--model", "deeplabv3plus_mobilenetv2", "--data", "{data}", "--class-weights", "1,-2,3,1"],
        "--class-weights must be a list of numbers ≥ 0, got '1,-2,3,1'",
    ),
    (
        ["train", "--model", "deeplabv3plus_mobilenetv2", "--data", "{data}", "--workers", "-1"],
        "--workers must be a whole number ≥ 0, got -1",
    ),
    (
        ["train", "--model", "deeplabv3plus_mobilenetv2", "--data", "{data}", "--cache-gb", "-1"],
        "--cache-gb must be a number ≥ 0, got -1.0",
    ),
    (
        ["train", "--model", "deeplabv3plus_mobilenetv2", "--data", "{data}", "--warmup-epochs", "-1"],
        "--warmup-epochs must be a number ≥ 0, got -1.0",
    ),
    (["eval", "{ckpt}", "--data", "{data}", "--batch-size", "0"], "--batch-size must be a whole number ≥ 1, got 0"),
    (["export", "{ckpt}", "--size", "7"], "--size must be S, HxW or [height, width] with each side ≥ 16, got '7'"),
    (["export", "{ckpt}", "--dynamic-batch", "--max-batch", "0"], "--max-batch must be a whole number ≥ 1, got 0"),
    (["export", "{ckpt}", "--opset", "5"], "--opset must be a whole number ≥ 11 and ≤ 23, got 5"),
    (["export", "{ckpt}", "--opset", "99"], "--opset must be a whole number ≥ 11 and ≤ 23, got 99"),
    (["run", "--model", "{onnx}", "--source", "{data}", "--alpha", "2"], "--alpha must be a number ≥ 0 and ≤ 1"),
    (["bench", "--sizes", "7"], "--sizes must be a list of whole numbers ≥ 32, got '7'"),
    (["data", "synth", "ds", "--seed", "-1"], "--seed must be a whole number ≥ 0, got -1"),
    (["train", "--epochs", "two"], "Invalid value for '--epochs'"),
]


@pytest.mark.parametrize(("args", "expect"), OPTION_CASES, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_option_values_name_the_option(args, expect, run_edgeseg, tiny_dataset, tiny_checkpoint, tiny_onnx, tmp_path):
    """Wrong type, range or choice: one line naming the option, before any work (no exporter traces either)."""
    args = [
        a.replace("{data}", str(tiny_dataset)).replace("{ckpt}", str(tiny_checkpoint)).replace("{onnx}", str(tiny_onnx))
        for a in args
    ]
    before = _tree(tmp_path, tiny_checkpoint.parent.parent)
    _one_error_line(run_edgeseg(*args, cwd=tmp_path), expect)
    assert _tree(tmp_path, tiny_checkpoint.parent.parent) == before


@pytest.mark.parametrize(
    ("line", "expect"),
    [
        ('size: "abc"', "size in {config} must be S, HxW or [height, width] with each side ≥ 16, got 'abc'"),
        ('epochs: "two"', "epochs in {config} must be a whole number ≥ 1, got 'two' (text)"),
        ('lr: "fast"', "lr in {config} must be a number > 0, got 'fast' (text)"),
        ("batch_size: 2.7", "batch_size in {config} must be a whole number ≥ 2, got 2.7"),
        ('class_weights: [1, "a", 3]', "class_weights in {config} must be a list of numbers ≥ 0, got [1, 'a', 3]"),
        ("model_kwargs: {output_stride: 7}", "output_stride in {config} must be one of 8, 16, got 7"),
    ],
)
def test_yaml_fields_are_named(line, expect, run_edgeseg, tiny_dataset, tmp_path):
    config = tmp_path / "train.yaml"
    config.write_text(f"model: deeplabv3plus_mobilenetv2\ndata: {tiny_dataset}\nepochs: 1\n{line}\n")
    before = _tree(tmp_path)
    _one_error_line(run_edgeseg("train", "--config", config, cwd=tmp_path), expect.format(config=config))
    assert _tree(tmp_path) == before


def test_one_schema_for_command_line_and_yaml():
    """The same field and value give the same rule, named as an option or as a file's field."""
    for source, name in (("command line", "--batch-size"), ("train.yaml", "batch_size in train.yaml")):
        with pytest.raises(OptionError, match=f"^{name} must be a whole number ≥ 2, got 2.7$"):
            merge(TrainConfig(), {"batch_size": 2.7}, source)
    # What YAML reads as text but means as a number (1e-4 has no dot), and a size as one number.
    settings = merge(TrainConfig(), {"lr": "1e-4", "size": 64, "batch_size": "4"}, "train.yaml")
    assert settings.lr == 1e-4 and settings.size == [64, 64] and settings.batch_size == 4
    assert check_value("size", Field("size", low=16), "384x640") == [384, 640]
    with pytest.raises(OptionError, match="must be a number"):
        check_value("lr", Field("float", low=0), float("nan"))


def test_full_disk_while_saving_a_checkpoint(run_edgeseg, tiny_dataset, small_disk):
    """ENOSPC while torch's checkpoint is written: one line naming the file, no temp file or weights folder left."""
    result = run_edgeseg(
        "train",
        "--model",
        "deeplabv3plus_mobilenetv2",
        "--data",
        tiny_dataset,
        "--size",
        "32",
        "--epochs",
        "1",
        "--workers",
        "0",
        "--warmup-epochs",
        "0",
        "--project",
        small_disk,
        "--name",
        "full",
        cwd=small_disk,
    )
    line = _one_error_line(result, "no space left on device while writing")
    assert line.endswith("; free some space and run again") and "/weights/" in line
    assert not list(small_disk.rglob("*.tmp")) and not (small_disk / "full" / "weights").exists()


def test_full_disk_keeps_the_old_file(small_disk):
    """An atomic write that hits ENOSPC leaves the earlier file byte for byte, and no temporary file."""
    target = small_disk / "keep" / "last.pt"
    write_bytes_atomic(target, b"old checkpoint")
    with pytest.raises(
        WriteError, match=r"^no space left on device while writing .*last.pt \(the earlier file is intact\)"
    ):
        write_bytes_atomic(target, b"\0" * (8 << 20))
    assert target.read_bytes() == b"old checkpoint"
    assert sorted(p.name for p in target.parent.iterdir()) == ["last.pt"]
    with pytest.raises(WriteError, match="no space left on device while writing"):
        write_bytes_atomic(small_disk / "new" / "deeper" / "best.pt", b"\0" * (8 << 20))
    assert not (small_disk / "new").exists()  # folders made for a failed write are removed again


GUARD = """
import sys
from edgeseg.cli import app, main

@app.command("boom")
def boom() -> None:
    {body}

sys.argv = ["edgeseg", "boom"]
main()
"""


@pytest.mark.parametrize(
    ("body", "expect"),
    [
        (
            "raise PermissionError(13, 'Permission denied', '/data/runs/x/results.csv')",
            "error: permission denied: /data/runs/x/results.csv",
        ),
        (
            "raise OSError(28, 'No space left on device', '/data/runs/x/curves.png')",
            "error: no space left on device: /data/runs/x/curves.png",
        ),
        (
            "raise NotADirectoryError(20, 'Not a directory', '/data/file.txt/x')",
            "error: not a directory: /data/file.txt/x",
        ),
    ],
)
def test_guard_turns_os_errors_into_one_line(body, expect):
    result = subprocess.run([sys.executable, "-c", GUARD.format(body=body)], capture_output=True, text=True)
    assert result.returncode == 1 and result.stderr == expect + "\n"


def test_guard_shows_a_bug_as_a_bug():
    """An unexpected exception keeps its traceback (a bug must be debuggable), then says it is a bug."""
    result = subprocess.run([sys.executable, "-c", GUARD.format(body="1 / 0")], capture_output=True, text=True)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1
    assert lines[0] == "Traceback (most recent call last):" and "ZeroDivisionError: division by zero" in lines
    assert lines[-1].startswith("error: this is a bug in edgeseg") and "report it" in lines[-1]


def test_sweep_cases_are_well_formed_and_the_judge_can_fail():
    """Every discovered case has the documented keys; the sweep's judge rejects each way of missing the standard."""
    from benchmarks.bad_inputs.sweep import discover, judge

    cases = discover()
    assert cases and all(isinstance(c["name"], str) and isinstance(c["args"], list) for c in cases)
    assert all(set(c) <= {"name", "args", "files", "expect", "module"} for c in cases)
    case = {"expect": "--lr"}
    good = subprocess.CompletedProcess([], 1, "", "error: --lr must be a number > 0, got 0.0\n")
    assert all(judge(case, good, []).values())
    for done, changed, failed in (
        (subprocess.CompletedProcess([], 0, "", "error: --lr must be\n"), [], "non_zero_exit"),
        (
            subprocess.CompletedProcess([], 1, "", "Traceback (most recent call last):\nValueError: --lr\n"),
            [],
            "one_error_line_last",
        ),
        (subprocess.CompletedProcess([], 1, "", "error: --lr\nerror: again\n"), [], "one_error_line_last"),
        (subprocess.CompletedProcess([], 1, "Traceback", "error: --lr\n"), [], "no_traceback"),
        (subprocess.CompletedProcess([], 1, "", "error: --epochs\n"), [], "expected_text"),
        (good, ["new /tmp/x/runs"], "file_system_unchanged"),
    ):
        assert not judge(case, done, changed)[failed]


def test_every_config_field_has_a_schema_entry():
    """A new option must state its type and range, or the command line and YAML would not check it."""
    import dataclasses

    from edgeseg.bench.config import SCHEMA, BenchConfig
    from edgeseg.train.config import SCHEMA as TRAIN_SCHEMA

    assert {f.name for f in dataclasses.fields(TrainConfig)} - {"model_kwargs"} == set(TRAIN_SCHEMA)
    assert {f.name for f in dataclasses.fields(BenchConfig)} == set(SCHEMA)
