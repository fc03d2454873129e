"""The measure step of a job: how transferable the source's features look on B, before (or
instead of) training the target; and how alike two networks are, stage by stage.

The per-stage measures (transfer_lab.transferability) of a source network on B's training
budget depend only on that network and B's images, so they are kept beside the source cache,
keyed by the source's cache key and B's exact images: every job of a sweep that copies the same
source onto the same B reads them instead of computing them again.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from torch import nn

from transfer_lab.data.splits import Task
from transfer_lab.models.backbone import Backbone
from transfer_lab.models.registry import backbone_from_config
from transfer_lab.store.atomic import own_folder, write_json_atomically
from transfer_lab.store.cache import READ_ONLY, cache_key
from transfer_lab.store.keys import index_digest
from transfer_lab.transferability.table import StageMeasures, measure_source, network_cka

log = logging.getLogger(__name__)


def backbone_from_state(
    backbone_cfg: DictConfig, images: Any, state: dict[str, torch.Tensor]
) -> Backbone:
    channels, height, _ = images.shape
    backbone = backbone_from_config(backbone_cfg, channels, height)
    backbone.load_state_dict(state)
    return backbone


def head_from_state(state: dict[str, torch.Tensor] | None) -> nn.Linear | None:
    """The source classifier (for LEEP and NCE), when the cache kept it."""
    if state is None:
        return None
    classes, width = state["weight"].shape
    head = nn.Linear(width, classes)
    head.load_state_dict(state)
    return head


def measures_path(cache_dir: str, source_key: str, images: Any, task_b: Task, head: bool) -> Path:
    settings = getattr(images, "settings", None)
    definition = {
        "source": source_key,  # holds the code hash: a changed estimator measures anew
        "target": images.name,
        "indices": index_digest(task_b),
        "normalise": [getattr(settings, "mean", None), getattr(settings, "std", None)],
        "head": head,
    }
    key = cache_key(definition)
    return Path(cache_dir) / "measures" / key[:2] / f"{key}.json"


def source_measures(
    cfg: DictConfig,
    source_key: str,
    state: dict[str, torch.Tensor],
    head_state: dict[str, torch.Tensor] | None,
    images: Any,
    task_b: Task,
) -> StageMeasures:
    """The source's measures at every stage on B, read from beside the cache or computed once."""
    path = measures_path(cfg.paths.cache_dir, source_key, images, task_b, head_state is not None)
    if path.exists():
        try:
            stored = json.loads(path.read_text())
            return StageMeasures(stored["stages"], stored["per_stage"], stored["output"])
        except (OSError, ValueError, KeyError):
            log.warning("stored measures %s cannot be read; computing them again", path.name)
    backbone = backbone_from_state(cfg.backbone, images, state)
    measured = measure_source(backbone, images, task_b, head=head_from_state(head_state))
    try:
        own_folder(path.parent.parent)  # measures/ and its shard: a link there is refused
        own_folder(path.parent)
        write_json_atomically(path, measured.as_dict())
    except OSError as error:  # a colleague's cache, read-only to this user: measured, not kept
        if error.errno not in READ_ONLY:
            raise
        log.warning("the cache is read-only; the measures of %s are not kept", source_key[:12])
    return measured


def stage_cka(
    backbone_cfg: DictConfig,
    images: Any,
    task_b: Task,
    first: Backbone,
    second: dict[str, torch.Tensor],
) -> list[float]:
    """Linear CKA between a network and a stored backbone state, per stage, on B's val images."""
    other = backbone_from_state(backbone_cfg, images, second)
    by_stage = network_cka(first, other, images, task_b, part="val")
    return [by_stage[name] for name in first.stage_names]
