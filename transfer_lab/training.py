"""One training stage with Lightning: the Trainer, its callbacks and loggers, and selection.

Callbacks and loggers come from the `callbacks` and `logger` config groups (by `_target_`), so a
user adds early stopping or a CSV logger with an override. Selection by validation accuracy is
not among them: it is part of every study's recipe, so it is always on. It keeps the best
weights in memory and the stage writes them once, at its end: writing a checkpoint at every
improvement (Lightning's ModelCheckpoint) cost more than the training on the offline studies,
whose epochs are one or a few batches.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint, ProgressBar, RichProgressBar
from pytorch_lightning.loggers import Logger

from transfer_lab.atomic import file_sha256, write_atomically
from transfer_lab.job_context import JobContext
from transfer_lab.results import StageResults


class RichBar(RichProgressBar):
    """Lightning's rich progress bar without the logger's version number, which means nothing here."""

    def get_metrics(self, trainer, pl_module):  # noqa: D102
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return metrics


class BestWeights(pl.Callback):
    """Keeps a copy of the weights of the epoch with the best `monitor` (higher is better).

    An epoch is kept when its score is strictly higher than the best so far (the first epoch
    always), as Lightning's ModelCheckpoint selects; a non-finite score never improves.
    The copy stays on the training device: no host transfer, no file per improvement.
    """

    def __init__(self, monitor: str = "val/acc") -> None:
        self.monitor = monitor
        self.state: dict[str, torch.Tensor] | None = None
        self.score: torch.Tensor | None = None
        self.epoch: int | None = None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        score = trainer.callback_metrics.get(self.monitor)
        if trainer.sanity_checking or score is None:
            return
        score = score.detach().float()
        finite = math.isfinite(score.item())
        if self.state is not None and not (finite and score.item() > self.score.item()):
            return
        self.score = score if finite else torch.tensor(-math.inf)
        self.epoch = trainer.current_epoch
        self.state = {k: v.detach().clone() for k, v in pl_module.state_dict().items()}

    def restore(self, module: pl.LightningModule) -> None:
        """Load the kept weights into `module` (nothing happens if none were kept)."""
        if self.state is not None:
            module.load_state_dict(self.state)

    def save(self, path: Path) -> Path:
        """Write the kept weights as one checkpoint, whole or absent, as Lightning lays one out."""
        payload = {
            "state_dict": {k: v.cpu() for k, v in self.state.items()},
            "epoch": self.epoch,
            "monitor": self.monitor,
            "score": float(self.score),
        }
        write_atomically(path, lambda tmp: torch.save(payload, tmp))
        return path


@dataclass
class Fitted:
    """A trained stage: its results, the selected weights on disk, and the Trainer's loggers."""

    results: StageResults
    checkpoint: Path | None
    loggers: list[Logger]


def derived_seed(seed: int, stage: str) -> int:
    """A training seed per stage, so the target's fresh layers never replay the source's init."""
    return int(
        np.random.SeedSequence([int(seed), 1 if stage == "target" else 0]).generate_state(1)[0]
    )


def precision_for(setting: Any) -> Any:
    """Lightning's precision; "auto" is bf16 mixed precision where the GPU has it, else 32-bit."""
    if setting != "auto":
        return setting
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16-mixed"
    return "32-true"


def show_progress(cfg: DictConfig) -> bool:
    """`trainer.enable_progress_bar`, where null means: in a single run, not in a sweep.

    A sweep's console already says which job runs; redrawing a bar every epoch cost a third of
    a digits job's time (its epochs are one batch).
    """
    setting = cfg.trainer.get("enable_progress_bar")
    if setting is not None:
        return bool(setting)
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return not (HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN)


def configured_callbacks(cfg: DictConfig, stage_cfg: DictConfig) -> list[pl.Callback]:
    """The `callbacks` group's entries, plus early stopping when the stage asks for it."""
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c]
    if not show_progress(cfg):
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    if stage_cfg.get("early_stopping"):
        patience = int(stage_cfg.early_stopping)
        callbacks.append(EarlyStopping(monitor="val/acc", mode="max", patience=patience))
    return callbacks


def configured_loggers(cfg: DictConfig, ctx: JobContext, stage: str) -> list[Logger]:
    """The `logger` group's entries, each writing under the job's log folder as <job>/<stage>."""
    where = {"save_dir": str(ctx.tensorboard_dir), "name": ctx.name, "version": stage}
    loggers = []
    for entry in (cfg.get("logger") or {}).values():
        if entry:
            given = OmegaConf.to_container(entry, resolve=True)
            loggers.append(instantiate({**where, **given}))
    return loggers


def build_trainer(
    cfg: DictConfig, stage_cfg: DictConfig, ctx: JobContext, stage: str, selection: BestWeights
) -> pl.Trainer:
    trainer_kwargs = OmegaConf.to_container(cfg.trainer, resolve=True)
    trainer_kwargs["precision"] = precision_for(trainer_kwargs.get("precision", "auto"))
    trainer_kwargs["enable_progress_bar"] = show_progress(cfg)
    callbacks = [selection, *configured_callbacks(cfg, stage_cfg)]
    # Selection does not need Lightning's checkpointing; it stays on only for a configured
    # ModelCheckpoint, so no default one writes a file every epoch.
    trainer_kwargs.setdefault(
        "enable_checkpointing", any(isinstance(c, ModelCheckpoint) for c in callbacks)
    )
    return pl.Trainer(
        max_epochs=int(stage_cfg.epochs),
        callbacks=callbacks,
        logger=configured_loggers(cfg, ctx, stage) or False,
        default_root_dir=str(ctx.job_dir),
        **trainer_kwargs,
    )


def fit_and_test(
    module: pl.LightningModule,
    datamodule: pl.LightningDataModule,
    stage: str,
    stage_cfg: DictConfig,
    cfg: DictConfig,
    ctx: JobContext,
    save_checkpoint: bool = True,
) -> Fitted:
    """Train with validation-based selection, then test the selected weights once.

    The selected weights are written to <job>/checkpoints/<stage>.ckpt at the end when
    `save_checkpoint` (the source stage does not: the cache keeps its network).
    """
    selection = BestWeights("val/acc")
    trainer = build_trainer(cfg, stage_cfg, ctx, stage, selection)
    started = time.perf_counter()
    trainer.fit(module, datamodule=datamodule)
    seconds = time.perf_counter() - started
    selection.restore(module)
    tested = trainer.test(module, datamodule=datamodule, verbose=False)[0]
    kept = selection.state is not None
    checkpoint = None
    if kept and save_checkpoint:
        checkpoint = selection.save(ctx.job_dir / "checkpoints" / f"{stage}.ckpt")
    results = StageResults(
        val_acc=float(selection.score) if kept else None,
        test_acc=float(tested["test/acc"]),
        test_loss=float(tested["test/loss"]),
        epochs=int(trainer.current_epoch),
        seconds=round(seconds, 2),
        checkpoint_sha256=file_sha256(checkpoint) if checkpoint else None,
    )
    return Fitted(results, checkpoint, list(trainer.loggers))
