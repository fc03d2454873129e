"""Which epochs a phase also tests at for the paper's statistic (its `test_epochs` setting).

Torch-free and at the bottom of the package order (docs/architecture.md), because three rooms
ask it: the source cache key (store/keys.py: a source's record holds those tests), the jobs
that set up each phase's epoch tests (train/epoch_tests.py runs them) and the checks.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from omegaconf import DictConfig

from transfer_lab.errors import UserError

WORDS = ("auto", "last", "all", "none")


def resolve_test_epochs(
    setting: Any,
    epochs: int,
    statistic: str | None = None,
    paper_epoch: int | None = None,
) -> list[int]:
    """The 1-based epochs a phase of `epochs` epochs tests at, from its `test_epochs` setting.

    "auto" tests what the paper's statistic needs and no more: every epoch for `mean_best`, else
    `paper_epoch` (the epoch the paper reports, when it is within the phase) or the last epoch.
    """
    epochs = int(epochs)
    if setting is None or setting == "none":
        return []
    if setting == "auto":
        if statistic == "mean_best":
            return list(range(1, epochs + 1))
        if paper_epoch is not None and 1 <= int(paper_epoch) <= epochs:
            return [int(paper_epoch)]
        return [epochs]
    if setting == "last":
        return [epochs]
    if setting == "all":
        return list(range(1, epochs + 1))
    if isinstance(setting, str) or not isinstance(setting, Iterable):
        raise UserError(
            f"test_epochs={setting!r} is not understood; use auto, last, all, none or a list "
            f"of epochs such as [1, 21, 40]."
        )
    chosen = sorted({int(e) for e in setting})
    outside = [e for e in chosen if not 1 <= e <= epochs]
    if outside:
        raise UserError(
            f"test_epochs lists epoch(s) {outside} outside the phase's 1..{epochs}; list epochs "
            f"it trains."
        )
    return chosen


def epochs_to_test(paper_cfg: DictConfig | None, phase_cfg: DictConfig, on_b: bool) -> list[int]:
    """The 1-based epochs a phase also tests at for the paper's statistic (`test_epochs`).

    `paper_cfg` is the config's `paper` (None: no paper statistic). `paper.epoch` is an epoch of
    B (the one CS6784's WRN curves end at), so it applies to networks trained on B only.
    """
    paper = paper_cfg or {}
    return resolve_test_epochs(
        phase_cfg.get("test_epochs", "auto"),
        int(phase_cfg.epochs),
        paper.get("statistic"),
        paper.get("epoch") if on_b else None,
    )
