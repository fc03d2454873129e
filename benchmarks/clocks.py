"""Lightning callbacks that time a run from inside, for the benchmarks (added by config).

Their readings live at module level because Hydra builds a fresh callback for every stage of
every job; a benchmark resets them, runs, and reads them back.
"""

from __future__ import annotations

import time

import pytorch_lightning as pl
import torch

STEP_SECONDS: list[float] = []  # one entry per training step (forward, backward, update)
EPOCH_STARTS: list[list[float]] = []  # per fit: the start of each epoch, then the fit's end


def reset() -> None:
    STEP_SECONDS.clear()
    EPOCH_STARTS.clear()


def _now(module: pl.LightningModule) -> float:
    if module.device.type == "cuda":
        torch.cuda.synchronize(module.device)
    return time.perf_counter()


class StepClock(pl.Callback):
    """Adds the wall time of every training step to STEP_SECONDS."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.started = _now(pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        STEP_SECONDS.append(_now(pl_module) - self.started)


class EpochClock(pl.Callback):
    """Records when each epoch starts and when training ends (after the last validation)."""

    def on_train_start(self, trainer, pl_module):
        EPOCH_STARTS.append([])

    def on_train_epoch_start(self, trainer, pl_module):
        EPOCH_STARTS[-1].append(_now(pl_module))

    def on_train_end(self, trainer, pl_module):
        EPOCH_STARTS[-1].append(_now(pl_module))
