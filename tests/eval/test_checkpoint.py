"""Evaluating a saved checkpoint (what `edgeseg eval` runs), and where its chart goes by default."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeseg.data.voc import load_split, read_sample
from edgeseg.errors import EdgesegError
from edgeseg.eval.checkpoint import evaluate_checkpoint
from edgeseg.eval.report import default_plot_path


def test_a_subset_is_scored_over_every_labelled_pixel_at_full_resolution(tiny_checkpoint, tiny_dataset):
    result = evaluate_checkpoint(tiny_checkpoint, tiny_dataset, subset=3, workers=0)
    split = load_split(tiny_dataset, "val")
    labels = [read_sample(sample, split.num_classes)[1] for sample in split.samples[:3]]
    assert result.metrics.confusion.sum() == sum(int((label < split.num_classes).sum()) for label in labels)
    assert labels[0].shape != (32, 32)  # the network ran at 32×32: the labels were not resized to it
    assert result.info["images"] == 3 and result.info["split"] == "val"
    assert result.title == "deeplabv3plus_mobilenetv2 (bilinear) on val, 3 images"


def test_a_dataset_with_other_classes_is_refused(tiny_checkpoint, tmp_path):
    from edgeseg.data.synth import synth_dataset

    synth_dataset(tmp_path / "five", images=5, size=48, num_classes=5)
    with pytest.raises(EdgesegError, match=r"predicts 4 classes but \S+ has 5; evaluate on the dataset it was"):
        evaluate_checkpoint(tiny_checkpoint, tmp_path / "five", workers=0)


def test_the_chart_goes_beside_the_json_else_in_the_run_folder(tmp_path):
    run = tmp_path / "runs" / "exp"
    assert default_plot_path(run / "weights" / "best.pt", tmp_path / "m.json", "val") == tmp_path / "m.png"
    assert default_plot_path(run / "weights" / "best.pt", None, "val") == run.resolve() / "eval_val.png"
    assert default_plot_path(run / "model.pt", None, "train") == run.resolve() / "eval_train.png"
    assert default_plot_path(Path("best.pt"), None, "val") == Path.cwd().resolve() / "eval_val.png"
