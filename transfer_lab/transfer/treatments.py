"""What each treatment copies, freezes and trains, decided from names alone."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from transfer_lab.errors import UserError

TREATMENTS = ("scratch", "selffer", "transfer", "random_frozen")
ARM = re.compile(
    r"^(?:(?P<base>baseB)|(?P<letter>[AB])(?P<n>\d+)B(?P<plus>\+?)|random(?P<rn>\d+)B)$"
)


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
    def partly_frozen(self) -> bool:
        """Copied stages of which only the lower ones are frozen (CS6784's freeze grid)."""
        return 0 < len(self.frozen) < len(self.copied)

    @property
    def label(self) -> str:
        """The papers' name: baseB, BnB, BnB+, AnB, AnB+, random-frozen; AmB+fn when partly frozen."""
        if self.treatment == "scratch":
            return "baseB"
        if self.treatment == "random_frozen":
            return f"random{self.depth}B"
        letter = "A" if self.treatment == "transfer" else "B"
        if self.partly_frozen:
            return f"{letter}{self.depth}B+f{self.freeze_depth}"
        return f"{letter}{self.depth}B" + ("" if self.frozen else "+")

    @property
    def family(self) -> str:
        """The label without the depths: baseB, BnB, BnB+, AnB, AnB+, randomnB, AnB+fk."""
        if self.treatment == "scratch":
            return "baseB"
        letter = {"transfer": "A", "selffer": "B"}.get(self.treatment)
        if self.partly_frozen:
            return f"{letter}nB+fk"
        return self.label.replace(str(self.depth), "n", 1)


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
    if treatment == "scratch":
        return Plan(treatment, 0, None, (), ())
    if treatment == "random_frozen":
        return Plan(treatment, m, None, (), cut)
    source = "A" if treatment == "transfer" else "B"
    if freeze_depth is None:
        return Plan(treatment, m, source, cut, cut if freeze else ())
    n = resolve_depth(freeze_depth, stages, key="transfer.freeze_depth")
    if n > m:
        raise UserError(
            f"transfer.freeze_depth={freeze_depth} freezes {n} stages but transfer.depth={depth} "
            f"copies only {m}; freeze at most the copied stages, or copy more (transfer.depth=all)."
        )
    return Plan(treatment, m, source, cut, cut[:n])


def parse_arm(arm: str) -> tuple[str, int, bool]:
    """(treatment, depth, freeze) from the papers' name: baseB, B3B, B3B+, A3B, A3B+, random3B.

    Lets one sweep axis list exactly the arms of a study, e.g. Yosinski's Figure 2.
    """
    match = ARM.match(str(arm).strip())
    if match is None:
        raise UserError(
            f"transfer.arm={arm!r} is not an arm name; use baseB, BnB, BnB+, AnB, AnB+ or randomnB "
            f"with n a cut depth, e.g. A3B+."
        )
    if match["base"]:
        return "scratch", 0, False
    if match["rn"] is not None:
        return "random_frozen", int(match["rn"]), True
    treatment = "transfer" if match["letter"] == "A" else "selffer"
    return treatment, int(match["n"]), not match["plus"]


def plan_from_config(transfer: Mapping[str, Any], stages: Sequence[str]) -> Plan:
    """The plan a `transfer` config asks for: by `arm` name when given, else by its keys.

    `transfer.freeze_depth` (when set) decides the frozen stages either way.
    """
    arm = transfer.get("arm")
    if arm:
        treatment, depth, freeze = parse_arm(arm)
    else:
        treatment, depth, freeze = transfer["treatment"], transfer["depth"], transfer["freeze"]
    return plan_treatment(
        str(treatment), depth, bool(freeze), stages, freeze_depth=transfer.get("freeze_depth")
    )
