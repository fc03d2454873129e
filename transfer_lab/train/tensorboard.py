"""TensorBoard: Lightning's logger minus two costs that outweighed the offline studies' epochs,
and a job's settings and final metrics as an hparams session (the HPARAMS tab).

Lightning writes one event per scalar, each handed to TensorBoard's writer thread at once, and
flushes the file after every logging call. On a busy 2-core machine each hand-over cost
milliseconds, about ten times an epoch, more than a digits training step. This logger keeps a
call's scalars as one event (TensorBoard reads them as the same scalars), hands events to the
writer at most every few seconds, and flushes then; closing the logger writes the rest
(event wall times are those of the hand-over; steps are exact).

For reading: each tag carries its run's phase (`source/val/acc`, `target/val/acc`), so the two
phases, of different lengths, get cards and step axes of their own; Lightning's `epoch` scalar
is left out (it would be the first card, column and "Color by"); `trial/*` are the hparams
session's final metrics, the same tags in every run: one point each, so their group sorts after
`source/` and `target/` (TensorBoard orders groups by name) and the dashboard opens on curves.
Runs are named by design (job/context.run_name) so that "Color runs by regex" on `beta([0-9.]+)`
or on the arm colours them by the swept axis (docs/tensorboard.md).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

from lightning_utilities.core.rank_zero import rank_zero_only
from pytorch_lightning.loggers import Logger
from pytorch_lightning.loggers import TensorBoardLogger as LightningTensorBoardLogger
from tensorboard.compat.proto.summary_pb2 import Summary
from torch.utils.tensorboard.summary import hparams, scalar

from transfer_lab.store.results import AXES, JobResults, configured

TRIAL = "trial/"  # the hparams session's final metrics: after source/ and target/ by name


class TensorBoardLogger(LightningTensorBoardLogger):
    """One event per `log_metrics` call, written and flushed at most every `flush_seconds`."""

    def __init__(self, *args, flush_seconds: float = 5.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.flush_seconds = float(flush_seconds)
        self._flushed_at = -math.inf
        self._pending: list[tuple[Summary, int | None]] = []
        version = kwargs.get("version")  # the phase, as train/trainer.py names each run
        self.tag_prefix = f"{version}/" if isinstance(version, str) else ""

    def tag(self, name: str) -> str:
        return name if name.startswith(TRIAL) else self.tag_prefix + name

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        metrics = {self.tag(k): v for k, v in metrics.items() if k != "epoch"}
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
    def save(self) -> None:
        now = time.monotonic()
        if now - self._flushed_at >= self.flush_seconds:
            self._flushed_at = now
            self._write_pending()
            super().save()

    @rank_zero_only
    def finalize(self, status: str) -> None:
        self._write_pending()
        super().finalize(status)


# Override keys already shown under their design name (a sweep's first round: the source
# session's label says "source …").
COVERED = {*(axis.key for axis in AXES if axis.key), "experiment", "only_source"}
TEXT_AXES = ("beta",)  # text, so the HPARAMS tab filters each value with a checkbox


def hparams_of(results: JobResults, source: str | None = None) -> dict[str, Any]:
    """The job's settings: the design values (store/results.AXES), then every other override.

    Settings that do not apply (β for scratch, say) are left out rather than given a dummy
    value, so each column keeps one type across the sweep. β is written as text ("0.4"):
    TensorBoard gives a text setting a discrete domain, so the HPARAMS tab filters by each β
    with a checkbox instead of a range. A source's session (`source`: the network it trained,
    A or baseB) names the task it learnt (`source A`, `source baseB`) instead of the first
    job's arm that needed it, and shows only the axes a source has.
    """
    params: dict[str, Any] = {"experiment": results.experiment, "dataset": results.dataset}
    for axis in AXES:
        if source is not None and not axis.of_source:
            continue
        if axis.copied and (not results.has_source or source not in (None, "A")):
            continue  # no network copied, or a source trained on B: A's settings mean nothing
        if axis.recorded:
            value = getattr(results, axis.column)
            params[axis.column] = (
                f"{value:g}" if axis.column in TEXT_AXES and value is not None else value
            )
        else:
            params[axis.key] = configured(results.config, axis.key)
    if source is not None:
        params.update(label=f"source {source}", family="source")
    for text in results.overrides:
        key, _, value = str(text).partition("=")
        key = key.lstrip("+~")
        if key in COVERED or key in params or key.startswith("hydra") or "enable_" in key:
            continue
        if source is not None and key.startswith(("transfer.", "target.")):
            continue  # the first job's arm that needed this source, not the source's
        try:
            params[key] = float(value)
        except ValueError:
            params[key] = value
    return {k: v for k, v in params.items() if v is not None}


def log_hparams(loggers: list[Logger], results: JobResults, source: str | None = None) -> None:
    """Write the session and the final metrics (trial/*) into the phase's TensorBoard run.

    Every arm gets one in its target run, baseB too when its network came from the cache (the
    caller then passes loggers made for the run, with no curves in it), and a sweep's source
    job gets one in its source run (`source`: the network it trained, A or baseB). No job writes an experiment summary of its own:
    TensorBoard then builds the HPARAMS table from every session under the log directory, so
    all jobs (and sweeps with different swept keys) show side by side instead of one job's
    columns winning.
    """
    logger = next((lg for lg in loggers if isinstance(lg, LightningTensorBoardLogger)), None)
    finished = results.target if source is None else results.source
    if logger is None or finished is None:
        return
    learnt, tested = results.source, results.target
    metrics = {TRIAL + "source_val_acc": learnt.val_acc, TRIAL + "source_test_acc": learnt.test_acc}
    if source is None:
        metrics.update(
            {
                TRIAL + "target_test_acc": tested.test_acc,
                TRIAL + "target_test_loss": tested.test_loss,
                TRIAL + "target_val_acc": tested.val_acc,
            }
        )
    logger.log_metrics({k: v for k, v in metrics.items() if v is not None}, step=0)
    _experiment, session_start, session_end = hparams(hparams_of(results, source), {})
    writer = logger.experiment._get_file_writer()  # as Lightning's own log_hyperparams does
    writer.add_summary(session_start)
    writer.add_summary(session_end)
    logger.finalize("success")
