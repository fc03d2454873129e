"""A phase's network: the backbone from config, stages copied as the plan says, the module with
its optimiser and scheduler factories."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from transfer_lab.config.checks import meta_stage_names
from transfer_lab.data.images import ImageSet
from transfer_lab.data.splits import Task
from transfer_lab.errors import UserError
from transfer_lab.models.classifier import TransferModule
from transfer_lab.models.registry import backbone_from_config
from transfer_lab.transfer.surgery import copy_stages
from transfer_lab.transfer.treatments import Plan


def stage_names(backbone_cfg: DictConfig, images: ImageSet) -> list[str]:
    """The backbone's stages for these images, from the checks' one meta-device build (no
    memory, no init), shared with the pre-flight and made once per backbone and image shape in
    a process (a sweep's plan asks it of every job)."""
    channels, height, _ = images.shape
    backbone = json.dumps(OmegaConf.to_container(backbone_cfg, resolve=True), sort_keys=True)
    return list(meta_stage_names(backbone, channels, height))


def target_schedule(target_cfg: DictConfig, plan: Plan) -> DictConfig:
    """The target phase's schedule; networks without a source may have their own (target.scratch)."""
    scratch = target_cfg.get("scratch")
    if plan.source_task is None and scratch:
        return OmegaConf.merge(target_cfg, scratch)
    return target_cfg


def optimizer_parts(phase_cfg: DictConfig) -> tuple[Any, Any]:
    """(optimizer factory, scheduler factory or None) from a phase's Hydra config."""
    optimizer = instantiate(phase_cfg.optim)
    scheduler_cfg = phase_cfg.get("scheduler")
    scheduler = instantiate(scheduler_cfg) if scheduler_cfg else None
    if not isinstance(optimizer, partial):
        raise UserError("an optim config needs `_partial_: true` so parameter groups can be added.")
    return optimizer, scheduler


def build_module(
    cfg: DictConfig,
    phase_cfg: DictConfig,
    images: ImageSet,
    task: Task,
    beta: float,
    plan: Plan | None = None,
    source_state: dict[str, torch.Tensor] | None = None,
) -> TransferModule:
    """A fresh network for a task; with a plan, stages 1..n copied and frozen as it says."""
    channels, height, _ = images.shape
    backbone = backbone_from_config(cfg.backbone, channels, height)
    if plan is not None and plan.copied:
        copy_stages(backbone, source_state, plan.copied)
    optimizer, scheduler = optimizer_parts(phase_cfg)
    biases = phase_cfg.get("biases") or {}  # Caffe's convention: lr_mult 2, decay_mult 0
    return TransferModule(
        backbone,
        num_classes=len(task.classes),
        optimizer=optimizer,
        scheduler=scheduler,
        beta=beta,
        binary_partitions=task.binary,
        copied=plan.copied if plan else (),
        frozen=plan.frozen if plan else (),
        lr_scale=float(cfg.transfer.lr_scale),
        freeze_bn_stats=bool(cfg.transfer.freeze_bn_stats),
        bias_lr_mult=float(biases.get("lr_mult", 1.0)),
        bias_decay_mult=float(biases.get("decay_mult", 1.0)),
    )
