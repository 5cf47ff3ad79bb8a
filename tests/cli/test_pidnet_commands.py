"""PIDNet-S through every command, as a user runs it: train (from the authors' ImageNet file, two phases, with
DDP), eval, export (FP32 and INT8 with parity, the class map in the graph), run, the API and explain. (FP16 is
the FP32 graph converted as for any model; benchmarks/pidnet.py measures what it keeps.)

Tiny sizes (32² training, 48 px images): these tests check the paths, not the accuracy.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.models.test_pidnet import authors_state_dict, imagenet_part

pytestmark = pytest.mark.slow

TINY = ("--model", "pidnet_s", "--size", "32", "--batch-size", "4", "--workers", "0", "--lr", "2e-3")


@pytest.fixture(scope="module")
def imagenet_file(tmp_path_factory) -> tuple[Path, dict[str, torch.Tensor]]:
    """A file laid out as the authors' PIDNet_S_ImageNet.pth.tar (their names, a classifier, a training wrapper)."""
    state = authors_state_dict("pidnet_s", seed=5, keep=imagenet_part)
    state["linear.weight"] = torch.randn(1000, 1024)
    path = tmp_path_factory.mktemp("weights") / "PIDNet_S_ImageNet.pth.tar"
    torch.save({"epoch": 100, "state_dict": state}, path)
    return path, state


@pytest.fixture(scope="module")
def trained(tiny_dataset, imagenet_file, tmp_path_factory) -> Path:
    """Two epochs from the ImageNet file, the first with the backbone frozen, OHEM for the final head."""
    project = tmp_path_factory.mktemp("runs")
    args = ["train", *TINY, "--data", str(tiny_dataset), "--project", str(project), "--name", "pid"]
    args += ["--epochs", "2", "--freeze-epochs", "1", "--freeze-batch-size", "4", "--loss", "ohem"]
    args += ["--pretrained-backbone", str(imagenet_file[0])]
    edgeseg = Path(sys.executable).with_name("edgeseg")
    result = subprocess.run([str(edgeseg), *args], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    return project / "pid"


def test_training_starts_from_the_file_and_runs_both_phases(trained, imagenet_file):
    rows = list(csv.DictReader((trained / "results.csv").open()))
    assert [r["phase"] for r in rows] == ["frozen", "unfrozen"]
    assert all(np.isfinite(float(r["train_loss"])) for r in rows)
    # The paper's terms are in the training loss (the boundary BCE alone is ×20), not in the val loss.
    assert float(rows[0]["train_loss"]) > float(rows[0]["val_loss"])
    payload = torch.load(trained / "weights" / "last.pt", weights_only=True)
    assert payload["metadata"]["model_config"] == {"model": "pidnet_s", "num_classes": 4, "upsample": "bilinear"}
    # Frozen for one epoch, then four Adam steps of at most ~lr each: the file's weights are still there, where a
    # fresh He initialisation differs from them by several tenths somewhere in each tensor.
    for key in ("conv1.0.weight", "layer3.0.conv1.weight", "layer5_.0.conv3.weight", "pag4.f_y.0.weight"):
        moved = (payload["model"][f"backbone.{key}"] - imagenet_file[1][key]).abs().max()
        assert moved < 0.03, key


def test_eval_export_run_api_and_explain(run_edgeseg, trained, tiny_dataset, tmp_path):
    best = trained / "weights" / "best.pt"
    result = run_edgeseg("eval", best, "--data", tiny_dataset, "--json", tmp_path / "val.json")
    assert result.returncode == 0, result.stderr
    assert 0 <= json.loads((tmp_path / "val.json").read_text())["mIoU"] <= 1

    export = tmp_path / "export"
    result = run_edgeseg(
        *("export", best, "--out", export, "--int8", "--calib", tiny_dataset, "--verify", tiny_dataset),
        *("--no-engine", "--max-int8-drop", "100"),
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((export / "export_report.json").read_text())
    parity = {row["name"]: row for row in report["parity"]}
    assert parity["onnx fp32 vs pytorch"]["argmax_agreement"] > 0.999
    assert "onnx int8 vs reference" in parity
    check_exported_graphs(export)

    images = tiny_dataset / "VOCdevkit" / "VOC2012" / "JPEGImages"
    result = run_edgeseg(
        "run", "--model", export / "model.int8.onnx", "--source", images, "--save", tmp_path / "out", "--no-show"
    )
    assert result.returncode == 0, result.stderr
    assert len(list((tmp_path / "out").rglob("*.png"))) >= len(list(images.glob("*.jpg")))

    import edgeseg

    image = sorted(images.glob("*.jpg"))[0]
    with edgeseg.load(export / "model.onnx", provider="cpu") as model:
        mask = model(image)
    assert mask.dtype == np.uint8 and mask.shape == (*np.asarray(_size(image))[::-1],)

    for name in ("circle", "rectangle", "triangle", "background"):
        result = run_edgeseg("explain", best, image, "--class", name, "--out", tmp_path / "cam")
        if result.returncode == 0:
            break
        assert "is absent from every prediction" in result.stderr
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "cam" / f"{image.name}_{name}_gradcam.png").is_file()
    listing = run_edgeseg("explain", best, "--list-layers")
    assert "default (the row figure's): final_layer.relu2" in listing.stdout


def _size(path: Path) -> tuple[int, int]:
    import cv2

    height, width = cv2.imread(str(path)).shape[:2]
    return width, height


def check_exported_graphs(export: Path) -> None:
    """One output, the class map; nothing of the training-only heads; INT8 leaves standalone BN's weights be."""
    import onnx

    for name in ("model.onnx", "model.int8.onnx"):
        graph = onnx.load(str(export / name)).graph
        assert [o.name for o in graph.output] == ["classes"], name
        names = [n.name for n in graph.node] + [i.name for i in graph.initializer]
        assert not [n for n in names if "seghead" in n], name
        assert any("final_layer" in n for n in names), name
    graph = onnx.load(str(export / "model.int8.onnx")).graph
    initializers = {i.name for i in graph.initializer}
    norms = [n for n in graph.node if n.op_type == "BatchNormalization"]
    assert norms and all(set(n.input[1:]) <= initializers for n in norms)
    assert any(n.op_type == "QuantizeLinear" for n in graph.node)


def test_two_process_gloo_run_trains_pidnet(tiny_dataset, tmp_path):
    """DDP carries the training-only heads' outputs (a dict) and reduces every parameter's gradient."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    command += ["-m", "edgeseg", "train", *TINY, "--data", str(tiny_dataset), "--project", str(tmp_path)]
    command += ["--name", "ddp", "--epochs", "1", "--device", "cpu"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "× 2 processes" in result.stdout
    payload = torch.load(tmp_path / "ddp" / "weights" / "last.pt", weights_only=True)
    assert payload["train_state"]["position"]["epoch"] == 1
