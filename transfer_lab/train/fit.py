"""Fit one phase and test it once: selection on the phase's validation monitor, the resumable
last checkpoint, and the phase's results.

Selection on a validation metric (`monitor`, see selection.py), the record of every group's
learning rate per epoch and the phase's resumable last checkpoint
(`checkpoints/<phase>-last.ckpt`, every `checkpoint_every` epochs) are not in the config's
`callbacks` group: they are part of every study's recipe and of its audit, so they are always
on. Selection keeps the best weights in memory and the phase writes them once, at its end:
writing a checkpoint at every improvement (Lightning's ModelCheckpoint) cost more than the
training on the offline studies, whose epochs are one or a few batches.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import Logger

from transfer_lab.errors import UserError
from transfer_lab.store.atomic import file_sha256, link_sentence
from transfer_lab.store.results import PhaseResults
from transfer_lab.train.callbacks import (
    BestWeights,
    ConfigStamp,
    EpochHistory,
    EpochSeeds,
    LearningRateHistory,
    check_finite_test,
)
from transfer_lab.train.convergence import convergence
from transfer_lab.train.epoch_tests import EpochTests
from transfer_lab.train.folders import RunFolders
from transfer_lab.train.provenance import cpu_time
from transfer_lab.train.selection import monitor_for
from transfer_lab.train.trainer import build_trainer, is_distributed, one_device_settings
from transfer_lab.train.validation import OnePassValidation, final_test

log = logging.getLogger(__name__)


@dataclass
class Fitted:
    """A trained phase: its results, the selected weights on disk, the Trainer's loggers, and
    (when asked for) the weights of its last epoch, on the CPU."""

    results: PhaseResults
    checkpoint: Path | None
    loggers: list[Logger]
    last_state: dict[str, torch.Tensor] | None = None


# One seed stream per network a job trains, so fresh layers never replay another network's
# initialisation: BnB is cut from baseB's network (trained on the target stream), so its own
# fresh layers draw from a third stream.
SEED_STREAMS = {"source": 0, "target": 1, "selffer": 2}


def derived_seed(seed: int, phase: str) -> int:
    """A training seed per stream (source, target, selffer) from the job's training seed."""
    return int(np.random.SeedSequence([int(seed), SEED_STREAMS[phase]]).generate_state(1)[0])


def last_checkpoint(folders: RunFolders, phase: str) -> Path:
    """The phase's resumable checkpoint: weights, optimiser, scheduler, epoch and selection."""
    return folders.job_dir / "checkpoints" / f"{phase}-last.ckpt"


# What Lightning's resume reads from a last checkpoint: without one of them the fit would fail
# on every rerun, so such a file is moved aside like a damaged one.
RESUME_KEYS = ("state_dict", "loops", "callbacks", "optimizer_states", "epoch")


def config_fingerprint(cfg: DictConfig) -> str:
    """The SHA-256 of the job's settings as written (unresolved, so paths may move)."""
    settings = OmegaConf.to_container(cfg, resolve=False)
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def read_checkpoint(checkpoint: Path) -> dict | None:
    """A last checkpoint's contents, or None when it is no plain file, does not load (empty,
    truncated, garbled) or lacks what a resume reads.

    Loaded with `weights_only=True`, as Lightning's resume loads it (fit_and_test): tensors and
    plain values only, so a pickle planted in a shared folder runs no code; it fails to load.
    """
    if checkpoint.is_symlink() or not checkpoint.is_file():  # never read through a link
        return None
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except Exception:  # torch raises RuntimeError, EOFError, UnpicklingError, …
        return None
    if not isinstance(state, dict) or not all(key in state for key in RESUME_KEYS):
        return None
    return state


def resumable(last: Path, cfg: DictConfig) -> bool:
    """Whether `last` loads and was written by this very config; if not, the phase starts over,
    with one warning.

    One that does not load (a damaged disk, a copy cut short, a planted pickle) is moved aside as
    `<name>.damaged` (removed with the other resume files when the job finishes), so the job
    starts over instead of failing on every rerun. One stamped by other settings (ConfigStamp,
    inside the checkpoint) is removed: a rerun with other settings in the same folder must not
    pick up foreign weights. The stamp guards against mistakes, not against a colleague who can
    write the folder: see docs/architecture.md, "Shared folders".
    """
    if not (last.exists() or last.is_symlink()):
        return False
    state = read_checkpoint(last)
    if state is None:
        damaged = last.with_name(f"{last.name}.damaged")
        last.replace(damaged)
        log.warning("%s does not load; moved it to %s and training this phase again", last, damaged)
        return False
    stamp = (
        state["callbacks"].get(ConfigStamp.__qualname__)
        if isinstance(state["callbacks"], dict)
        else None
    )
    if stamp != ConfigStamp(config_fingerprint(cfg)).state_dict():
        log.warning("%s was written by another config; training this phase from the start", last)
        last.unlink()
        return False
    log.info("resuming from %s", last)
    return True


def watched_metrics(callbacks: Sequence[pl.Callback], progress_bar: bool) -> set[str]:
    """The validation metrics other callbacks read from the Trainer (early stopping, a
    configured checkpoint: their `monitor`), and val/acc where a progress bar shows it.
    Selection reads the module's own record of them (`validated`)."""
    monitors = {
        getattr(callback, "monitor", None)
        for callback in callbacks
        if not isinstance(callback, BestWeights)
    }
    shown = {"val/acc"} if progress_bar else set()
    return shown | {m for m in monitors if isinstance(m, str)}


