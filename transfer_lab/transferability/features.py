"""Pooled features at every stage boundary of a trained backbone, read without gradients."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from transfer_lab.models.backbone import Backbone


@dataclass
class Features:
    """What a backbone makes of one set of images: one (n, d) array per stage, and the labels.

    `probabilities` holds the source head's softmax over the source classes, when a head was
    given: LEEP and NCE read the network's output layer rather than its features.
    """

    stages: dict[str, np.ndarray]
    labels: np.ndarray
    probabilities: np.ndarray | None = None

    @property
    def stage_names(self) -> list[str]:
        return list(self.stages)


def pool(x: torch.Tensor) -> torch.Tensor:
    """Spatial maps (n, c, h, w) become (n, c) by averaging over positions; flat ones pass."""
    return x.flatten(2).mean(2) if x.dim() > 2 else x.flatten(1)


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@torch.no_grad()
def extract(
    backbone: Backbone,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    head: nn.Module | None = None,
    device: torch.device | str | None = None,
) -> Features:
    """Run `batches` of (normalised images, labels) through the backbone in eval mode.

    Each stage's output is pooled to a vector per image; everything is computed on `device`
    (the GPU when there is one) a batch at a time and gathered on the CPU in float64. The
    backbone (and head) go back to the device and mode they came in.
    """
    device = torch.device(device) if device is not None else default_device()
    modules = [m for m in (backbone, head) if m is not None]
    homes = [next(m.parameters()).device for m in modules]
    modes = [m.training for m in modules]
    try:
        for m in modules:
            m.to(device).eval()
        chunks: dict[str, list[torch.Tensor]] = {name: [] for name in backbone.stage_names}
        labels, probabilities = [], []
        for images, y in batches:
            x = images.to(device, non_blocking=True).float()
            for name, stage in backbone.stages.items():
                x = stage(x)
                chunks[name].append(pool(x).float().cpu())
            if head is not None:
                probabilities.append(torch.softmax(head(x).float(), dim=1).cpu())
            labels.append(y.cpu())
    finally:
        for m, home, mode in zip(modules, homes, modes, strict=True):
            m.to(home).train(mode)
    if not labels:
        raise ValueError("no batches to extract features from")
    stages = {name: torch.cat(c).double().numpy() for name, c in chunks.items()}
    return Features(
        stages=stages,
        labels=torch.cat(labels).numpy().astype(np.int64),
        probabilities=torch.cat(probabilities).double().numpy() if probabilities else None,
    )
