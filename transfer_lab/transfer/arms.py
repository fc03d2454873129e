"""The study's words for its arms, in one place: treatments, arm names and their grammar, the
families, their order, and which family is whose baseline.

Torch-free (it imports nothing of the package but errors), so the job, the checks and the
report all read it: a new arm is a treatment here and its plan in `treatments.py`.
"""

from __future__ import annotations

import re

from transfer_lab.errors import UserError

# Treatments: how a target network gets its stages.
SCRATCH = "scratch"  # nothing copied: baseB
SELFFER = "selffer"  # copied from a network trained on B itself: BnB
TRANSFER = "transfer"  # copied from the source trained on A: AnB
RANDOM_FROZEN = "random_frozen"  # random stages, frozen: randomnB
TREATMENTS = (SCRATCH, SELFFER, TRANSFER, RANDOM_FROZEN)
SOURCE_TASK = {SELFFER: "B", TRANSFER: "A"}  # the task a copied network was trained on

BASE_B = "baseB"

ARM = re.compile(
    r"^(?:(?P<base>baseB)|(?P<letter>[AB])(?P<n>\d+)B(?P<plus>\+?)|random(?P<rn>\d+)B)$"
)

# Families: an arm's name without its depths, in the order tables and figures show them.
FAMILIES = ("baseB", "BnB", "BnB+", "AnB", "AnB+", "randomnB", "BnB+fk", "AnB+fk")
FAMILY_WORDS = {
    "baseB": "baseB (scratch)",
    "BnB": "BnB (selffer, frozen)",
    "BnB+": "BnB+ (selffer, fine-tuned)",
    "AnB": "AnB (transfer, frozen)",
    "AnB+": "AnB+ (transfer, fine-tuned)",
    "randomnB": "random frozen",
    "BnB+fk": "BnB+fk (selffer, lower k frozen)",
    "AnB+fk": "AnB+fk (transfer, lower k frozen)",
}
YOSINSKI_FAMILIES = FAMILIES[:5]  # the five lines of Yosinski et al.'s Figure 2
COPIED_FAMILIES = ("BnB", "BnB+", "AnB", "AnB+")  # a network copied at a cut depth n
CURVES = ("AnB", "AnB+")  # what the transferability measures try to predict: A's features on B

# Whose baseline is whom: every arm against scratch (baseB) on the same data, and transfer also
# against the selffer of the same depth and freezing (what is specific to A, not to copying).
SPECIFICITY_BASELINE = {TRANSFER: SELFFER}


def has_source(treatment: str | None) -> bool:
    """Whether the treatment copies a trained network's stages (transfer or selffer)."""
    return treatment in SOURCE_TASK


def label(treatment: str, depth: int, copied: int, frozen: int) -> str:
    """The papers' name of an arm: baseB, BnB, BnB+, AnB, AnB+, randomnB; AmB+fk when only the
    lower k of the m copied stages are frozen (CS6784's freeze grid)."""
    if treatment == SCRATCH:
        return BASE_B
    if treatment == RANDOM_FROZEN:
        return f"random{depth}B"
    letter = SOURCE_TASK[treatment]
    if 0 < frozen < copied:
        return f"{letter}{depth}B+f{frozen}"
    return f"{letter}{depth}B" + ("" if frozen else "+")


def family(treatment: str, depth: int, copied: int, frozen: int) -> str:
    """The arm's name without its depths: baseB, BnB, BnB+, AnB, AnB+, randomnB, AnB+fk."""
    if treatment == SCRATCH:
        return BASE_B
    if treatment != RANDOM_FROZEN and 0 < frozen < copied:
        return f"{SOURCE_TASK[treatment]}nB+fk"
    return label(treatment, depth, copied, frozen).replace(str(depth), "n", 1)


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
        return SCRATCH, 0, False
    if match["rn"] is not None:
        return RANDOM_FROZEN, int(match["rn"]), True
    treatment = TRANSFER if match["letter"] == "A" else SELFFER
    return treatment, int(match["n"]), not match["plus"]


def arm_examples(depths: int = 9) -> list[str]:
    """Arm names at cut depths 1..depths, what a misspelt arm is compared with."""
    names = [BASE_B]
    names += [f"{x}{n}B+" for x in "AB" for n in range(1, depths + 1)]
    names += [f"{x}{n}B" for x in "AB" for n in range(1, depths + 1)]
    return names + [f"random{n}B" for n in range(1, depths + 1)]


def source_network(task: str) -> str:
    """A source network's name by the task it learnt: A, or baseB (B's own, which BnB copies)."""
    return "A" if task == "A" else BASE_B
