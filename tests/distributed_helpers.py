"""A callback for the scaling tests: how many training samples each rank saw in each epoch."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytorch_lightning as pl


class SeenSamples(pl.Callback):
    """Writes seen-<stage>-rank<r>.json into the job folder: {epoch: samples this rank trained on}."""

    def __init__(self) -> None:
        self.seen: dict[int, int] = {}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        epoch = trainer.current_epoch
        self.seen[epoch] = self.seen.get(epoch, 0) + len(batch[1])

    def on_train_end(self, trainer, pl_module) -> None:
        stage = trainer.logger.version  # the job's loggers are named by stage: source, target
        path = Path(trainer.default_root_dir) / f"seen-{stage}-rank{trainer.global_rank}.json"
        path.write_text(json.dumps(self.seen))


class StopAt(pl.Callback):
    """Stops the process's training with an error when epoch $STOP_AT starts: a job cut off
    mid-run. The epoch comes from the environment, so the stopped run and its rerun share one
    config."""

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch == int(os.environ.get("STOP_AT", "-1")):
            raise RuntimeError(f"stopped at epoch {trainer.current_epoch}")


class PauseOnce(pl.Callback):
    """The first time an epoch starts: write this process's id to `marker` and wait there, so a
    test can pre-empt the job at a known point (a later attempt finds the marker and goes on)."""

    def __init__(self, epoch: int, marker: str) -> None:
        self.epoch, self.marker = int(epoch), Path(marker)

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch != self.epoch or self.marker.exists():
            return
        ready = self.marker.with_suffix(".tmp")
        ready.write_text(str(os.getpid()))
        ready.rename(self.marker)  # whole when seen: the test reads the id from it
        for _ in range(6000):  # at most ten minutes, in case no signal ever comes
            time.sleep(0.1)
        raise RuntimeError("paused and never pre-empted")
