"""`edgeseg train` and `edgeseg eval` end to end on real files, through the real console script."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from edgeseg.train.checkpoint import FORMAT

TINY = (
    "--model",
    "deeplabv3plus_mobilenetv2",
    "--size",
    "32",
    "--batch-size",
    "4",
    "--workers",
    "0",
    "--lr",
    "2e-3",
)


def train_args(data: Path, project: Path, name: str, *extra: str) -> list[str]:
    return ["train", *TINY, "--data", str(data), "--project", str(project), "--name", name, *extra]


@pytest.fixture(scope="module")
def trained_run(tiny_dataset, tmp_path_factory) -> Path:
    """Three epochs, the first with the backbone frozen: the run the other tests inspect."""
    project = tmp_path_factory.mktemp("runs")
    edgeseg = Path(sys.executable).with_name("edgeseg")
    args = train_args(
        tiny_dataset,
        project,
        "tiny",
        "--epochs",
        "3",
        "--freeze-epochs",
        "1",
        "--freeze-batch-size",
        "4",
        "--loss",
        "ce+dice",
    )
    result = subprocess.run([str(edgeseg), *args], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "done: best val mIoU" in result.stdout
    return project / "tiny"


def test_run_folder_holds_everything(trained_run):
    for name in ("weights/best.pt", "weights/last.pt", "results.csv", "curves.png", "args.yaml"):
        assert (trained_run / name).is_file(), name
    assert list(trained_run.glob("events.out.tfevents.*")), "no TensorBoard event file"
    rows = list(csv.DictReader((trained_run / "results.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert [r["phase"] for r in rows] == ["frozen", "unfrozen", "unfrozen"]
    assert all(0 <= float(r["val_mIoU"]) <= 1 for r in rows)


def test_checkpoints_load_with_weights_only_and_carry_metadata(trained_run):
    for name in ("best.pt", "last.pt"):
        payload = torch.load(trained_run / "weights" / name, map_location="cpu", weights_only=True)
        assert payload["format"] == FORMAT
        meta = payload["metadata"]
        assert meta["class_names"] == ["background", "circle", "rectangle", "triangle"]
        assert meta["input_size"] == [32, 32] and meta["resize"] == "letterbox"
        assert meta["model"] == "deeplabv3plus_mobilenetv2" and meta["upsample"] == "bilinear"
        assert len(meta["palette"]) == 4 and meta["versions"]["torch"] == torch.__version__
    assert "train_state" in torch.load(trained_run / "weights" / "last.pt", weights_only=True)


def test_eval_writes_table_json_and_chart(run_edgeseg, trained_run, tiny_dataset, tmp_path):
    out = tmp_path / "metrics.json"
    result = run_edgeseg(
        "eval", trained_run / "weights" / "best.pt", "--data", tiny_dataset, "--json", out, "--workers", "0"
    )
    assert result.returncode == 0, result.stderr
    assert "mIoU" in result.stdout and "circle" in result.stdout
    report = json.loads(out.read_text())
    assert report["images"] == 5 and report["split"] == "val"
    assert set(report) >= {
        "mIoU",
        "mPA",
        "mRecall",
        "mPrecision",
        "pixel_accuracy",
        "per_class",
        "confusion_matrix",
    }
    assert out.with_suffix(".png").stat().st_size > 1000
    # The validation of the last epoch ran the same code on the same weights.
    rows = list(csv.DictReader((trained_run / "results.csv").open()))
    best = max(float(r["val_mIoU"]) for r in rows)
    assert report["mIoU"] == pytest.approx(best, abs=1e-4)


def test_eval_subset_and_default_chart(run_edgeseg, trained_run, tiny_dataset):
    result = run_edgeseg(
        "eval",
        trained_run / "weights" / "last.pt",
        "--data",
        tiny_dataset,
        "--subset",
        "2",
        "--split",
        "train",
        "--workers",
        "0",
    )
    assert result.returncode == 0, result.stderr
    assert "on train, 2 images" in result.stdout
    assert (trained_run / "eval_train.png").is_file()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b"garbage"), "is a text file"),
        (lambda p: torch.save({"weights": torch.zeros(2)}, p), "is not an edgeseg checkpoint"),
        (lambda p: None, "checkpoint not found"),
    ],
)
def test_eval_bad_checkpoint(run_edgeseg, tiny_dataset, tmp_path, make, message):
    path = tmp_path / "model.pt"
    make(path)
    result = run_edgeseg("eval", path, "--data", tiny_dataset)
    assert result.returncode == 1
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--data", "/nonexistent"), "dataset not found: /nonexistent"),
        (("--model", "segformer"), "unknown model 'segformer'"),
        (("--loss", "ce+lovasz"), "joined by '+'"),
        (("--batch-size", "64"), "fewer than the batch size 64"),
        (("--output-stride", "8", "--model", "unet_vgg16"), "unexpected keyword argument 'output_stride'"),
        (("--dense", "--model", "unet_vgg16"), "unexpected keyword argument 'separable'"),
    ],
)
def test_train_bad_input_is_one_clear_line(run_edgeseg, tiny_dataset, tmp_path, args, message):
    result = run_edgeseg(*train_args(tiny_dataset, tmp_path, "bad", "--epochs", "1"), *args)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_nan_loss_stops_with_a_clear_message(run_edgeseg, tiny_dataset, tmp_path):
    result = run_edgeseg(
        *train_args(tiny_dataset, tmp_path, "nan", "--epochs", "2", "--lr", "1e30", "--warmup-epochs", "0")
    )
    assert result.returncode == 1
    assert "the loss became nan" in result.stderr and "start again with a lower --lr" in result.stderr


def test_config_file_and_command_line(run_edgeseg, tiny_dataset, tmp_path):
    config = tmp_path / "train.yaml"
    config.write_text("epochs: 1\nscheduler: step\nstep_gamma: 0.5\nloss: focal\nbatch_size: 3\n")
    flags = ["--batch-size", "4", "--scheduler", "poly", "--step-gamma", "0.9", "--optimizer", "adamw"]
    flags += ["--freeze-lr", "0.001", "--no-amp"]
    result = run_edgeseg(*train_args(tiny_dataset, tmp_path, "cfg"), "--config", config, *flags)
    assert result.returncode == 0, result.stderr
    saved = (tmp_path / "cfg" / "args.yaml").read_text()
    assert "loss: focal" in saved  # from the file
    for line in ("batch_size: 4", "scheduler: poly", "step_gamma: 0.9", "optimizer: adamw", "freeze_lr: 0.001"):
        assert line in saved  # the command line wins over the file
    assert "amp: false" in saved
    config.write_text("epochs: 1\nlearning_rate: 3\n")
    result = run_edgeseg(*train_args(tiny_dataset, tmp_path, "cfg2"), "--config", config)
    assert result.returncode == 1 and "unknown option(s) learning_rate" in result.stderr


def _state(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


def test_ctrl_c_saves_last_and_resume_continues_exactly(tiny_dataset, tmp_path):
    edgeseg = str(Path(sys.executable).with_name("edgeseg"))
    common = ("--epochs", "3", "--cache-gb", "1")
    straight = subprocess.run(
        [edgeseg, *train_args(tiny_dataset, tmp_path, "straight", *common)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert straight.returncode == 0, straight.stderr

    # The same run, interrupted with SIGINT (Ctrl-C) once it has finished its first epoch.
    proc = subprocess.Popen(
        [edgeseg, *train_args(tiny_dataset, tmp_path, "interrupted", *common)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in proc.stdout:
        if line.startswith("epoch 1/3"):
            break
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    last = tmp_path / "interrupted" / "weights" / "last.pt"
    assert proc.returncode == 130, err
    assert "interrupted: saved" in out and "Traceback" not in err
    position = torch.load(last, weights_only=True)["train_state"]["position"]
    assert position["epoch"] < 3

    resumed = subprocess.run([edgeseg, "train", "--resume", str(last)], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    final_straight = _state(tmp_path / "straight" / "weights" / "last.pt")
    final_resumed = _state(last)
    for key, value in final_straight.items():
        assert torch.equal(value, final_resumed[key]), key
    rows = lambda name: [r["train_loss"] for r in csv.DictReader((tmp_path / name / "results.csv").open())]  # noqa: E731
    assert rows("straight") == rows("interrupted")


def test_resume_refuses_a_weights_only_checkpoint_and_new_options(run_edgeseg, trained_run):
    result = run_edgeseg("train", "--resume", trained_run / "weights" / "best.pt")
    assert result.returncode == 1 and "holds weights only" in result.stderr
    result = run_edgeseg("train", "--resume", trained_run / "weights" / "last.pt", "--optimizer", "sgd")
    assert result.returncode == 1
    assert "only cache_gb, device, epochs, freeze_lr, lr, workers may change" in result.stderr


def test_two_process_gloo_run_trains(tiny_dataset, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "edgeseg",
        *train_args(tiny_dataset, tmp_path, "ddp", "--epochs", "2", "--device", "cpu"),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "× 2 processes" in result.stdout
    rows = list(csv.DictReader((tmp_path / "ddp" / "results.csv").open()))
    assert len(rows) == 2  # written once, by rank 0
    payload = torch.load(tmp_path / "ddp" / "weights" / "last.pt", weights_only=True)
    assert payload["train_state"]["position"]["epoch"] == 2
    assert payload["train_state"]["world_size"] == 2  # a resume with another count is refused


def test_new_run_dirs_never_overwrite(tmp_path):
    from edgeseg.train.trainer import new_run_dir

    assert new_run_dir(str(tmp_path), "mobilenetv2", exist_ok=False) == tmp_path / "mobilenetv2"
    (tmp_path / "mobilenetv2").mkdir()
    assert new_run_dir(str(tmp_path), "mobilenetv2", exist_ok=False) == tmp_path / "mobilenetv2-2"
    (tmp_path / "mobilenetv2-2").mkdir()
    assert new_run_dir(str(tmp_path), "mobilenetv2", exist_ok=False) == tmp_path / "mobilenetv2-3"
    assert new_run_dir(str(tmp_path), "mobilenetv2", exist_ok=True) == tmp_path / "mobilenetv2"


def test_dense_head_is_trained_and_recorded(run_edgeseg, tiny_dataset, tmp_path):
    config = tmp_path / "train.yaml"
    config.write_text("model_kwargs: {output_stride: 8}\n")
    result = run_edgeseg(*train_args(tiny_dataset, tmp_path, "dense", "--epochs", "1", "--dense", "--config", config))
    assert result.returncode == 0, result.stderr
    payload = torch.load(tmp_path / "dense" / "weights" / "last.pt", weights_only=True)
    recorded = payload["metadata"]["model_config"]
    assert recorded["separable"] is False and recorded["output_stride"] == 8  # --dense kept the config's stride


def test_resuming_a_run_saved_before_the_separable_head_keeps_it_dense():
    from edgeseg.train.resume import config_for_resume

    old = {"train_state": {"config": {"model": "deeplabv3plus_mobilenetv2"}}, "metadata": {"model_config": {}}}
    assert config_for_resume(old, {}).model_kwargs == {"separable": False}
    new = {
        "train_state": {"config": {"model": "deeplabv3plus_mobilenetv2"}},
        "metadata": {"model_config": {"separable": True}},
    }
    assert config_for_resume(new, {}).model_kwargs == {}
