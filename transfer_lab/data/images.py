"""The in-memory form every dataset reader returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

STATS_CHUNK = 4096  # images per step when computing channel statistics


@dataclass
class ImageSet:
    """A dataset's official train and test parts as uint8 N×C×H×W tensors with integer labels.

    `superclass_of` (optional) gives each class's superclass id, e.g. CIFAR-100's coarse labels,
    and `superclass_names` names them.
    """

    name: str
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    class_names: list[str]
    superclass_of: np.ndarray | None = None
    superclass_names: list[str] | None = None
    settings: Any = field(
        default=None, init=False, repr=False
    )  # how a job loads it (transfer_lab.data.loading)
    _stats: tuple[list[float], list[float]] | None = field(default=None, init=False, repr=False)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one image."""
        return tuple(self.train_images.shape[1:])

    def channel_stats(self) -> tuple[list[float], list[float]]:
        """Per-channel mean and std of all training images' pixels, in [0, 1] units.

        Accumulated in float64 over chunks, so CIFAR-sized sets never exist as one float copy.
        """
        if self._stats is None:
            channels = self.train_images.shape[1]
            total = torch.zeros(channels, dtype=torch.float64)
            squares = torch.zeros(channels, dtype=torch.float64)
            for start in range(0, len(self.train_images), STATS_CHUNK):
                chunk = self.train_images[start : start + STATS_CHUNK].to(torch.float64) / 255
                total += chunk.sum(dim=(0, 2, 3))
                squares += chunk.square().sum(dim=(0, 2, 3))
            count = self.train_images.numel() // channels
            mean = total / count
            var = (squares - count * mean.square()) / max(count - 1, 1)
            std = var.clamp_min(0).sqrt().clamp_min(1e-6)
            self._stats = (mean.tolist(), std.tolist())
        return self._stats
