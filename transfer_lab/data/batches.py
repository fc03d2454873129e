"""Batches drawn by index from images that already sit on the training device.

For datasets that fit in memory this replaces a DataLoader: no workers, no per-image Python,
one uint8 tensor on the device, and the normalisation done per batch where the batch lives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

BatchTransform = Callable[[torch.Tensor], torch.Tensor]


@contextmanager
def one_cpu_thread(device: torch.device) -> Iterator[None]:
    """Run a batch's gather/augment/normalise on one CPU thread.

    These are memory-bound passes over a few hundred kilobytes; splitting them across intra-op
    threads costs more than it saves, and on a busy machine it thrashes (measured 3k vs 39k
    CIFAR images/s on 2 loaded cores, benchmarks/loader_speed.py). GPUs are unaffected.
    """
    threads = torch.get_num_threads()
    if device.type != "cpu" or threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class DeviceBatches:
    """An iterable of (images, labels) batches with a fixed-seed shuffle per pass."""

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        batch_size: int,
        transform: BatchTransform,
        shuffle: bool = False,
        seed: int = 0,
    ) -> None:
        self.images = images
        self.labels = labels
        self.batch_size = int(batch_size)
        self.transform = transform
        self.shuffle = shuffle
        self.generator = torch.Generator().manual_seed(int(seed))

    def __len__(self) -> int:
        return -(-len(self.labels) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.labels)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        order = order.to(self.images.device)
        for start in range(0, n, self.batch_size):
            idx = order[start : start + self.batch_size]
            with one_cpu_thread(self.images.device):
                batch = self.transform(self.images[idx]), self.labels[idx]
            yield batch


class Normalize:
    """uint8 images -> float, scaled to [0, 1] and standardised per channel.

    (x / 255 − mean) / std is computed as x · a + b in place, two passes over the batch.
    """

    def __init__(self, mean: list[float], std: list[float]) -> None:
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        self.scale = 1 / (255 * self.std)
        self.shift = -self.mean / self.std

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if self.scale.device != images.device:
            self.scale, self.shift = self.scale.to(images.device), self.shift.to(images.device)
        return images.float().mul_(self.scale).add_(self.shift)
