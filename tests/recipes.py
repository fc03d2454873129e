"""Helpers for tests that pin a paper's recipe: a target network as a job builds it, and each
parameter group's learning rate epoch by epoch."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

from transfer_lab.data.splits import Task
from transfer_lab.job.networks import build_module, target_schedule
from transfer_lab.models.registry import backbone_from_config


def target_module(cfg, plan, source_state=None, num_classes: int = 50, side: int = 32):
    """The network a job builds on B for `plan` (copied stages from `source_state`, or from a
    freshly drawn network when none is given), with B's schedule."""
    if plan.copied and source_state is None:
        source_state = backbone_from_config(cfg.backbone, 3, side).state_dict()
    some = np.arange(2)
    task = Task(tuple(range(num_classes)), some, some, some, np.zeros((0, num_classes), dtype=int))
    images = SimpleNamespace(shape=(3, side, side))
    torch.manual_seed(1)
    schedule = target_schedule(cfg.target, plan)
    return build_module(cfg, schedule, images, task, 0.0, plan, source_state)


def rates_by_epoch(module, epochs: int) -> dict[str, list[float]]:
    """Each group's learning rate in epochs 1..epochs, stepping the scheduler as Lightning does."""
    configured = module.configure_optimizers()
    optimizer, scheduler = configured["optimizer"], configured["lr_scheduler"]["scheduler"]
    rates: dict[str, list[float]] = {g["name"]: [] for g in optimizer.param_groups}
    for _ in range(epochs):
        for group in optimizer.param_groups:
            rates[group["name"]].append(group["lr"])
        optimizer.step()
        scheduler.step()
    return rates
