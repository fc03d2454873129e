"""One training stage with Lightning: the Trainer, its callbacks and loggers, and selection.

Callbacks and loggers come from the `callbacks` and `logger` config groups (by `_target_`), so a
user adds early stopping or a CSV logger with an override. Checkpoint selection by validation
accuracy is not among them: it is part of every study's recipe, so it is always on; nor is the
stage's resumable last checkpoint (`checkpoints/<stage>-last.ckpt`, written every epoch), from
which a stopped job goes on where it was.

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

from transfer_lab.atomic import file_sha256
from transfer_lab.data.batches import epoch_seed
from transfer_lab.errors import UserError
from transfer_lab.job_context import JobContext
from transfer_lab.results import StageResults

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


def configured_callbacks(cfg: DictConfig, stage_cfg: DictConfig) -> list[pl.Callback]:
    """The `callbacks` group's entries, plus early stopping when the stage asks for it."""
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c]
    if not cfg.trainer.get("enable_progress_bar", True):
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
    """The Trainer's keyword arguments from `cfg.trainer`, less our own keys."""
    kwargs = OmegaConf.to_container(cfg.trainer, resolve=True)
    kwargs.pop("channels_last", None)
    kwargs["precision"] = precision_for(kwargs.get("precision", "auto"))
    kwargs["strategy"] = strategy_for(kwargs)
    if "spawn" in kwargs["strategy"]:
        # Spawned ranks live on this machine, also inside a SLURM allocation of one task.
        kwargs["plugins"] = [LightningEnvironment()]
        # The network and batches reach the ranks through shared memory; passing it as file
        # descriptors failed on our test machine ("unable to resize file"), by name it works.
        torch.multiprocessing.set_sharing_strategy("file_system")
    if kwargs.get("accelerator") == "cpu":
        kwargs["sync_batchnorm"] = False  # PyTorch synchronises BatchNorm on GPUs only
    return kwargs


def is_distributed(cfg: DictConfig) -> bool:
    return "ddp" in strategy_for(OmegaConf.to_container(cfg.trainer, resolve=True))


def build_trainer(
    cfg: DictConfig, stage_cfg: DictConfig, ctx: JobContext, stage: str, selection: ModelCheckpoint
) -> pl.Trainer:
    last = ModelCheckpoint(
        dirpath=selection.dirpath,
        filename=f"{stage}-last",
        save_top_k=1,
        monitor=None,
        enable_version_counter=False,
    )
    return pl.Trainer(
        max_epochs=int(stage_cfg.epochs),
        callbacks=[
            selection,
            last,
            EpochSeeds(derived_seed(cfg.seed, stage)),
            *configured_callbacks(cfg, stage_cfg),
        ],
        logger=configured_loggers(cfg, ctx, stage) or False,
        default_root_dir=str(ctx.job_dir),
        **trainer_settings(cfg),
    )


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


def test_once(
    trainer: pl.Trainer,
    module: pl.LightningModule,
    datamodule: pl.LightningDataModule,
    best: str | None,
    cfg: DictConfig,
) -> dict[str, float]:
    """Test the selected weights once, on one device: a spawned DDP fit hands back to this
    process, which tests on a Trainer of its own rather than spawning the ranks again."""
    if is_distributed(cfg):
        settings = trainer_settings(cfg)
        trainer = pl.Trainer(
            accelerator=settings.get("accelerator", "auto"),
            devices=1,
            precision=settings["precision"],
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            deterministic=settings.get("deterministic", False),
        )
    return trainer.test(module, datamodule=datamodule, ckpt_path=best, verbose=False)[0]


def fit_and_test(
    module: pl.LightningModule,
    datamodule: pl.LightningDataModule,
    stage: str,
    stage_cfg: DictConfig,
    cfg: DictConfig,
    ctx: JobContext,
) -> Fitted:
    """Train with validation-based selection (resuming from the stage's last checkpoint if a
    stopped run left one), then test the selected weights once."""
    selection = ModelCheckpoint(
        dirpath=ctx.job_dir / "checkpoints",
        filename=stage,
        monitor="val/acc",
        mode="max",
        save_top_k=1,
        save_weights_only=True,
        enable_version_counter=False,
    )
    if cfg.trainer.get("channels_last"):
        module = module.to(memory_format=torch.channels_last)
    trainer = build_trainer(cfg, stage_cfg, ctx, stage, selection)
    last = last_checkpoint(ctx, stage)
    resume = str(last) if resumable(last, cfg) else None
    started = time.perf_counter()
    trainer.fit(module, datamodule=datamodule, ckpt_path=resume)
    seconds = time.perf_counter() - started
    # The last checkpoint holds the epoch and the selection's state; a spawned fit hands only
    # the best path back to this process, so both are read from it.
    state = torch.load(last, map_location="cpu", weights_only=False)
    chosen = state["callbacks"][selection.state_key]
    best = chosen.get("best_model_path") or None
    tested = test_once(trainer, module, datamodule, best, cfg)
    score = chosen.get("best_model_score")
    results = StageResults(
        val_acc=float(score) if best and score is not None else None,
        test_acc=float(tested["test/acc"]),
        test_loss=float(tested["test/loss"]),
        epochs=int(state["epoch"]) + 1,
        seconds=round(seconds, 2),
        checkpoint_sha256=file_sha256(Path(best)) if best else None,
    )
    return Fitted(results, Path(best) if best else None, list(trainer.loggers))
