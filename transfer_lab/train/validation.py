"""Validation after each training epoch in one pass over the validation split, outside
Lightning's evaluation loop.

Lightning's validation loop sets up, hooks and tears down a whole loop per epoch; on the offline
studies (an epoch is one batch of 34 images, its validation one batch) that cost more than the
epoch's training. The phase's validation is simple: the network in eval mode, the split's
batches through the module's own `validation_step`, the epoch's means logged once
(`on_validation_epoch_end`). Doing that here, at the end of each training epoch, gives the
metrics Lightning's loop gave, at the same point (before selection and the last checkpoint),
for a fraction of the cost. The same pass tests the network at the epochs the paper's statistic
needs (train/epoch_tests.py), so the network changes mode once per epoch, not twice. The
Trainer runs with its own loop switched off (`limit_val_batches=0`, set in trainer.py);
`trainer.limit_val_batches` limits this pass.

Every rank validates on the whole split (it is small beside the training set), so under DDP each
rank selects the same epoch from the same numbers without a gather.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Iterable, Iterator

import pytorch_lightning as pl
import torch

from transfer_lab.train.epoch_tests import EpochTests


def batches_to_run(total: int, limit: int | float | None) -> int:
    """How many of `total` batches a `limit_val_batches` setting runs (as Lightning counts it: a
    whole number of batches, or a fraction of them, at least one)."""
    if limit is None:
        return total
    if isinstance(limit, float) and limit <= 1.0:
        return min(total, max(1, math.floor(total * limit)))
    return min(total, int(limit))


def limited(batches: Iterable, limit: int | float | None) -> Iterable:
    """The batches a `limit_val_batches` / `limit_test_batches` setting runs."""
    if limit is None:
        return batches
    return itertools.islice(batches, batches_to_run(len(batches), limit))


class OnePassValidation(pl.Callback):
    """Validate at the end of every training epoch, in eval mode and without gradients, and
    test where `tests` says the epoch is due."""

    def __init__(self, limit: int | float | None = None, tests: EpochTests | None = None) -> None:
        self.limit = limit
        self.tests = tests

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        batches = limited(trainer.datamodule.whole_batches("val"), self.limit)
        with evaluating(trainer, pl_module):
            for index, batch in enumerate(batches):
                pl_module.validation_step(on_device(batch, pl_module.device), index)
            if self.tests is not None and self.tests.due(trainer):
                self.tests.test(trainer, pl_module)
        pl_module.on_validation_epoch_end()  # the epoch's means, logged once


@contextlib.contextmanager
def evaluating(trainer: pl.Trainer, module: pl.LightningModule) -> Iterator[None]:
    """The module in eval mode, without gradients, in the trainer's precision, then back."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad(), trainer.precision_plugin.forward_context():
            yield
    finally:
        module.train(was_training)  # the module's own train() keeps frozen BN in eval


def on_device(batch: tuple[torch.Tensor, ...], device: torch.device) -> tuple:
    """A batch on the module's device (batches of device-resident images are there already)."""
    if all(t.device == device for t in batch):
        return batch
    return tuple(t.to(device, non_blocking=True) for t in batch)


def final_test(
    trainer: pl.Trainer,
    module: pl.LightningModule,
    datamodule,
    limit: int | float | None = None,
) -> dict[str, float]:
    """The module's test metrics on the test split (`limit`: trainer.limit_test_batches), in
    one pass as validation is, and handed to the trainer's loggers (what `trainer.test` gave,
    without its loop)."""
    module.to(trainer.strategy.root_device)
    with evaluating(trainer, module):
        for index, batch in enumerate(limited(datamodule.whole_batches("test"), limit)):
            module.test_step(on_device(batch, module.device), index)
    tested = {name: float(value) for name, value in module.epoch_means("test").items()}
    for logger in trainer.loggers:  # the fit has closed them; as trainer.test, close again
        logger.log_metrics(tested, step=trainer.global_step)
        logger.finalize("success")
    return tested
