"""One training stage with Lightning: the Trainer, its callbacks and loggers, and selection.

Callbacks and loggers come from the `callbacks` and `logger` config groups (by `_target_`), so a
user adds early stopping or a CSV logger with an override. Selection on a validation metric
(`monitor`, see selection.py) and the record of every group's learning rate per epoch are not
among them: they are part of every study's recipe and of its audit, so they are always on.
Selection keeps the best weights in memory and the stage writes them once, at its end: writing a
checkpoint at every improvement (Lightning's ModelCheckpoint) cost more than the training on the
offline studies, whose epochs are one or a few batches.
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
from pytorch_lightning.plugins import TorchCheckpointIO

from transfer_lab.atomic import file_sha256, write_atomically
from transfer_lab.errors import UserError
from transfer_lab.job_context import JobContext
from transfer_lab.lr_history import LearningRateHistory
from transfer_lab.results import StageResults
from transfer_lab.selection import Monitor, monitor_for


class RichBar(RichProgressBar):
    """Lightning's rich progress bar without the logger's version number, which means nothing here."""

    def get_metrics(self, trainer, pl_module):  # noqa: D102
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return metrics


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written beside their path, flushed and renamed into place, so a killed job
    leaves the previous file or none, never half of one (Lightning's local save copies a
    temporary file from /tmp, which is not atomic across disks)."""

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:  # noqa: D102
        write_atomically(Path(path), lambda tmp: torch.save(checkpoint, tmp))


class StopOnNonFiniteLoss(pl.Callback):
    """Fail the stage, in one sentence, when its training loss becomes NaN or infinite.

    The check accumulates on the device and is read once per epoch, so it costs no per-step sync.
    """

    def __init__(self, stage: str) -> None:
        self.stage = stage
        self.bad: torch.Tensor | None = None

    def on_train_epoch_start(self, trainer, pl_module) -> None:  # noqa: D102
        self.bad = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: D102
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if isinstance(loss, torch.Tensor):
            flag = ~torch.isfinite(loss.detach()).all()
            self.bad = flag if self.bad is None else self.bad | flag

    def on_train_epoch_end(self, trainer, pl_module) -> None:  # noqa: D102
        bad = self.bad is not None and bool(self.bad)
        if trainer.strategy.reduce_boolean_decision(bad, all=False):  # any process, all stop
            raise UserError(
                f"the {self.stage} training loss became NaN or infinite in epoch "
                f"{trainer.current_epoch + 1}; lower {self.stage}.optim.lr or use "
                f"trainer.precision=32-true."
            )


class BestWeights(pl.Callback):
    """Keeps a copy of the weights of the epoch with the best `monitor` (in its `mode`).

    An epoch is kept when its score is strictly better than the best so far (the first epoch
    always), as Lightning's ModelCheckpoint selects; a non-finite score never improves. The
    classifier's validation accuracy of the kept epoch is noted too, whatever selected it.
    The copy stays on the training device: no host transfer, no file per improvement.
    """

    def __init__(self, monitor: str = "val/acc", mode: str = "max") -> None:
        self.monitor = monitor
        self.sign = 1.0 if mode == "max" else -1.0
        self.state: dict[str, torch.Tensor] | None = None
        self.score: torch.Tensor | None = None
        self.val_acc: float | None = None
        self.epoch: int | None = None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        score = trainer.callback_metrics.get(self.monitor)
        if trainer.sanity_checking or score is None:
            return
        score = score.detach().float()
        finite = math.isfinite(score.item())
        if self.state is not None and not (
            finite and self.sign * score.item() > self.sign * self.score.item()
        ):
            return
        self.score = score if finite else torch.tensor(-self.sign * math.inf)
        self.epoch = trainer.current_epoch
        val_acc = trainer.callback_metrics.get("val/acc")
        self.val_acc = float(val_acc) if val_acc is not None else None
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


# One seed stream per network a job trains, so fresh layers never replay another network's
# initialisation: BnB is cut from baseB's network (trained on the target stream), so its own
# fresh layers draw from a third stream.
SEED_STREAMS = {"source": 0, "target": 1, "selffer": 2}


