"""The training loop: two phases (frozen backbone, then all), per-epoch validation, exact resume."""

from __future__ import annotations

import math
import shutil
import time
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Subset
from tqdm import tqdm

from edgeseg.atomic import write_text_atomic
from edgeseg.data.loader import EpochSampler, EvalDataset, SampleStore, TrainDataset, collate_eval
from edgeseg.data.voc import DataError, load_split
from edgeseg.errors import EdgesegError, require
from edgeseg.eval.evaluate import evaluate
from edgeseg.interrupt import StopOnInterrupt, StopRequested, ignore_interrupts_in_worker
from edgeseg.models import build_model
from edgeseg.models.registry import legacy_defaults
from edgeseg.runtime.preprocess import IMAGENET_MEAN, IMAGENET_STD
from edgeseg.train.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_weights,
    make_metadata,
    save_checkpoint,
)
from edgeseg.train.config import ConfigError, TrainConfig, merge
from edgeseg.train.distributed import init_distributed, resolve_device, shutdown
from edgeseg.train.losses import SegmentationLoss
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


class Trainer:
    def __init__(
        self, config: TrainConfig, resume_from: dict[str, Any] | None = None, run_dir: Path | None = None
    ) -> None:
        self.config = config.check()
        wants_cuda = config.device.startswith("cuda") or (config.device == "auto" and torch.cuda.is_available())
        self.ddp = init_distributed("cuda" if wants_cuda else "cpu")
        self.device = resolve_device(config.device, self.ddp)
        self.amp = config.amp and self.device.type == "cuda"
        torch.manual_seed(config.seed)
        self.size = (int(config.size[0]), int(config.size[1]))

        train_split, val_split = (
            load_split(config.data, config.train_split),
            load_split(config.data, config.val_split),
        )
        self.class_names = train_split.class_names
        if config.class_weights is not None and len(config.class_weights) != len(self.class_names):
            raise ConfigError(
                f"--class-weights has {len(config.class_weights)} values but {config.data} has "
                f"{len(self.class_names)} classes ({', '.join(self.class_names)}); give one weight per class"
            )
        self.train_store = SampleStore(train_split, config.cache_gb)
        self.val_store = SampleStore(val_split, config.cache_gb)

        kwargs = dict(config.model_kwargs)
        if config.upsample:
            kwargs["upsample"] = config.upsample
        if config.pretrained_backbone and not resume_from:
            kwargs["pretrained_backbone"] = config.pretrained_backbone
        self.model = build_model(config.model, num_classes=len(self.class_names), **kwargs).to(self.device)
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
        val_set = EvalDataset(
            self.val_store,
            self.size,
            mean=tuple(self.metadata.mean),
            std=tuple(self.metadata.std),
            resize=config.resize,
        )
        shard = list(range(self.ddp.rank, len(val_set), self.ddp.world_size))
        self.val_loader = self._loader(Subset(val_set, shard), config.batch_size, collate_fn=collate_eval)

        self.position = {"epoch": 0, "step": 0, "loss_sum": 0.0, "loss_count": 0, "best_miou": -1.0}
        self.resume_path = (run_dir / "weights" / "last.pt") if run_dir else "last.pt"
        if resume_from:
            self._restore(resume_from)
        self.run_dir = run_dir or new_run_dir(config.project, config.name or config.model, config.exist_ok)
        self.weights_dir = self.run_dir / "weights"
        self.phase: str | None = None

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
        return DataLoader(
            dataset,
            batch_size=batch_size,
            num_workers=self.config.workers,
            pin_memory=self.device.type == "cuda",
            generator=torch.Generator().manual_seed(self.config.seed),
            worker_init_fn=ignore_interrupts_in_worker,
            **kwargs,
        )

    def _restore(self, payload: dict[str, Any]) -> None:
        state = payload["train_state"]
        load_weights(self.model, payload["model"], self.resume_path, self.config.model)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        self.position = dict(state["position"])
        torch.set_rng_state(state["rng"]["torch"])
        if self.device.type == "cuda" and state["rng"]["cuda"]:
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])

    def _train_state(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
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

    def _enter_phase(self, frozen: bool) -> tuple[DataLoader, torch.nn.Module, int]:
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
        return loader, net, steps

    def run(self) -> Path:
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
            with StopOnInterrupt(
                "Ctrl-C: stopping after this step to save last.pt (press again to stop now)"
            ) as self.stop:
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
        cfg, pos = self.config, self.position
        epoch = pos["epoch"]
        frozen = epoch < cfg.freeze_epochs
        phase_epochs, phase_start = (
            (cfg.freeze_epochs, 0) if frozen else (cfg.epochs - cfg.freeze_epochs, cfg.freeze_epochs)
        )
        base_lr = cfg.freeze_lr if frozen else cfg.lr
        if self.phase != ("frozen" if frozen else "unfrozen"):
            self.phase = "frozen" if frozen else "unfrozen"
            self.loader, self.net, self.steps = self._enter_phase(frozen)
        batch = self.loader.batch_size
        self.train_set.set_epoch(epoch)
        self.sampler.set_epoch(epoch, start=pos["step"] * batch)
        self.net.train()
        started = time.perf_counter()
        lr = base_lr
        bar = tqdm(
            self.loader,
            total=self.steps,
            initial=pos["step"],
            desc=f"epoch {epoch + 1}/{cfg.epochs}",
            leave=False,
            disable=None if self.ddp.is_main else True,
        )
        for images, targets in bar:
            progress = epoch - phase_start + pos["step"] / self.steps
            lr = learning_rate(
                cfg.scheduler,
                base_lr,
                progress,
                phase_epochs,
                warmup_epochs=cfg.warmup_epochs,
                min_lr_ratio=cfg.min_lr_ratio,
                step_gamma=cfg.step_gamma,
            )
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            images, targets = (
                images.to(self.device, non_blocking=True),
                targets.to(self.device, non_blocking=True),
            )
            with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
                loss = self.loss_fn(self.net(images), targets)
            if not math.isfinite(loss.item()):
                raise TrainingDiverged(self._diverged_advice(loss.item(), epoch, pos["step"]))
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            pos["step"] += 1
            pos["loss_sum"] += loss.item()
            pos["loss_count"] += 1
            bar.set_postfix(loss=f"{pos['loss_sum'] / pos['loss_count']:.4f}", lr=f"{lr:.2e}")
            self._stop_if_requested()
        bar.close()
        metrics, val_loss = evaluate(self.model, self.val_loader, self.class_names, self.device, self.loss_fn)
        train_loss = pos["loss_sum"] / max(pos["loss_count"], 1)
        self.position = {**pos, "epoch": epoch + 1, "step": 0, "loss_sum": 0.0, "loss_count": 0}
        improved = metrics.miou > pos["best_miou"]
        if improved:
            self.position["best_miou"] = metrics.miou
        self._save_last()
        if not self.ddp.is_main:
            return
        if improved:
            save_checkpoint(self.weights_dir / "best.pt", self.model, self.metadata)
        summary = metrics.to_dict()
        row = {
            "epoch": epoch + 1,
            "phase": self.phase,
            "lr": f"{lr:.6g}",
            "train_loss": f"{train_loss:.5f}",
            "val_loss": f"{val_loss:.5f}",
            "val_mIoU": f"{summary['mIoU'] or 0:.5f}",
            "val_mPA": f"{summary['mPA'] or 0:.5f}",
            "val_pixel_accuracy": f"{summary['pixel_accuracy'] or 0:.5f}",
            "seconds": f"{time.perf_counter() - started:.1f}",
        }
        log.add(row)
        print(
            f"epoch {epoch + 1}/{cfg.epochs} {self.phase:8s} lr {lr:.2e}  train loss {train_loss:.4f}  "
            f"val loss {val_loss:.4f}  mIoU {row['val_mIoU']}  mPA {row['val_mPA']}  "
            f"acc {row['val_pixel_accuracy']}  {row['seconds']}s{'  *best' if improved else ''}",
            flush=True,
        )


def _write_args(path: Path, config: TrainConfig) -> None:
    yaml = require("yaml", extra="train")
    write_text_atomic(path, yaml.safe_dump(config.to_dict(), sort_keys=False))


def resume_payload(path: str | Path) -> dict[str, Any]:
    """A last.pt with its training state, or a clear error."""
    payload = load_checkpoint(path)
    if "train_state" not in payload:
        raise CheckpointError(f"{path} holds weights only (a best.pt?); resume from runs/<name>/weights/last.pt")
    saved, named = payload["train_state"].get("config", {}).get("model"), payload["metadata"].get("model")
    if saved != named:
        raise CheckpointError(
            f"{path} is inconsistent: its training state is for {saved} but its metadata names {named}; "
            f"it was edited or assembled from two runs, start a new run instead"
        )
    return payload


def config_for_resume(payload: dict[str, Any], overrides: dict[str, Any]) -> TrainConfig:
    saved = TrainConfig(**payload["train_state"]["config"])
    # A run saved before a builder gained an argument resumes with the model it was training, not today's default.
    recorded = payload.get("metadata", {}).get("model_config", {})
    missing = {k: v for k, v in legacy_defaults(saved.model or "").items() if k not in recorded}
    saved.model_kwargs = {**missing, **saved.model_kwargs}
    # The learning rates may change too: the way out after a loss went NaN (see _diverged_advice).
    allowed = {"epochs", "device", "workers", "cache_gb", "lr", "freeze_lr"}
    refused = sorted(k for k, v in overrides.items() if v is not None and k not in allowed)
    if refused:
        raise ConfigError(
            f"--resume continues the saved run; only {', '.join(sorted(allowed))} may change, not {', '.join(refused)}"
        )
    return merge(saved, overrides, "command line")
