"""The in-memory form every dataset reader returns."""

from __future__ import annotations

import hashlib
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
    files: list[str] = field(default_factory=list, init=False)  # what was read (loading.py)
    _stats: tuple[list[float], list[float]] | None = field(default=None, init=False, repr=False)
    _digest: str | None = field(default=None, init=False, repr=False)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one image."""
        return tuple(self.train_images.shape[1:])

    def digest(self) -> str:
        """SHA-256 of every image and label as read: a source's cache key holds it, so a copy
        of a dataset with other pixels never reuses a network trained on the real ones."""
        if self._digest is None:
            sha = hashlib.sha256()
            for tensor in (
                self.train_images,
                self.train_labels,
                self.test_images,
                self.test_labels,
            ):
                sha.update(str(tuple(tensor.shape)).encode())
                sha.update(tensor.contiguous().numpy())
            self._digest = sha.hexdigest()
        return self._digest

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


def as_image_set(name, train_x, train_y, test_x, test_y, class_names, **extra) -> ImageSet:
    """An ImageSet from arrays as readers hold them (uint8 N×C×H×W images, integer labels)."""
    return ImageSet(
        name=name,
        train_images=torch.as_tensor(np.ascontiguousarray(train_x), dtype=torch.uint8),
        train_labels=torch.as_tensor(np.asarray(train_y), dtype=torch.int64),
        test_images=torch.as_tensor(np.ascontiguousarray(test_x), dtype=torch.uint8),
        test_labels=torch.as_tensor(np.asarray(test_y), dtype=torch.int64),
        class_names=list(class_names),
        **extra,
    )
