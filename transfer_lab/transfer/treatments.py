"""What each treatment copies, freezes and trains, decided from names alone (the names, their
grammar and families are in `arms.py`)."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from transfer_lab.errors import UserError
from transfer_lab.transfer import arms
from transfer_lab.transfer.arms import TREATMENTS, parse_arm


@dataclass(frozen=True)
class Plan:
    """The recipe for a target network.

    source_task: which task the source network trains on ("A", "B") or None for no source.
    copied: stages copied from the source (1..m); frozen: stages that get no gradient (1..n,
    n ≤ m for copied networks). Yosinski freezes all copied stages or none; CS6784's freeze grid
    copies the whole network and freezes only its lower part.
    """

    treatment: str
    depth: int
    source_task: str | None
    copied: tuple[str, ...]
    frozen: tuple[str, ...]

    @property
    def freeze_depth(self) -> int:
        """How many stages, counted from the input, get no gradient."""
        return len(self.frozen)

    @property
    def label(self) -> str:
        """The papers' name: baseB, BnB, BnB+, AnB, AnB+, random-frozen; AmB+fn when partly frozen."""
        return arms.label(self.treatment, self.depth, len(self.copied), len(self.frozen))

    @property
    def family(self) -> str:
        """The label without the depths: baseB, BnB, BnB+, AnB, AnB+, randomnB, AnB+fk."""
        return arms.family(self.treatment, self.depth, len(self.copied), len(self.frozen))


def resolve_depth(
    depth: int | str | None, stages: Sequence[str], key: str = "transfer.depth"
) -> int:
    """A depth as a number of stages: a number, a stage name (up to and including it), or "all"."""
    num_stages = len(stages)
    if depth in (None, "all"):
        return num_stages
    if isinstance(depth, str) and depth in stages:
        return list(stages).index(depth) + 1
    try:
        n = int(depth)
    except (TypeError, ValueError):
        raise UserError(
            f"{key}={depth!r} is neither a number, a stage name nor all; use 0..{num_stages}, "
            f"all, or a stage such as {stages[-1]!r} (python -m transfer_lab list shows the stages)."
        ) from None
    if not 0 <= n <= num_stages:
        raise UserError(
            f"{key}={n} is outside 0..{num_stages} for a backbone with {num_stages} stages; "
            f"pick a depth in that range (python -m transfer_lab list shows the stages)."
        )
    return n


def plan_treatment(
    treatment: str,
    depth: int | str | None,
    freeze: bool,
    stages: Sequence[str],
    freeze_depth: int | str | None = None,
) -> Plan:
    """Which stages a treatment copies (1..m, m = depth) and freezes (1..n).

    `freeze_depth` None freezes all copied stages (`freeze`) or none; a depth n ≤ m freezes
    stages 1..n and fine-tunes the copied stages above them. Networks without a source (scratch,
    random-frozen) ignore it.
    """
    if treatment not in TREATMENTS:
        raise UserError(
            f"transfer.treatment={treatment!r} is unknown; use one of {', '.join(TREATMENTS)}."
        )
    m = resolve_depth(depth, stages)
    cut = tuple(stages[:m])
    if treatment == arms.SCRATCH:
        return Plan(treatment, 0, None, (), ())
    if treatment == arms.RANDOM_FROZEN:
        return Plan(treatment, m, None, (), cut)
    source = arms.SOURCE_TASK[treatment]
    if freeze_depth is None:
        return Plan(treatment, m, source, cut, cut if freeze else ())
    n = resolve_depth(freeze_depth, stages, key="transfer.freeze_depth")
    if n > m:
        raise UserError(
            f"transfer.freeze_depth={freeze_depth} freezes {n} stages but transfer.depth={depth} "
            f"copies only {m}; freeze at most the copied stages, or copy more (transfer.depth=all)."
        )
    return Plan(treatment, m, source, cut, cut[:n])


PLAN_KEYS = ("arm", "treatment", "depth", "freeze", "freeze_depth")


def plan_from_config(transfer: Mapping[str, Any], stages: Sequence[str]) -> Plan:
    """The plan a `transfer` config asks for: by `arm` name when given, else by its keys.

    `transfer.freeze_depth` (when set) decides the frozen stages either way. The checks, the
    sweep's planner and the job each ask this of a job; the answer is worked out once per
    process for the same settings and stages, and they share it (a Plan is frozen).
    """
    return planned(tuple(transfer.get(key) for key in PLAN_KEYS), tuple(stages))


@functools.cache
def planned(settings: tuple, stages: tuple[str, ...]) -> Plan:
    """plan_from_config's answer for its PLAN_KEYS values, once per distinct question."""
    arm, treatment, depth, freeze, freeze_depth = settings
    if arm:
        treatment, depth, freeze = parse_arm(arm)
    return plan_treatment(str(treatment), depth, bool(freeze), stages, freeze_depth=freeze_depth)
