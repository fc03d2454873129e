"""Which validation metric selects a phase's checkpoint, and in which direction.

Selecting by classifier accuracy is meaningless when β = 1 gives the classifier no loss: its
accuracy stays near chance and the kept epoch is arbitrary. "auto" then selects by the
validation loss of the objective that was trained.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from transfer_lab.errors import UserError

# Validation metrics the network logs, which a phase may select or stop on (models/classifier).
SELECTABLE = {"val/acc", "val/loss", "val/ce", "val/binary_acc", "val/objective_acc"}


@dataclass(frozen=True)
class Monitor:
    """A logged validation metric and whether larger ("max") or smaller ("min") is better."""

    metric: str
    mode: str


def monitor_for(phase: Mapping[str, Any], beta: float, binary_heads: int) -> Monitor:
    """The monitor a phase's config asks for (`monitor`, `monitor_mode`), "auto" resolved."""
    metric = str(phase.get("monitor") or "auto")
    if metric == "auto":
        metric = "val/loss" if float(beta) == 1.0 else "val/acc"
    if not metric.startswith("val/"):
        raise UserError(
            f"monitor={metric!r} is not a validation metric; selection uses validation data "
            "only, so pick one such as val/acc, val/loss or val/binary_acc."
        )
    if "binary" in metric and int(binary_heads) == 0:
        raise UserError(
            f"monitor={metric!r} needs binary heads, and this phase has none; use val/acc or "
            "val/loss."
        )
    mode = str(phase.get("monitor_mode") or "auto")
    if mode == "auto":
        name = metric.rsplit("/", 1)[-1]
        if "acc" in name:
            mode = "max"
        elif "loss" in name or name == "ce":
            mode = "min"
        else:
            raise UserError(
                f"cannot tell whether {metric!r} should be large or small; set monitor_mode "
                "to max or min."
            )
    if mode not in ("max", "min"):
        raise UserError(f"monitor_mode={mode!r} is neither max nor min; use one of them or auto.")
    return Monitor(metric, mode)
