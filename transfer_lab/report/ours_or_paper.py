"""Which statistic a number is: ours, or the paper's, computed from a job's per-epoch tests.

Ours is the test accuracy of the one checkpoint selected on validation, tested once: no test
data ever chooses anything. The studies reported otherwise: CS6784 the test at the last epoch,
Yosinski et al. the mean of each network's 10 best test evaluations (which picks the best of
noisy tests with hindsight, so it sits above ours). To compare a reproduction with a published
number, the report can show the paper's statistic too, from `test_history` in results.json;
every table and figure says which of the two it shows. Torch-free, like the rest of the report.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

OURS, PAPER = "ours", "paper"
STATISTICS = (OURS, PAPER)
OURS_WORDS = "ours: the checkpoint selected on validation, tested once"


def metric(phase: str, statistic: str) -> str:
    """The report's column for a phase's test accuracy in a statistic: target_test_acc, …"""
    return f"{phase}_test_acc" if statistic == OURS else f"{phase}_paper_acc"


def paper_words(paper: Mapping[str, Any] | None) -> str | None:
    """How the paper scored a network, in words (None: the job names no paper statistic)."""
    paper = paper or {}
    statistic = paper.get("statistic")
    if statistic == "last":
        epoch = paper.get("epoch")
        return f"the test at epoch {epoch} of B" if epoch else "the test at the last epoch"
    if statistic == "mean_best":
        return f"the mean of the {int(paper.get('best_n') or 10)} best per-epoch tests"
    return None


def paper_value(
    history: Mapping[str, list] | None,
    paper: Mapping[str, Any] | None,
    epochs: int | None,
    on_b: bool = True,
) -> float | None:
    """A phase's test accuracy in the paper's statistic, from its per-epoch tests.

    "last": the test at `paper.epoch` (an epoch of B, so only `on_b`) or at the phase's last
    epoch (`epochs`, what it trained), None when that epoch was not tested. "mean_best": the
    mean of the `best_n` best tests (of all of them when fewer were made, as numpy's
    `sort(vals)[-10:]` in Yosinski's notebook does).
    """
    paper = paper or {}
    statistic = paper.get("statistic")
    if not history or not history.get("epoch") or statistic is None:
        return None
    tests = dict(zip(history["epoch"], history["acc"], strict=True))
    if statistic == "last":
        last = int(epochs) if epochs else max(tests)
        wanted = paper.get("epoch") if on_b else None
        epoch = min(int(wanted), last) if wanted else last
        value = tests.get(epoch)
        return None if value is None else float(value)
    if statistic == "mean_best":
        best = sorted((float(v) for v in tests.values()), reverse=True)
        best = best[: int(paper.get("best_n") or 10)]
        return sum(best) / len(best)
    return None
