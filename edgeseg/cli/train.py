"""`edgeseg train`: options on top of an optional YAML config, or --resume a saved run."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from edgeseg.cli.options import given_options
from edgeseg.errors import require

Opt = typer.Option
MODEL_KWARGS = ("output_stride", "separable")  # builder arguments: TrainConfig.model_kwargs


def train(
    ctx: typer.Context,
    model: Optional[str] = Opt(None, help="Model name (see `edgeseg models`)."),
    data: Optional[str] = Opt(None, help="VOC-format dataset folder."),
    config: Optional[Path] = Opt(None, help="YAML file of options (same names); command-line options win."),
    resume: Optional[Path] = Opt(None, help="Continue runs/<name>/weights/last.pt exactly where it stopped."),
    upsample: Optional[str] = Opt(None, help="Decoder upsampling: bilinear or transposed (default: the model's)."),
    output_stride: Optional[int] = Opt(None, help="DeepLabV3+ only: 16 (default) or 8."),
    separable: Optional[bool] = Opt(
        None, "--separable/--dense", help="DeepLabV3+ only: atrous separable head (default) or dense 3×3 convs."
    ),
    pretrained_backbone: Optional[str] = Opt(None, help="torchvision ImageNet .pth for the backbone, or 'imagenet'."),
    size: Optional[str] = Opt(None, help="Training input size, S or HxW [default: 512]."),
    resize: Optional[str] = Opt(None, help="Evaluation pre-processing: letterbox (default) or resize."),
    epochs: Optional[int] = Opt(None, help="Total epochs, both phases [default: 100]."),
    batch_size: Optional[int] = Opt(None, help="Batch size once the backbone is unfrozen [default: 4]."),
    lr: Optional[float] = Opt(None, help="Learning rate once unfrozen [default: 1e-4]."),
    freeze_epochs: Optional[int] = Opt(None, help="Epochs with the backbone frozen first [default: 0]."),
    freeze_batch_size: Optional[int] = Opt(None, help="Batch size while frozen [default: 8]."),
    freeze_lr: Optional[float] = Opt(None, help="Learning rate while frozen [default: 5e-4]."),
    optimizer: Optional[str] = Opt(None, help="adam (default), adamw or sgd."),
    weight_decay: Optional[float] = Opt(None, help="Weight decay [default: 0]."),
    scheduler: Optional[str] = Opt(None, help="cosine (default), step (×step-gamma per epoch) or poly."),
    warmup_epochs: Optional[float] = Opt(None, help="Linear warm-up at the start of each phase [default: 1]."),
    step_gamma: Optional[float] = Opt(None, help="LR factor per epoch for --scheduler step [default: 0.94]."),
    loss: Optional[str] = Opt(None, help="ce, dice, focal, or a sum such as ce+dice [default: ce]."),
    class_weights: Optional[str] = Opt(None, help="Comma-separated CE/focal weight per class."),
    device: Optional[str] = Opt(None, help="auto (default), cpu or cuda[:N]."),
    amp: Optional[bool] = Opt(None, "--amp/--no-amp", help="Mixed precision on CUDA [default: on]."),
    workers: Optional[int] = Opt(None, help="DataLoader worker processes [default: 2]."),
    seed: Optional[int] = Opt(None, help="Random seed [default: 0]."),
    project: Optional[str] = Opt(None, help="Folder of runs [default: runs]."),
    name: Optional[str] = Opt(None, help="Run name [default: the model name; numbered if taken]."),
    exist_ok: Optional[bool] = Opt(None, "--exist-ok", help="Reuse runs/<name> instead of numbering a new one."),
    cache_gb: Optional[float] = Opt(None, help="Keep decoded images in RAM up to this size [default: 4]."),
) -> None:
    """Train a model; writes runs/<name>/ with weights/best.pt, last.pt, results.csv, curves.png, TensorBoard."""
    require("torch", extra="train")
    from edgeseg.train.config import TrainConfig, load_yaml, merge
    from edgeseg.train.resume import config_for_resume, resume_payload
    from edgeseg.train.trainer import Trainer
    from edgeseg.writable import check_writable

    # S or HxW for --size and "1,2,3" for --class-weights are read by the schema as a YAML value is.
    overrides = given_options(ctx, leave_out=("config", "resume"))
    builder = {k: overrides.pop(k) for k in MODEL_KWARGS if k in overrides}
    overrides["model_kwargs"] = builder or None  # None: none given, keep the config's
    if resume:
        payload = resume_payload(resume)
        run_dir = resume.resolve().parent.parent
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
