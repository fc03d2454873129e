"""Whether a phase had finished learning when it stopped, from its per-epoch history.

Torch-free: the job records the verdict in results.json and the report counts it. A phase is
*still improving* when it ran into its epoch cap (no early stop) while its validation loss was
still falling (by more than FALLING over the last epochs, a least-squares line through them)
and its monitor's best epoch lay among those last epochs: more epochs would likely have
given a better network. A phase that early stopping ended had stopped improving by definition.
Training loss still falling is recorded beside it, but does not flag a phase on its own: it
falls for as long as a network can fit its training set, improving or not.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

# The last epochs the trend is read over: a fifth of them, at least three (all, when fewer).
WINDOW_SHARE, MIN_WINDOW = 0.2, 3
# A fall of validation loss over that window larger than this share of its mean is "falling".
FALLING = 0.01
EARLY_STOPPING, EPOCH_CAP = "early_stopping", "epoch_cap"


def window(epochs: int) -> int:
    """How many of the last epochs the trend is read over."""
    return min(epochs, max(MIN_WINDOW, math.ceil(WINDOW_SHARE * epochs)))


def relative_slope(values: Sequence[float]) -> float:
    """The least-squares slope per epoch of `values`, as a share of their mean; NaN when fewer
    than two are finite."""
    y = np.asarray(values, dtype=float)
    x = np.arange(len(y), dtype=float)
    keep = np.isfinite(y)
    if keep.sum() < 2 or abs(y[keep].mean()) == 0:
        return math.nan
    slope = np.polyfit(x[keep], y[keep], 1)[0]
    return float(slope / abs(y[keep].mean()))


def best_epoch(scores: Sequence[float], mode: str) -> int | None:
    """The 1-based epoch of the best score (the first of ties, as selection keeps it)."""
    y = np.asarray(scores, dtype=float)
    if not np.isfinite(y).any():
        return None
    y = np.where(np.isfinite(y), y, -np.inf if mode == "max" else np.inf)
    return int((np.argmax(y) if mode == "max" else np.argmin(y)) + 1)


def history_key(metric: str) -> str:
    """A metric's name in the history: val/acc → val_acc."""
    return metric.replace("/", "_")


def convergence(
    history: Mapping[str, list],
    monitor: str,
    mode: str,
    selected_epoch: int | None,
    epoch_cap: int,
) -> dict[str, Any]:
    """What shows whether the phase finished learning (see the module's docstring)."""
    epochs = len(history.get("epoch", []))
    val_loss = history.get("val_loss", [])[-epochs:] if epochs else []
    train_loss = history.get("train_loss", [])[-epochs:] if epochs else []
    k = window(epochs)
    val_slope = relative_slope(val_loss[-k:]) if k else math.nan
    train_slope = relative_slope(train_loss[-k:]) if k else math.nan
    best = best_epoch(history.get(history_key(monitor), []), mode)
    stopped_by = EARLY_STOPPING if epochs < epoch_cap else EPOCH_CAP
    falling = not math.isnan(val_slope) and val_slope * (k - 1) < -FALLING
    late_best = best is not None and best > epochs - k
    return {
        "monitor": monitor,
        "mode": mode,
        "selected_epoch": selected_epoch,
        "best_epoch": best,
        "last_epoch": epochs,
        "epoch_cap": int(epoch_cap),
        "stopped_by": stopped_by,
        "window": k,
        "val_loss_slope": None if math.isnan(val_slope) else round(val_slope, 6),
        "train_loss_slope": None if math.isnan(train_slope) else round(train_slope, 6),
        "train_loss_falling": not math.isnan(train_slope) and train_slope * (k - 1) < -FALLING,
        "still_improving": bool(stopped_by == EPOCH_CAP and falling and late_best),
    }
