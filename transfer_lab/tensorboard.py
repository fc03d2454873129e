"""Lightning's TensorBoard logger, minus two costs that outweighed the offline studies' epochs.

Lightning writes one event per scalar, and each event wakes TensorBoard's writer thread; it also
flushes the file after every logging call. On a busy 2-core machine each wake-up cost
milliseconds, about ten times an epoch, more than a digits training step. This logger writes the
scalars of one call as one event (TensorBoard reads them as the same scalars) and flushes at
most every few seconds; closing the logger flushes the rest.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping

from lightning_utilities.core.rank_zero import rank_zero_only
from pytorch_lightning.loggers import TensorBoardLogger as LightningTensorBoardLogger
from tensorboard.compat.proto.summary_pb2 import Summary
from torch.utils.tensorboard.summary import scalar


class TensorBoardLogger(LightningTensorBoardLogger):
    """One event per `log_metrics` call, a flush at most every `flush_seconds`."""

    def __init__(self, *args, flush_seconds: float = 5.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.flush_seconds = float(flush_seconds)
        self._flushed_at = -math.inf

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:  # noqa: D102
        if self._prefix or any(isinstance(v, Mapping) for v in metrics.values()):
            super().log_metrics(metrics, step)
            return
        values = [scalar(name, float(value)).value[0] for name, value in metrics.items()]
        self.experiment._get_file_writer().add_summary(Summary(value=values), step)

    @rank_zero_only
    def save(self) -> None:  # noqa: D102
        now = time.monotonic()
        if now - self._flushed_at >= self.flush_seconds:
            self._flushed_at = now
            super().save()
