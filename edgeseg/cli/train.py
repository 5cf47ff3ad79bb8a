"""`edgeseg train`: options on top of an optional YAML config, or --resume a saved run."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from edgeseg.cli.options import default_help, given_options
from edgeseg.errors import require
from edgeseg.runtime.metadata import RESIZE_MODES, UPSAMPLE_MODES
from edgeseg.train.config import OPTIMIZERS, TrainConfig
from edgeseg.train.schedule import SCHEDULES

Opt = typer.Option


def _default(name: str) -> str:
    """'[default: …]' read from TrainConfig, where the default is set."""
    return default_help(TrainConfig, name)


def _choices(names: tuple[str, ...]) -> str:
    return ", ".join(names[:-1]) + " or " + names[-1]


MODEL_KWARGS = ("output_stride", "separable")  # builder arguments: TrainConfig.model_kwargs


def train(
    ctx: typer.Context,
    model: Optional[str] = Opt(None, help="Model name (see `edgeseg models`)."),
    data: Optional[str] = Opt(None, help="VOC-format dataset folder."),
    config: Optional[Path] = Opt(None, help="YAML file of options (same names); command-line options win."),
    resume: Optional[Path] = Opt(None, help="Continue runs/<name>/weights/last.pt exactly where it stopped."),
    upsample: Optional[str] = Opt(None, help=f"Decoder upsampling: {_choices(UPSAMPLE_MODES)} {_default('upsample')}."),
    output_stride: Optional[int] = Opt(None, help="DeepLabV3+ only: 16 (default) or 8."),
    separable: Optional[bool] = Opt(
        None, "--separable/--dense", help="DeepLabV3+ only: atrous separable head (default) or dense 3×3 convs."
    ),
    pretrained_backbone: Optional[str] = Opt(None, help="torchvision ImageNet .pth for the backbone, or 'imagenet'."),
    size: Optional[str] = Opt(None, help=f"Training input size, S or HxW {_default('size')}."),
    resize: Optional[str] = Opt(
        None, help=f"Evaluation pre-processing: {_choices(RESIZE_MODES)} {_default('resize')}."
    ),
    epochs: Optional[int] = Opt(None, help=f"Total epochs, both phases {_default('epochs')}."),
    batch_size: Optional[int] = Opt(None, help=f"Batch size once the backbone is unfrozen {_default('batch_size')}."),
    lr: Optional[float] = Opt(None, help=f"Learning rate once unfrozen {_default('lr')}."),
    freeze_epochs: Optional[int] = Opt(
        None, help=f"Epochs with the backbone frozen first {_default('freeze_epochs')}."
    ),
    freeze_batch_size: Optional[int] = Opt(None, help=f"Batch size while frozen {_default('freeze_batch_size')}."),
    freeze_lr: Optional[float] = Opt(None, help=f"Learning rate while frozen {_default('freeze_lr')}."),
    optimizer: Optional[str] = Opt(None, help=f"{_choices(OPTIMIZERS)} {_default('optimizer')}."),
    weight_decay: Optional[float] = Opt(None, help=f"Weight decay {_default('weight_decay')}."),
    scheduler: Optional[str] = Opt(
        None, help=f"{_choices(SCHEDULES)} (step: ×step-gamma per epoch) {_default('scheduler')}."
    ),
    warmup_epochs: Optional[float] = Opt(
        None, help=f"Linear warm-up epochs at the start of each phase {_default('warmup_epochs')}."
    ),
    step_gamma: Optional[float] = Opt(None, help=f"LR factor per epoch for --scheduler step {_default('step_gamma')}."),
    loss: Optional[str] = Opt(
        None, help=f"ce, ohem (CE on the hard pixels), dice, focal, or a sum such as ce+dice {_default('loss')}."
    ),
    class_weights: Optional[str] = Opt(None, help="Comma-separated CE/focal weight per class."),
    device: Optional[str] = Opt(None, help=f"auto, cpu or cuda[:N] {_default('device')}."),
    amp: Optional[bool] = Opt(None, "--amp/--no-amp", help=f"Mixed precision on CUDA {_default('amp')}."),
    workers: Optional[int] = Opt(None, help=f"DataLoader worker processes {_default('workers')}."),
    seed: Optional[int] = Opt(None, help=f"Random seed {_default('seed')}."),
    project: Optional[str] = Opt(None, help=f"Folder of runs {_default('project')}."),
    name: Optional[str] = Opt(None, help=f"Run name {_default('name')}."),
    exist_ok: Optional[bool] = Opt(None, "--exist-ok", help="Reuse runs/<name> instead of numbering a new one."),
    cache_gb: Optional[float] = Opt(
        None, help=f"Keep decoded images in RAM up to this many GB {_default('cache_gb')}."
    ),
) -> None:
    """Train a model; writes runs/<name>/ with weights/best.pt, last.pt, results.csv, curves.png, TensorBoard."""
    require("torch", extra="train")
    from edgeseg.train.config import load_yaml, merge
    from edgeseg.train.resume import config_for_resume, resume_folder, resume_payload
    from edgeseg.train.trainer import Trainer
    from edgeseg.writable import check_writable

    # S or HxW for --size and "1,2,3" for --class-weights are read by the schema as a YAML value is.
    overrides = given_options(ctx, leave_out=("config", "resume"))
    builder = {k: overrides.pop(k) for k in MODEL_KWARGS if k in overrides}
    overrides["model_kwargs"] = builder or None  # None: none given, keep the config's
    if resume:
        payload = resume_payload(resume)
        run_dir = resume_folder(resume, payload)
        settings = config_for_resume(payload, overrides)
        check_writable(run_dir, "--resume's run folder", folder=True)
        trainer = Trainer(settings, payload, run_dir=run_dir)
    else:
        settings = merge(TrainConfig(), load_yaml(config), str(config)) if config else TrainConfig()
        if overrides["model_kwargs"]:  # --dense beside a config's output_stride keeps both
            overrides["model_kwargs"] = {**settings.model_kwargs, **overrides["model_kwargs"]}
        settings = merge(settings, overrides, "command line").check()
        check_writable(settings.project, "--project", folder=True)
        trainer = Trainer(settings)
    run_dir = trainer.run()
    best = trainer.position["best_miou"]
    typer.echo(f"done: best val mIoU {best:.4f}; weights in {run_dir / 'weights'}, curves in {run_dir / 'curves.png'}")
