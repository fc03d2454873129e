"""Refuse a composed config that cannot mean anything, before any work is done or written."""

from __future__ import annotations

from omegaconf import DictConfig

from transfer_lab.errors import UserError
from transfer_lab.selection import monitor_for


def validate(cfg: DictConfig) -> None:
    """Raise UserError with one sentence (what is wrong, how to fix it) for the first problem."""
    beta, heads = float(cfg.model.beta), int(cfg.model.binary_heads)
    if not 0 <= beta <= 1:
        raise UserError(f"model.beta={beta} is outside [0, 1]; pick a weight such as 0.4.")
    if heads < 0:
        raise UserError(f"model.binary_heads={heads} is negative; use 0 or more heads.")
    if beta > 0 and heads == 0:
        raise UserError("model.beta > 0 needs binary heads; set model.binary_heads to 1 or more.")
    if float(cfg.transfer.lr_scale) < 0:
        raise UserError("transfer.lr_scale must be 0 or more (1 = same rate as the new layers).")
    scheduler = cfg.target.get("scheduler") or {}
    if float(cfg.transfer.lr_scale) != 1 and "PhaseRates" in str(scheduler.get("_target_", "")):
        raise UserError(
            f"transfer.lr_scale={cfg.transfer.lr_scale} has no effect under a phases schedule, "
            "which sets the copied stages' rate itself; set it in target.scheduler.phases or "
            "leave lr_scale at 1."
        )
    monitor_for(cfg.source, beta, heads)  # each raises UserError for a monitor that cannot work
    monitor_for(cfg.target, 0.0, 0)
