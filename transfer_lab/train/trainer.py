"""A phase's Lightning Trainer from config: its settings (precision, strategy, devices), the
configured callbacks and loggers, and one device for a check or the test after a fit.

Several devices (`trainer=ddp`) use Lightning's `ddp_spawn`: only `trainer.fit` runs in the
spawned ranks; the job's other steps (split, cache, test, results) stay in this one process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from lightning_fabric.plugins.environments import LightningEnvironment
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint, ProgressBar
from pytorch_lightning.loggers import Logger

from transfer_lab.store.atomic import refuse_links
from transfer_lab.train.callbacks import AtomicCheckpointIO, StopOnNonFiniteLoss
from transfer_lab.train.folders import RunFolders
from transfer_lab.train.selection import Monitor
from transfer_lab.train.strategy import SPAWNED_DDP, strategy_for  # noqa: F401 (re-exported)


def precision_for(setting: Any) -> Any:
    """Lightning's precision; "auto" is bf16 mixed precision where the GPU has it, else 32-bit."""
    if setting != "auto":
        return setting
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16-mixed"
    return "32-true"


def show_progress(trainer_cfg: DictConfig) -> bool:
    """`trainer.enable_progress_bar`, where null means: in a single run, not in a sweep.

    A sweep's console already says which job runs; redrawing a bar every epoch cost a third of
    a digits job's time (its epochs are one batch).
    """
    setting = trainer_cfg.get("enable_progress_bar")
    if setting is not None:
        return bool(setting)
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return not (HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN)


def configured_callbacks(
    cfg: DictConfig, phase_cfg: DictConfig, monitor: Monitor
) -> list[pl.Callback]:
    """The `callbacks` group's entries, plus early stopping on the monitor when the phase asks.

    An entry whose `monitor` is "auto" watches the phase's selection monitor, so early stopping
    and checkpoint selection never disagree on what "better" means (at β = 1, say).
    """
    callbacks = []
    for entry in (cfg.get("callbacks") or {}).values():
        if entry and entry.get("monitor") == "auto":
            entry = OmegaConf.merge(entry, {"monitor": monitor.metric, "mode": monitor.mode})
        if entry:
            callbacks.append(instantiate(entry))
    if not show_progress(cfg.trainer):
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    if phase_cfg.get("early_stopping"):
        patience = int(phase_cfg.early_stopping)
        callbacks.append(EarlyStopping(monitor.metric, mode=monitor.mode, patience=patience))
    return callbacks


def configured_loggers(
    logger_cfg: DictConfig | None, folders: RunFolders, phase: str
) -> list[Logger]:
    """The `logger` group's entries, each writing under the job's log folder as <job>/<phase>."""
    where = {"save_dir": str(folders.tensorboard_dir), "name": folders.run, "version": phase}
    run = Path(folders.tensorboard_dir) / folders.run
    # the loggers write there with plain opens (event files, Lightning's hparams.yaml)
    refuse_links([run.parent, run, run / phase, run / phase / "hparams.yaml"])
    loggers = []
    for entry in (logger_cfg or {}).values():
        if entry:
            given = OmegaConf.to_container(entry, resolve=True)
            loggers.append(instantiate({**where, **given}))
    return loggers


def build_trainer(
    cfg: DictConfig,
    phase_cfg: DictConfig,
    folders: RunFolders,
    phase: str,
    always: list[pl.Callback],
    monitor: Monitor,
) -> pl.Trainer:
    """A Trainer for one phase: the `always` callbacks (selection, rate history, a stop on a
    non-finite loss), then config's; any checkpoint is written whole or not at all."""
    settings = trainer_settings(cfg.trainer)
    settings["enable_progress_bar"] = show_progress(cfg.trainer)
    # validation runs as a callback in one pass (validation.py), which reads the limit itself
    settings["limit_val_batches"] = 0
    settings["plugins"] = [*settings.get("plugins", []), AtomicCheckpointIO()]
    callbacks = [
        *always,
        StopOnNonFiniteLoss(phase),
        *configured_callbacks(cfg, phase_cfg, monitor),
    ]
    # Selection does not need Lightning's checkpointing; it stays on only for a configured
    # ModelCheckpoint, so no default one writes a file every epoch.
    settings.setdefault(
        "enable_checkpointing", any(isinstance(c, ModelCheckpoint) for c in callbacks)
    )
    return pl.Trainer(
        max_epochs=int(phase_cfg.epochs),
        callbacks=callbacks,
        logger=configured_loggers(cfg.get("logger"), folders, phase) or False,
        default_root_dir=str(folders.job_dir),
        **settings,
    )


def trainer_settings(trainer_cfg: DictConfig) -> dict[str, Any]:
    """The `trainer` config as Trainer keywords: precision resolved, our own keys left out, and
    several devices as ranks spawned for the fit."""
    settings = OmegaConf.to_container(trainer_cfg, resolve=True)
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


def is_distributed(trainer_cfg: DictConfig) -> bool:
    return "ddp" in strategy_for(OmegaConf.to_container(trainer_cfg, resolve=True))


def one_device_settings(trainer_cfg: DictConfig) -> dict[str, Any]:
    """Trainer keywords for a check or the test after the fit: one device, no ranks to spawn."""
    settings = trainer_settings(trainer_cfg)
    if is_distributed(trainer_cfg):
        for key in ("strategy", "plugins", "sync_batchnorm"):
            settings.pop(key, None)
        settings["devices"] = 1
    return {**settings, "enable_progress_bar": False, "enable_model_summary": False}
