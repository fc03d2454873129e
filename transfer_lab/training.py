"""One training stage with Lightning: the Trainer, its callbacks and loggers, and selection.

Callbacks and loggers come from the `callbacks` and `logger` config groups (by `_target_`), so a
user adds early stopping or a CSV logger with an override. Checkpoint selection on a validation
metric (`monitor`, see selection.py) and the record of every group's learning rate per epoch are
not among them: they are part of every study's recipe and of its audit, so they are always on;
nor is the stage's resumable last checkpoint (`checkpoints/<stage>-last.ckpt`, written every
epoch), from which a stopped job goes on where it was.

Several devices (`trainer=ddp`) use Lightning's `ddp_spawn`: only `trainer.fit` runs in the
spawned ranks; the job's other steps (split, cache, test, results) stay in this one process.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from lightning_fabric.plugins.environments import LightningEnvironment
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint, ProgressBar, RichProgressBar
from pytorch_lightning.loggers import Logger
from pytorch_lightning.plugins import TorchCheckpointIO

from transfer_lab.atomic import file_sha256, write_atomically
from transfer_lab.data.batches import epoch_seed
from transfer_lab.errors import UserError
from transfer_lab.job_context import JobContext
from transfer_lab.lr_history import LearningRateHistory
from transfer_lab.results import StageResults
from transfer_lab.selection import Monitor, monitor_for

log = logging.getLogger(__name__)


class RichBar(RichProgressBar):
    """Lightning's rich progress bar without the logger's version number, which means nothing here."""

    def get_metrics(self, trainer, pl_module):  # noqa: D102
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return metrics


class EpochSeeds(pl.Callback):
    """Seed the global RNG (dropout) from (seed, epoch, rank) at every epoch's start, so a run
    resumed from its last checkpoint draws what an uninterrupted one would."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        torch.manual_seed(epoch_seed(self.seed, trainer.current_epoch, trainer.global_rank, 2))


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
    if not cfg.trainer.get("enable_progress_bar", True):
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
    non-finite loss), then config's; checkpoints are written whole or not at all."""
    settings = trainer_settings(cfg)
    settings["plugins"] = [*settings.get("plugins", []), AtomicCheckpointIO()]
    return pl.Trainer(
        max_epochs=int(stage_cfg.epochs),
        callbacks=[
            *always,
            StopOnNonFiniteLoss(stage),
            *configured_callbacks(cfg, stage_cfg, monitor),
        ],
        logger=configured_loggers(cfg, ctx, stage) or False,
        default_root_dir=str(ctx.job_dir),
        **settings,
    )


SPAWNED_DDP = "ddp_spawn_find_unused_parameters_true"  # binary heads are unused when β = 0


def strategy_for(trainer: dict[str, Any]) -> str:
    """The DDP strategy a job may use: ranks spawned for the fit, never the command line re-run.

    Lightning's plain `ddp` starts each rank by running the command again, which in a job means
    re-running the split, the source stage (waiting on the cache lock rank 0 holds) or a whole
    sweep; so several devices under `strategy: auto` mean spawned ranks, and plain ddp is refused.
    """
    strategy = str(trainer.get("strategy", "auto"))
    if strategy == "auto" and str(trainer.get("devices", 1)) != "1":
        return SPAWNED_DDP
    if "ddp" in strategy and "spawn" not in strategy:
        raise UserError(
            f"trainer.strategy={strategy} starts every rank by re-running the command line; "
            f"use trainer=ddp (trainer.strategy={SPAWNED_DDP}), whose ranks only run the fit."
        )
    return strategy


def trainer_settings(cfg: DictConfig) -> dict[str, Any]:
    """The `trainer` config as Trainer keywords: precision resolved, our own keys left out, and
    several devices as ranks spawned for the fit."""
    settings = OmegaConf.to_container(cfg.trainer, resolve=True)
    settings.pop("channels_last", None)
    settings["precision"] = precision_for(settings.get("precision", "auto"))
    settings["strategy"] = strategy_for(settings)
    if "spawn" in settings["strategy"]:
        # Spawned ranks live on this machine, also inside a SLURM allocation of one task.
        settings["plugins"] = [LightningEnvironment()]
        # The network and batches reach the ranks through shared memory; passing it as file
        # descriptors failed on our test machine ("unable to resize file"), by name it works.
        torch.multiprocessing.set_sharing_strategy("file_system")
    if settings.get("accelerator") == "cpu":
        settings["sync_batchnorm"] = False  # PyTorch synchronises BatchNorm on GPUs only
    return settings


def is_distributed(cfg: DictConfig) -> bool:
    return "ddp" in strategy_for(OmegaConf.to_container(cfg.trainer, resolve=True))


