"""One training stage with Lightning: the Trainer, its callbacks and loggers, and selection.

Callbacks and loggers come from the `callbacks` and `logger` config groups (by `_target_`), so a
user adds early stopping or a CSV logger with an override. Selection on a validation metric
(`monitor`, see selection.py) and the record of every group's learning rate per epoch are not
among them: they are part of every study's recipe and of its audit, so they are always on; nor
is the stage's resumable last checkpoint (`checkpoints/<stage>-last.ckpt`, every
`checkpoint_every` epochs), from which a stopped job goes on where it was. Selection keeps the
best weights in memory and the stage writes them once, at its end: writing a checkpoint at
every improvement (Lightning's ModelCheckpoint) cost more than the training on the offline
studies, whose epochs are one or a few batches.

Several devices (`trainer=ddp`) use Lightning's `ddp_spawn`: only `trainer.fit` runs in the
spawned ranks; the job's other steps (split, cache, test, results) stay in this one process.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
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

from transfer_lab.data.batches import epoch_seed
from transfer_lab.errors import UserError
from transfer_lab.job.context import JobContext
from transfer_lab.store.atomic import file_sha256, write_atomically
from transfer_lab.store.results import StageResults
from transfer_lab.train.lr_history import LearningRateHistory
from transfer_lab.train.selection import Monitor, monitor_for

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

    def state_dict(self) -> dict[str, Any]:
        """What the resumable last checkpoint keeps of the selection so far."""
        return {
            "state": self.state,
            "score": self.score,
            "val_acc": self.val_acc,
            "epoch": self.epoch,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:  # noqa: D102
        self.state, self.score = state_dict["state"], state_dict["score"]
        self.val_acc, self.epoch = state_dict["val_acc"], state_dict["epoch"]

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
    settings["plugins"] = [*settings.get("plugins", []), AtomicCheckpointIO()]
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
    distributed = is_distributed(cfg)
    every = 1 if distributed else int(cfg.get("checkpoint_every", 1))
    last = ModelCheckpoint(
        dirpath=ctx.job_dir / "checkpoints",
        filename=f"{stage}-last",
        save_top_k=1 if every else 0,
        every_n_epochs=every or None,
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
    # with no last checkpoints (checkpoint_every: 0) there is nothing to resume or to stamp
    resume_from = str(resume) if every and resumable(resume, cfg) else None
    trainer.fit(module, datamodule=datamodule, ckpt_path=resume_from)
    seconds = time.perf_counter() - started
    if distributed:  # the ranks' callbacks are gone with them: read the last checkpoint
        state = torch.load(resume, map_location="cpu", weights_only=False)
        selection.load_state_dict(state["callbacks"][selection.state_key])
        rates.load_state_dict(state["callbacks"].get(rates.state_key, {}))
    selection.restore(module)
    if distributed:  # test once, here, on one device, rather than spawning the ranks
        tester = pl.Trainer(
            logger=False,
            callbacks=[],
            default_root_dir=str(ctx.job_dir),
            **one_device_settings(cfg),
        )
    else:
        tester = trainer
    tested = tester.test(module, datamodule=datamodule, verbose=False)[0]
    kept = selection.state is not None
    checkpoint = None
    if kept and save_checkpoint:
        checkpoint = selection.save(ctx.job_dir / "checkpoints" / f"{stage}.ckpt")
    results = StageResults(
        val_acc=selection.val_acc if kept else None,
        test_acc=float(tested["test/acc"]),
        test_loss=float(tested["test/loss"]),
        epochs=int(state["epoch"]) + 1 if distributed else int(trainer.current_epoch),
        seconds=round(seconds, 2),
        checkpoint_sha256=file_sha256(checkpoint) if checkpoint else None,
        monitor=monitor.metric,
        monitor_value=float(selection.score) if kept else None,
        lr_history=rates.history,
    )
    return Fitted(results, checkpoint, list(trainer.loggers))
