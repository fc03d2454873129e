"""The DDP strategy a job may use, torch-free so the config checks can ask it."""

from __future__ import annotations

from typing import Any

from transfer_lab.errors import UserError

SPAWNED_DDP = "ddp_spawn_find_unused_parameters_true"  # binary heads are unused when β = 0


def strategy_for(trainer: dict[str, Any]) -> str:
    """The DDP strategy a job may use: ranks spawned for the fit, never the command line re-run.

    Lightning's plain `ddp` starts each rank by running the command again, which in a job means
    re-running the split, the source phase (waiting on the cache lock rank 0 holds) or a whole
    sweep; so several devices under `strategy: auto` mean spawned ranks, and plain ddp is refused.
    """
    strategy = str(trainer.get("strategy", "auto"))
    if strategy == "auto" and str(trainer.get("devices", 1)) != "1":
        return SPAWNED_DDP
    if "ddp" in strategy and "spawn" not in strategy:
        raise UserError(
            f"trainer.strategy={strategy} starts every rank by re-running the command line; "
            f"use trainer=ddp (trainer.strategy={SPAWNED_DDP}), whose ranks only run the fit."
        )
    return strategy
