"""The training loop: two phases (frozen backbone, then all), per-epoch validation, exact resume."""

from __future__ import annotations

import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Subset
from tqdm import tqdm

from edgeseg.atomic import write_text_atomic
from edgeseg.data.loader import EpochSampler, EvalDataset, SampleStore, TrainDataset, collate_eval
from edgeseg.data.voc import DataError, Split, load_split
from edgeseg.data.workers import SignalSafeLoader
from edgeseg.errors import EdgesegError, describe, require
from edgeseg.eval.evaluate import evaluate
from edgeseg.interrupt import StopOnInterrupt, StopRequested
from edgeseg.models import build_model
from edgeseg.models.base import SegmentationModel
from edgeseg.runtime.preprocess import IMAGENET_MEAN, IMAGENET_STD
from edgeseg.train.checkpoint import (
    DAMAGED,
    CheckpointError,
    load_weights,
    make_metadata,
    save_checkpoint,
)
from edgeseg.train.config import ConfigError, TrainConfig
from edgeseg.train.distributed import init_distributed, resolve_device, shutdown
from edgeseg.train.losses import SegmentationLoss
from edgeseg.train.resume import check_processes, restore_scaler
from edgeseg.train.runlog import RunLog
from edgeseg.train.schedule import learning_rate


class TrainingDiverged(EdgesegError):
    """The loss became NaN or infinite."""


def new_run_dir(project: str, name: str, exist_ok: bool) -> Path:
    """runs/<name>, or runs/<name>-2, runs/<name>-3 … so an earlier run is never overwritten.

    The dash keeps names that end in a digit readable (mobilenetv2-2, not mobilenetv22)."""
    base = Path(project) / name
    if exist_ok or not base.exists():
        return base
    index = 2
    while (candidate := Path(project) / f"{name}-{index}").exists():
        index += 1
    return candidate


@dataclass
class Phase:
    """A training phase: backbone frozen, or all of the model, each with its own batch size and LR schedule."""

    name: str  # "frozen" or "unfrozen": the results.csv column
    loader: DataLoader
    net: torch.nn.Module  # the model, or its DistributedDataParallel wrapper
    steps: int  # optimizer steps per epoch
    base_lr: float
    epochs: int  # how many epochs the phase lasts
    start: int  # the epoch it starts at


