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

from transfer_lab.job.context import JobContext
from transfer_lab.store.atomic import file_sha256
from transfer_lab.store.results import PhaseResults
from transfer_lab.train.callbacks import (
    BestWeights,
    EpochHistory,
    EpochSeeds,
    LearningRateHistory,
    check_finite_test,
)
from transfer_lab.train.convergence import convergence
from transfer_lab.train.epoch_tests import EpochTests
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


def last_checkpoint(ctx: JobContext, phase: str) -> Path:
    """The phase's resumable checkpoint: weights, optimiser, scheduler, epoch and selection."""
    return ctx.job_dir / "checkpoints" / f"{phase}-last.ckpt"


def loads(checkpoint: Path) -> bool:
    """Whether a checkpoint file loads (an empty, truncated or garbled one does not)."""
    try:
        torch.load(checkpoint, map_location="cpu", weights_only=False)
    except Exception:  # torch raises RuntimeError, EOFError, UnpicklingError, …
        return False
    return True


def resumable(last: Path, cfg: DictConfig) -> bool:
    """Whether `last` was written by this very config and loads; if not, the phase starts over.

    A last checkpoint of other settings is removed (a rerun with other settings in the same
    folder must not pick up foreign weights); one that does not load (a damaged disk, a copy cut
    short) is moved aside as `<name>.damaged` (removed with the other resume files when the
    job finishes), so the job starts over instead of failing on every rerun.
    """
    settings = OmegaConf.to_container(cfg, resolve=False)  # as written, so paths may move
    fingerprint = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()
    stamp = last.with_suffix(".config")
    if last.exists() and stamp.exists() and stamp.read_text() == fingerprint:
        if loads(last):
            log.info("resuming from %s", last)
            return True
        damaged = last.with_name(f"{last.name}.damaged")
        last.replace(damaged)
        log.warning("%s does not load; moved it to %s and training this phase again", last, damaged)
        return False
    if last.exists():
        log.warning("%s was written by another config; training this phase from the start", last)
        last.unlink()
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(fingerprint)
    return False


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
    ctx: JobContext,
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
    distributed = is_distributed(cfg)
    every = 1 if distributed else int(cfg.get("checkpoint_every", 1))
    # no last checkpoint at all with checkpoint_every: 0 (its idle hooks cost more than a
    # digits epoch)
    last = (
        [
            ModelCheckpoint(
                dirpath=ctx.job_dir / "checkpoints",
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
    always = [validation, selection, history, tests, *last, rates, seeds]
    trainer = build_trainer(cfg, phase_cfg, ctx, phase, always, monitor)
    module.watched = watched_metrics(trainer.callbacks, bool(trainer.progress_bar_callback))
    resume = last_checkpoint(ctx, phase)
    started, cpu_started = time.perf_counter(), cpu_time()
    # with no last checkpoints (checkpoint_every: 0) there is nothing to resume or to stamp
    resume_from = str(resume) if every and resumable(resume, cfg) else None
    trainer.fit(module, datamodule=datamodule, ckpt_path=resume_from)
    seconds, cpu_seconds = time.perf_counter() - started, cpu_time() - cpu_started
    if distributed:  # the ranks' callbacks are gone with them: read the last checkpoint
        state = torch.load(resume, map_location="cpu", weights_only=False)
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
            default_root_dir=str(ctx.job_dir),
            **one_device_settings(cfg),
        )
    else:
        tester = trainer
    tested = final_test(tester, module, datamodule, cfg.trainer.get("limit_test_batches"))
    check_finite_test(phase, tested)
    kept = selection.state is not None
    checkpoint = None
    if kept and save_checkpoint:
        checkpoint = selection.save(ctx.job_dir / "checkpoints" / f"{phase}.ckpt")
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
