"""A callback for the scaling tests: how many training samples each rank saw in each epoch."""

from __future__ import annotations

import json
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
    """Stops the process's training with an error when an epoch starts: a job cut off mid-run."""

    def __init__(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch == self.epoch:
            raise RuntimeError(f"stopped at epoch {self.epoch}")