class Trainer:
    """Trains `config` into a run folder (runs/<name>/): weights/best.pt and last.pt, results.csv, curves."""

    def __init__(
        self, config: TrainConfig, resume_from: dict[str, Any] | None = None, run_dir: Path | None = None
    ) -> None:
        self.config = config.check()
        wants_cuda = config.device.startswith("cuda") or (config.device == "auto" and torch.cuda.is_available())
        self.ddp = init_distributed("cuda" if wants_cuda else "cpu")
        self.resume_path = (run_dir / "weights" / "last.pt") if run_dir else "last.pt"
        if resume_from:
            check_processes(resume_from, self.ddp.world_size, self.resume_path)
        self.device = resolve_device(config.device, self.ddp)
        self.amp = config.amp and self.device.type == "cuda"
        torch.manual_seed(config.seed)
        self.size = (int(config.size[0]), int(config.size[1]))
        train_split, val_split = self._splits()
        self.class_names = train_split.class_names
        self.train_store = SampleStore(train_split, config.cache_gb)
        self.val_store = SampleStore(val_split, config.cache_gb)
        self.model = self._build_model(pretrained=not resume_from)
        self.metadata = make_metadata(
            self.model, self.class_names, self.size, IMAGENET_MEAN, IMAGENET_STD, config.resize
        )
        self.optimizer = self._optimizer()
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.loss_fn = SegmentationLoss(config.loss, len(self.class_names), config.class_weights).to(self.device)
        self.train_set = TrainDataset(
            self.train_store,
            self.size,
            seed=config.seed,
            mean=tuple(self.metadata.mean),
            std=tuple(self.metadata.std),
        )
        self.sampler = EpochSampler(
            len(self.train_set), seed=config.seed, rank=self.ddp.rank, world_size=self.ddp.world_size
        )
        self.val_loader = self._val_loader()
        self.position = {"epoch": 0, "step": 0, "loss_sum": 0.0, "loss_count": 0, "best_miou": -1.0}
        if resume_from:
            self._restore(resume_from)
        self.run_dir = run_dir or new_run_dir(config.project, config.name or config.model, config.exist_ok)
        self.weights_dir = self.run_dir / "weights"
        self.phase: Phase | None = None  # entered by the first epoch, again when the backbone is unfrozen
        self.stop = StopOnInterrupt("Ctrl-C: stopping after this step to save last.pt (press again to stop now)")

    def _splits(self) -> tuple[Split, Split]:
        """The train and val splits, and --class-weights checked against the dataset's classes."""
        config = self.config
        train_split, val_split = load_split(config.data, config.train_split), load_split(config.data, config.val_split)
        names = train_split.class_names
        if config.class_weights is not None and len(config.class_weights) != len(names):
            raise ConfigError(
                f"--class-weights has {len(config.class_weights)} values but {config.data} has "
                f"{len(names)} classes ({', '.join(names)}); give one weight per class"
            )
        return train_split, val_split

    def _build_model(self, pretrained: bool) -> SegmentationModel:
        config, kwargs = self.config, dict(self.config.model_kwargs)
        if config.upsample:
            kwargs["upsample"] = config.upsample
        if config.pretrained_backbone and pretrained:  # a resumed run has its own weights
            kwargs["pretrained_backbone"] = config.pretrained_backbone
        return build_model(config.model, num_classes=len(self.class_names), **kwargs).to(self.device)

    def _val_loader(self) -> DataLoader:
        """This process's share of the val split, pre-processed as the runtime does it."""
        val_set = EvalDataset(
            self.val_store,
            self.size,
            mean=tuple(self.metadata.mean),
            std=tuple(self.metadata.std),
            resize=self.config.resize,
        )
        shard = list(range(self.ddp.rank, len(val_set), self.ddp.world_size))
        return self._loader(Subset(val_set, shard), self.config.batch_size, collate_fn=collate_eval)

    def _optimizer(self) -> torch.optim.Optimizer:
        params, cfg = self.model.parameters(), self.config
        if cfg.optimizer == "sgd":
            return torch.optim.SGD(
                params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, nesterov=True
            )
        optimizer_class = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
        return optimizer_class(params, lr=cfg.lr, betas=(cfg.momentum, 0.999), weight_decay=cfg.weight_decay)

    def _loader(self, dataset, batch_size: int, **kwargs: Any) -> DataLoader:
        # A generator of its own keeps the loader from drawing on the global RNG (exact resume).
        return SignalSafeLoader(
            dataset,
            batch_size=batch_size,
            num_workers=self.config.workers,
            pin_memory=self.device.type == "cuda",
            generator=torch.Generator().manual_seed(self.config.seed),
            **kwargs,
        )

    def _restore(self, payload: dict[str, Any]) -> None:
        state = payload["train_state"]
        load_weights(self.model, payload["model"], self.resume_path, self.config.model)
        try:
            self.optimizer.load_state_dict(state["optimizer"])
            restore_scaler(self.scaler, state["scaler"])
        except (KeyError, ValueError, TypeError, RuntimeError) as exc:  # torch's own checks of what it loads
            raise CheckpointError(
                f"{self.resume_path}: its optimizer or AMP state does not fit this model ({describe(exc)}); {DAMAGED}"
            ) from exc
        self.position = dict(state["position"])
        torch.set_rng_state(state["rng"]["torch"])
        if self.device.type == "cuda":
            # One state per GPU the saving machine had; this one may have fewer (or, saved on the CPU, none).
            for index, cuda_state in enumerate(state["rng"]["cuda"][: torch.cuda.device_count()]):
                torch.cuda.set_rng_state(cuda_state, index)

    def _train_state(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "run_dir": str(self.run_dir.resolve()),  # the only folder it resumes into (train/resume.py)
            "world_size": self.ddp.world_size,  # and only with as many processes
            "position": dict(self.position),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
            },
        }

    def _save_last(self) -> None:
        if self.ddp.is_main:
            save_checkpoint(self.weights_dir / "last.pt", self.model, self.metadata, self._train_state())

    def _phase_for(self, epoch: int) -> Phase:
        """The phase `epoch` belongs to; entering it (loader, DDP wrapper) when it starts."""
        frozen = epoch < self.config.freeze_epochs
        if self.phase is None or self.phase.name != ("frozen" if frozen else "unfrozen"):
            self.phase = self._enter_phase(frozen)
        return self.phase

    def _enter_phase(self, frozen: bool) -> Phase:
        cfg = self.config
        (self.model.freeze_backbone if frozen else self.model.unfreeze_backbone)()
        batch = cfg.freeze_batch_size if frozen else cfg.batch_size
        steps = self.sampler.per_rank // batch
        if steps == 0:
            raise DataError(
                f"the {cfg.train_split} split has {self.sampler.per_rank} images per process, fewer than "
                f"the batch size {batch}; lower --batch-size or add images"
            )
        loader = self._loader(self.train_set, batch, sampler=self.sampler, drop_last=True)
        # DDP registers the parameters that need gradients when it is built: re-wrap on each phase.
        net = self.model
        if self.ddp.enabled:
            net = DistributedDataParallel(self.model, device_ids=[self.device] if self.device.type == "cuda" else None)
        if frozen:
            return Phase("frozen", loader, net, steps, cfg.freeze_lr, cfg.freeze_epochs, 0)
        return Phase("unfrozen", loader, net, steps, cfg.lr, cfg.epochs - cfg.freeze_epochs, cfg.freeze_epochs)

    def run(self) -> Path:
        """Train to the last epoch (or from where a resumed run stopped); returns the run folder."""
        cfg = self.config
        fresh = not self.run_dir.exists()  # made by this run: removed again if it ends with nothing to keep
        log = RunLog(self.run_dir, resume_epoch=self.position["epoch"]) if self.ddp.is_main else None
        if self.ddp.is_main:
            _write_args(self.run_dir / "args.yaml", cfg)
            print(
                f"training {cfg.model} ({self.model.upsample}) on {len(self.train_store)} images, "
                f"{len(self.class_names)} classes, {self.size[0]}×{self.size[1]}, device {self.device}"
                f"{f' × {self.ddp.world_size} processes' if self.ddp.enabled else ''} → {self.run_dir}"
            )
        try:
            with self.stop:
                while self.position["epoch"] < cfg.epochs:
                    self._epoch(log)
                    self._stop_if_requested()  # a Ctrl-C during validation
        except StopRequested:
            self._save_last()
            if self.ddp.is_main:
                print(
                    f"\ninterrupted: saved {self.weights_dir / 'last.pt'}; continue with "
                    f"`edgeseg train --resume {self.weights_dir / 'last.pt'}`"
                )
            raise KeyboardInterrupt from None
        except TrainingDiverged:
            # Diverged before any epoch finished: the folder holds only args.yaml and an empty log, no weights.
            if log:
                log.close()
                log = None
            if fresh and self.ddp.is_main and not (self.weights_dir / "last.pt").exists():
                shutil.rmtree(self.run_dir, ignore_errors=True)
            raise
        finally:
            if log:
                log.close()
            shutdown(self.ddp)
        return self.run_dir

    def _diverged_advice(self, loss: float, epoch: int, step: int) -> str:
        """What to do after a NaN: resume from a last.pt only if one exists (it holds the weights of the
        last finished epoch, before the divergence), else start again."""
        lower = f"a lower --lr{' / --freeze-lr' if self.config.freeze_epochs else ''}"
        amp = " or --no-amp" if self.amp else ""
        last = self.weights_dir / "last.pt"
        if last.is_file():
            fix = f"resume the last finished epoch with `edgeseg train --resume {last} --lr …` ({lower}{amp})"
        else:
            tenth = min(self.config.lr / 10, TrainConfig.lr)  # never suggest more than the default rate
            fix = f"no epoch finished, so start again with {lower}{amp} (e.g. --lr {tenth:g})"
        return f"the loss became {loss} at epoch {epoch + 1}, step {step + 1}; {fix}"

    def _stop_if_requested(self) -> None:
        """At a step boundary: stop if any process got a Ctrl-C (all ranks must stop at the same step)."""
        requested = self.stop.requested
        if self.ddp.enabled:
            flag = torch.tensor([float(requested)], device=self.device)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            requested = bool(flag.item())
        if requested:
            raise StopRequested

    def _epoch(self, log: RunLog | None) -> None:
        """Train one epoch, validate, then save best.pt (when mIoU improved), log the row and save last.pt.

        In that order: until last.pt moves on, a resumed run repeats this epoch exactly and rewrites best.pt and
        the row, so an interruption between any two writes leaves nothing behind (docs/training.md)."""
        epoch = self.position["epoch"]
        phase = self._phase_for(epoch)
        started = time.perf_counter()
        lr = self._train(phase, epoch)
        metrics, val_loss = evaluate(self.model, self.val_loader, self.class_names, self.device, self.loss_fn)
        train_loss = self.position["loss_sum"] / max(self.position["loss_count"], 1)
        improved = metrics.miou > self.position["best_miou"]
        row = _row(epoch + 1, phase.name, lr, train_loss, val_loss, metrics.to_dict(), time.perf_counter() - started)
        if self.ddp.is_main:
            if improved:
                save_checkpoint(self.weights_dir / "best.pt", self.model, self.metadata)
            log.add(row)
        best = metrics.miou if improved else self.position["best_miou"]
        self.position = {"epoch": epoch + 1, "step": 0, "loss_sum": 0.0, "loss_count": 0, "best_miou": best}
        self._save_last()
        if self.ddp.is_main:
            print(
                f"epoch {epoch + 1}/{self.config.epochs} {phase.name:8s} lr {lr:.2e}  train loss {train_loss:.4f}  "
                f"val loss {val_loss:.4f}  mIoU {row['val_mIoU']}  mPA {row['val_mPA']}  "
                f"acc {row['val_pixel_accuracy']}  {row['seconds']}s{'  *best' if improved else ''}",
                flush=True,
            )

    def _train(self, phase: Phase, epoch: int) -> float:
        """The optimizer steps of one epoch (from where a resumed run stopped); returns the last LR."""
        pos = self.position
        self.train_set.set_epoch(epoch)
        self.sampler.set_epoch(epoch, start=pos["step"] * phase.loader.batch_size)
        phase.net.train()
        lr = phase.base_lr
        bar = tqdm(
            phase.loader,
            total=phase.steps,
            initial=pos["step"],
            desc=f"epoch {epoch + 1}/{self.config.epochs}",
            leave=False,
            disable=None if self.ddp.is_main else True,
        )
        for images, targets in bar:
            lr = self._set_lr(phase, epoch)
            loss = self._step(phase.net, images, targets, epoch)
            pos["step"] += 1
            pos["loss_sum"] += loss
            pos["loss_count"] += 1
            bar.set_postfix(loss=f"{pos['loss_sum'] / pos['loss_count']:.4f}", lr=f"{lr:.2e}")
            self._stop_if_requested()
        bar.close()
        return lr

    def _set_lr(self, phase: Phase, epoch: int) -> float:
        """The scheduled LR at this step of the phase, set on every parameter group."""
        cfg = self.config
        lr = learning_rate(
            cfg.scheduler,
            phase.base_lr,
            epoch - phase.start + self.position["step"] / phase.steps,
            phase.epochs,
            warmup_epochs=cfg.warmup_epochs,
            min_lr_ratio=cfg.min_lr_ratio,
            step_gamma=cfg.step_gamma,
        )
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def _step(self, net: torch.nn.Module, images: torch.Tensor, targets: torch.Tensor, epoch: int) -> float:
        """One optimizer step (mixed precision on CUDA); its loss, or TrainingDiverged before a NaN reaches the
        weights."""
        images, targets = images.to(self.device, non_blocking=True), targets.to(self.device, non_blocking=True)
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
            loss = self.loss_fn(net(images), targets)
        value = loss.item()
        if not math.isfinite(value):
            raise TrainingDiverged(self._diverged_advice(value, epoch, self.position["step"]))
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return value


def _row(
    epoch: int, phase: str, lr: float, train_loss: float, val_loss: float, summary: dict[str, Any], seconds: float
) -> dict[str, Any]:
    """One results.csv row."""
    return {
        "epoch": epoch,
        "phase": phase,
        "lr": f"{lr:.6g}",
        "train_loss": f"{train_loss:.5f}",
        "val_loss": f"{val_loss:.5f}",
        "val_mIoU": f"{summary['mIoU'] or 0:.5f}",
        "val_mPA": f"{summary['mPA'] or 0:.5f}",
        "val_pixel_accuracy": f"{summary['pixel_accuracy'] or 0:.5f}",
        "seconds": f"{seconds:.1f}",
    }


def _write_args(path: Path, config: TrainConfig) -> None:
    yaml = require("yaml", extra="train")
    write_text_atomic(path, yaml.safe_dump(config.to_dict(), sort_keys=False))