def fit_and_test(
    module: pl.LightningModule,
    datamodule: pl.LightningDataModule,
    phase: str,
    phase_cfg: DictConfig,
    cfg: DictConfig,
    folders: RunFolders,
    save_checkpoint: bool = True,
    test_epochs: Sequence[int] = (),
    keep_last: bool = False,
) -> Fitted:
    """Train with selection on the phase's validation monitor, then test the selected weights once.

    `val_acc` is the classifier's validation accuracy of the selected epoch, whatever selected
    it; `monitor` and `monitor_value` say what did, `select` (best or last) how. The selected
    weights are written to <job>/checkpoints/<phase>.ckpt at the end when `save_checkpoint`
    (the source phase does not: the cache keeps its network). The network is also tested at
    each of `test_epochs` (1-based) after that epoch's selection (`test_history`, see
    epoch_tests.py); `keep_last` returns the last epoch's weights too.
    """
    monitor = monitor_for(
        phase_cfg, getattr(module, "beta", 0.0), len(getattr(module, "binary_heads", ()))
    )
    select = str(phase_cfg.get("select") or "best")
    selection = BestWeights(monitor.metric, monitor.mode, select)
    tests = EpochTests(test_epochs)
    distributed = is_distributed(cfg.trainer)
    every = 1 if distributed else int(cfg.get("checkpoint_every", 1))
    # no last checkpoint at all with checkpoint_every: 0 (its idle hooks cost more than a
    # digits epoch)
    last = (
        [
            ModelCheckpoint(
                dirpath=folders.job_dir / "checkpoints",
                filename=f"{phase}-last",
                save_top_k=1,
                every_n_epochs=every,
                monitor=None,
                enable_version_counter=False,
                save_on_train_epoch_end=True,  # after the epoch's selection and test: both resume
            )
        ]
        if every
        else []
    )
    rates = LearningRateHistory()
    history = EpochHistory(monitor.metric)
    seeds = EpochSeeds(derived_seed(cfg.seed, phase))
    if cfg.trainer.get("channels_last"):
        module = module.to(memory_format=torch.channels_last)
    # in this order at each epoch's end: validate and test, select (the last checkpoint, a
    # monitoring callback, is written after all of them)
    validation = OnePassValidation(cfg.trainer.get("limit_val_batches"), tests)
    stamp = [ConfigStamp(config_fingerprint(cfg))] if every else []
    always = [validation, selection, history, tests, *last, *stamp, rates, seeds]
    trainer = build_trainer(cfg, phase_cfg, folders, phase, always, monitor)
    module.watched = watched_metrics(trainer.callbacks, bool(trainer.progress_bar_callback))
    resume = last_checkpoint(folders, phase)
    if resume.parent.is_symlink():  # every checkpoint would go where it points
        raise UserError(link_sentence(resume.parent))
    started, cpu_started = time.perf_counter(), cpu_time()
    # with no last checkpoints (checkpoint_every: 0) there is nothing to resume
    resume_from = str(resume) if every and resumable(resume, cfg) else None
    # weights_only: Lightning's own load (and its SLURM hpc_ckpt_* resume) unpickles nothing
    trainer.fit(module, datamodule=datamodule, ckpt_path=resume_from, weights_only=True)
    seconds, cpu_seconds = time.perf_counter() - started, cpu_time() - cpu_started
    if distributed:  # the ranks' callbacks are gone with them: read the last checkpoint
        state = torch.load(resume, map_location="cpu", weights_only=True)
        selection.load_state_dict(state["callbacks"][selection.state_key])
        rates.load_state_dict(state["callbacks"].get(rates.state_key, {}))
        tests.load_state_dict(state["callbacks"].get(tests.state_key, {}))
        history.load_state_dict(state["callbacks"].get(history.state_key, {}))
    last_state = None
    if keep_last:
        final = state["state_dict"] if distributed else module.state_dict()
        last_state = {k: v.detach().cpu().clone() for k, v in final.items()}
    selection.restore(module)
    if distributed:  # test once, here, on one device, rather than spawning the ranks
        tester = pl.Trainer(
            logger=False,
            callbacks=[],
            default_root_dir=str(folders.job_dir),
            **one_device_settings(cfg.trainer),
        )
    else:
        tester = trainer
    tested = final_test(tester, module, datamodule, cfg.trainer.get("limit_test_batches"))
    check_finite_test(phase, tested)
    kept = selection.state is not None
    checkpoint = None
    if kept and save_checkpoint:
        checkpoint = selection.save(folders.job_dir / "checkpoints" / f"{phase}.ckpt")
    results = PhaseResults(
        val_acc=selection.val_acc if kept else None,
        test_acc=float(tested["test/acc"]),
        test_loss=float(tested["test/loss"]),
        epochs=int(state["epoch"]) + 1 if distributed else int(trainer.current_epoch),
        seconds=round(seconds, 2),
        checkpoint_sha256=file_sha256(checkpoint) if checkpoint else None,
        monitor=monitor.metric,
        monitor_value=float(selection.score) if kept else None,
        select=select,
        lr_history=rates.history,
        test_history=tests.history if test_epochs else None,
        epoch_cap=int(phase_cfg.epochs),
        cpu_seconds=round(cpu_seconds, 2),
        history=history.history,
        convergence=convergence(
            history.history,
            monitor.metric,
            monitor.mode,
            selection.epoch + 1 if selection.epoch is not None else None,
            int(phase_cfg.epochs),
        ),
    )
    return Fitted(results, checkpoint, list(trainer.loggers), last_state)
