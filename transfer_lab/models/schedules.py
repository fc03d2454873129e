"""Learning-rate schedules stated as the papers state them: in 1-based epochs.

A paper's "the rate drops at epoch 126" means epochs 1..125 run at the old rate and epoch 126 is
the first at the new one. torch counts completed epochs instead (MultiStepLR's milestone m drops
after m epochs), so every schedule here converts with `completed_epochs`, and nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch.optim.lr_scheduler import LRScheduler, MultiStepLR

from transfer_lab.errors import UserError


def completed_epochs(epoch: int) -> int:
    """How many epochs have finished when 1-based `epoch` starts (torch's epoch counter)."""
    if int(epoch) < 1:
        raise UserError(f"epoch {epoch} is not a 1-based epoch; the first epoch is 1.")
    return int(epoch) - 1


def multistep(
    optimizer: torch.optim.Optimizer, milestones: Sequence[int], gamma: float = 0.1
) -> MultiStepLR:
    """Every group's rate times `gamma` from each of the 1-based `milestones` epochs on."""
    return MultiStepLR(optimizer, [completed_epochs(m) for m in milestones], gamma=gamma)


def group_role(group: Mapping[str, Any]) -> str:
    """The name a schedule knows a parameter group by ("new.bias" follows "new")."""
    return str(group.get("role", group.get("name", "")))


class PhaseRates(LRScheduler):
    """Each parameter group's absolute rate, phase by phase (CS6784's `adjust_opt_transfer`).

    `phases` lists, in order, the 1-based epoch a phase starts at and the rate of each group
    role in it, e.g. ``[{epoch: 1, new: 0.1, copied: 0.01}, {epoch: 51, new: 0.01, copied: 0.01}]``.
    A group's rate is its role's rate times its own ``lr_mult`` (Caffe-style bias multipliers);
    roles a phase names but the optimizer lacks (no copied stages, say) are ignored.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        phases: Sequence[Mapping[str, Any]],
        last_epoch: int = -1,
    ) -> None:
        self.phases = self._checked(phases, optimizer)
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _checked(
        phases: Sequence[Mapping[str, Any]], optimizer: torch.optim.Optimizer
    ) -> list[tuple[int, dict[str, float]]]:
        checked = []
        for phase in phases:
            rates = {str(k): float(v) for k, v in dict(phase).items() if k != "epoch"}
            if "epoch" not in phase:
                raise UserError(
                    f"scheduler phase {dict(phase)} has no epoch; give each phase the 1-based "
                    "epoch it starts at, e.g. {epoch: 51, new: 0.01, copied: 0.01}."
                )
            checked.append((completed_epochs(phase["epoch"]), rates))
        starts = [start for start, _ in checked]
        if not checked or starts[0] != 0 or starts != sorted(set(starts)):
            raise UserError(
                "scheduler.phases must start at epoch 1 and list later phases in increasing epoch "
                f"order; got starting epochs {[s + 1 for s in starts]}."
            )
        for group in optimizer.param_groups:
            for start, rates in checked:
                if group_role(group) not in rates:
                    raise UserError(
                        f"scheduler phase starting at epoch {start + 1} gives no rate for the "
                        f"parameter group {group_role(group)!r}; add `{group_role(group)}: RATE` "
                        "to every phase."
                    )
        return checked

    def get_lr(self) -> list[float]:
        rates = next(r for start, r in reversed(self.phases) if start <= self.last_epoch)
        return [
            rates[group_role(group)] * float(group.get("lr_mult", 1.0))
            for group in self.optimizer.param_groups
        ]