def one_device_settings(cfg: DictConfig) -> dict[str, Any]:
    """Trainer keywords for a check or the test after the fit: one device, no ranks to spawn."""
    settings = trainer_settings(cfg)
    if is_distributed(cfg):
        for key in ("strategy", "plugins", "sync_batchnorm"):
            settings.pop(key, None)
        settings["devices"] = 1
    return {**settings, "enable_progress_bar": False, "enable_model_summary": False}


def last_checkpoint(ctx: JobContext, stage: str) -> Path:
    """The stage's resumable checkpoint: weights, optimiser, scheduler, epoch and selection."""
    return ctx.job_dir / "checkpoints" / f"{stage}-last.ckpt"


def resumable(last: Path, cfg: DictConfig) -> bool:
    """Whether `last` was written by this very config; if not, it is removed and the stage starts
    over (a rerun with other settings in the same folder must not pick up foreign weights)."""
    settings = OmegaConf.to_container(cfg, resolve=False)  # as written, so paths may move
    fingerprint = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()
    stamp = last.with_suffix(".config")
    if last.exists() and stamp.exists() and stamp.read_text() == fingerprint:
        log.info("resuming from %s", last)
        return True
    if last.exists():
        log.warning("%s was written by another config; training this stage from the start", last)
        last.unlink()
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(fingerprint)
    return False


def selected_val_acc(
    module: pl.LightningModule,
    datamodule: pl.LightningDataModule,
    checkpoint: str,
    cfg: DictConfig,
    ctx: JobContext,
) -> float:
    """The classifier's validation accuracy of the selected weights, measured without logging:
    a point appended to the stage's val/acc curve would read as one more epoch."""
    settings = one_device_settings(cfg)
    checker = pl.Trainer(logger=False, callbacks=[], default_root_dir=str(ctx.job_dir), **settings)
    (logged,) = checker.validate(module, datamodule=datamodule, ckpt_path=checkpoint, verbose=False)
    return float(logged["val/acc"])


def fit_and_test(
    module: pl.LightningModule,
    datamodule: pl.LightningDataModule,
    stage: str,
    stage_cfg: DictConfig,
    cfg: DictConfig,
    ctx: JobContext,
) -> Fitted:
    """Train with selection on the stage's validation monitor, then test the selected weights once.

    `val_acc` is the classifier's validation accuracy of the selected weights, whatever selected
    them; `monitor` and `monitor_value` say what did.
    """
    monitor = monitor_for(
        stage_cfg, getattr(module, "beta", 0.0), len(getattr(module, "binary_heads", ()))
    )
    selection = ModelCheckpoint(
        dirpath=ctx.job_dir / "checkpoints",
        filename=stage,
        monitor=monitor.metric,
        mode=monitor.mode,
        save_top_k=1,
        save_weights_only=True,
        enable_version_counter=False,
    )
    last = ModelCheckpoint(
        dirpath=selection.dirpath,
        filename=f"{stage}-last",
        save_top_k=1,
        monitor=None,
        enable_version_counter=False,
    )
    rates = LearningRateHistory()
    seeds = EpochSeeds(derived_seed(cfg.seed, stage))
    if cfg.trainer.get("channels_last"):
        module = module.to(memory_format=torch.channels_last)
    trainer = build_trainer(cfg, stage_cfg, ctx, stage, [selection, last, rates, seeds], monitor)
    resume = last_checkpoint(ctx, stage)
    started = time.perf_counter()
    trainer.fit(
        module, datamodule=datamodule, ckpt_path=str(resume) if resumable(resume, cfg) else None
    )
    seconds = time.perf_counter() - started
    # The last checkpoint holds the epoch, the selection and the rates so far; a spawned fit
    # hands only the best path back to this process, so all are read from it.
    state = torch.load(resume, map_location="cpu", weights_only=False)
    chosen = state["callbacks"][selection.state_key]
    rates.load_state_dict(state["callbacks"].get(rates.state_key, {}))
    best = chosen.get("best_model_path") or None
    score = float(chosen["best_model_score"]) if best else None
    val_acc = score if monitor.metric == "val/acc" else None
    if best and val_acc is None:  # selected on another metric: the classifier's accuracy there
        val_acc = selected_val_acc(module, datamodule, best, cfg, ctx)
    if is_distributed(cfg):  # test once, here, on one device, rather than spawning the ranks
        tester = pl.Trainer(
            logger=False,
            callbacks=[],
            default_root_dir=str(ctx.job_dir),
            **one_device_settings(cfg),
        )
    else:
        tester = trainer
    tested = tester.test(module, datamodule=datamodule, ckpt_path=best, verbose=False)[0]
    results = StageResults(
        val_acc=val_acc,
        test_acc=float(tested["test/acc"]),
        test_loss=float(tested["test/loss"]),
        epochs=int(state["epoch"]) + 1,
        seconds=round(seconds, 2),
        checkpoint_sha256=file_sha256(Path(best)) if best else None,
        monitor=monitor.metric,
        monitor_value=score,
        lr_history=rates.history,
    )
    return Fitted(results, Path(best) if best else None, list(trainer.loggers))
