"""Lightning's TensorBoard logger, minus two costs that outweighed the offline studies' epochs.

Lightning writes one event per scalar, each handed to TensorBoard's writer thread at once, and
flushes the file after every logging call. On a busy 2-core machine each hand-over cost
milliseconds, about ten times an epoch, more than a digits training step. This logger keeps a
call's scalars as one event (TensorBoard reads them as the same scalars), hands events to the
writer at most every few seconds, and flushes then; closing the logger writes the rest
(event wall times are those of the hand-over; steps are exact).
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
    """One event per `log_metrics` call, written and flushed at most every `flush_seconds`."""

    def __init__(self, *args, flush_seconds: float = 5.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.flush_seconds = float(flush_seconds)
        self._flushed_at = -math.inf
        self._pending: list[tuple[Summary, int | None]] = []

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:  # noqa: D102
        if self._prefix or any(isinstance(v, Mapping) for v in metrics.values()):
            super().log_metrics(metrics, step)
            return
        values = [scalar(name, float(value)).value[0] for name, value in metrics.items()]
        self._pending.append((Summary(value=values), step))

    def _write_pending(self) -> None:
        if self._pending:
            writer = self.experiment._get_file_writer()
            for summary, step in self._pending:
                writer.add_summary(summary, step)
            self._pending.clear()

    @rank_zero_only
    def save(self) -> None:  # noqa: D102
        now = time.monotonic()
        if now - self._flushed_at >= self.flush_seconds:
            self._flushed_at = now
            self._write_pending()
            super().save()

    @rank_zero_only
    def finalize(self, status: str) -> None:  # noqa: D102
        self._write_pending()
        super().finalize(status)