def derived_seed(seed: int, stage: str) -> int:
    """A training seed per stream (source, target, selffer) from the job's training seed."""
    return int(np.random.SeedSequence([int(seed), SEED_STREAMS[stage]]).generate_state(1)[0])


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


def configured_callbacks(
    cfg: DictConfig, stage_cfg: DictConfig, monitor: Monitor
) -> list[pl.Callback]:
    """The `callbacks` group's entries, plus early stopping on the monitor when the stage asks.

    An entry whose `monitor` is "auto" watches the stage's selection monitor, so early stopping
    and checkpoint selection never disagree on what "better" means (at β = 1, say).
    """
    callbacks = []
    for entry in (cfg.get("callbacks") or {}).values():
        if entry and entry.get("monitor") == "auto":
            entry = OmegaConf.merge(entry, {"monitor": monitor.metric, "mode": monitor.mode})
        if entry:
            callbacks.append(instantiate(entry))
    if not show_progress(cfg):
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    if stage_cfg.get("early_stopping"):
        patience = int(stage_cfg.early_stopping)
        callbacks.append(EarlyStopping(monitor.metric, mode=monitor.mode, patience=patience))
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
    cfg: DictConfig,
    stage_cfg: DictConfig,
    ctx: JobContext,
    stage: str,
    always: list[pl.Callback],
    monitor: Monitor,
) -> pl.Trainer:
    """A Trainer for one stage: the `always` callbacks (selection, rate history, a stop on a
    non-finite loss), then config's; any checkpoint is written whole or not at all."""
    settings = trainer_settings(cfg)
    settings["enable_progress_bar"] = show_progress(cfg)
    settings.setdefault("plugins", [AtomicCheckpointIO()])
    callbacks = [
        *always,
        StopOnNonFiniteLoss(stage),
        *configured_callbacks(cfg, stage_cfg, monitor),
    ]
    # Selection does not need Lightning's checkpointing; it stays on only for a configured
    # ModelCheckpoint, so no default one writes a file every epoch.
    settings.setdefault(
        "enable_checkpointing", any(isinstance(c, ModelCheckpoint) for c in callbacks)
    )
    return pl.Trainer(
        max_epochs=int(stage_cfg.epochs),
        callbacks=callbacks,
        logger=configured_loggers(cfg, ctx, stage) or False,
        default_root_dir=str(ctx.job_dir),
        **settings,
    )


def trainer_settings(cfg: DictConfig) -> dict[str, Any]:
    """The `trainer` config as Trainer keywords, precision resolved."""
    settings = OmegaConf.to_container(cfg.trainer, resolve=True)
    settings["precision"] = precision_for(settings.get("precision", "auto"))
    return settings


def fit_and_test(
    module: pl.LightningModule,
    datamodule: pl.LightningDataModule,
    stage: str,
    stage_cfg: DictConfig,
    cfg: DictConfig,
    ctx: JobContext,
    save_checkpoint: bool = True,
) -> Fitted:
    """Train with selection on the stage's validation monitor, then test the selected weights once.

    `val_acc` is the classifier's validation accuracy of the selected epoch, whatever selected
    it; `monitor` and `monitor_value` say what did. The selected weights are written to
    <job>/checkpoints/<stage>.ckpt at the end when `save_checkpoint` (the source stage does not:
    the cache keeps its network).
    """
    monitor = monitor_for(
        stage_cfg, getattr(module, "beta", 0.0), len(getattr(module, "binary_heads", ()))
    )
    selection = BestWeights(monitor.metric, monitor.mode)
    rates = LearningRateHistory()
    trainer = build_trainer(cfg, stage_cfg, ctx, stage, [selection, rates], monitor)
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
        val_acc=selection.val_acc if kept else None,
        test_acc=float(tested["test/acc"]),
        test_loss=float(tested["test/loss"]),
        epochs=int(trainer.current_epoch),
        seconds=round(seconds, 2),
        checkpoint_sha256=file_sha256(checkpoint) if checkpoint else None,
        monitor=monitor.metric,
        monitor_value=float(selection.score) if kept else None,
        lr_history=rates.history,
    )
    return Fitted(results, checkpoint, list(trainer.loggers))
