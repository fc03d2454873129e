"""Callbacks the SLURM tests put into their jobs (imported on the node: the jobs get this
checkout on their PYTHONPATH)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytorch_lightning as pl


def slurm_job_id() -> str:
    """This job's id as squeue and submitit write it: 12_3 for an array task."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    return f"{array}_{task}" if array and task else os.environ.get("SLURM_JOB_ID", "")


class HoldUntil(pl.Callback):
    """The first job of a sweep to start epoch `epoch` writes its SLURM job id to `held` and
    waits there until `release` exists, so a test can act on a job known to be running (cancel
    it, run the sweep again); the others go on. Nothing holds once `release` exists."""

    def __init__(self, epoch: int, held: str, release: str) -> None:
        self.epoch, self.held, self.release = int(epoch), Path(held), Path(release)

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch != self.epoch or self.release.exists():
            return
        ready = self.held.with_suffix(f".{os.getpid()}")
        ready.write_text(slurm_job_id())
        try:
            os.link(ready, self.held)  # whole when seen, and only the first job gets it
        except FileExistsError:
            return
        finally:
            ready.unlink()
        for _ in range(3000):  # at most five minutes, in case the test never lets go
            if self.release.exists():
                return
            time.sleep(0.1)
