"""Batches drawn by index from images that already sit on the training device.

For datasets that fit in memory this replaces a DataLoader: no workers, no per-image Python,
one uint8 tensor on the device, and the normalisation done per batch where the batch lives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
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


def epoch_seed(*parts: int) -> int:
    """A 63-bit seed from integers (seed, epoch, rank, …): each epoch's draws depend only on them."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(2, np.uint64)[0] >> 1)


class EpochOrder:
    """The order of one epoch's samples, the same on every rank, drawn from (seed, epoch).

    Lightning calls `set_epoch` on a loader's `sampler` before every epoch (as it does for a
    DistributedSampler), so a run resumed from a checkpoint draws the orders an uninterrupted
    one would, and every DDP rank draws the same permutation.
    """

    def __init__(self, n: int, shuffle: bool, seed: int) -> None:
        self.n, self.shuffle, self.seed, self.epoch = n, shuffle, int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def order(self) -> torch.Tensor:
        if not self.shuffle:
            return torch.arange(self.n)
        generator = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch))
        return torch.randperm(self.n, generator=generator)


def rank_batches(order: torch.Tensor, batch_size: int, rank: int, world_size: int) -> list:
    """This rank's share of each batch: global batch k is order[k·b:(k+1)·b], rank r takes every
    world_size-th sample of it from the r-th on.

    Every sample is seen once per epoch across ranks, every rank gets the same number of
    batches (DDP needs that), and the batch the recipe names stays the global batch. A last
    batch too small to give every rank a sample joins the one before it.
    """
    starts = list(range(0, len(order), batch_size))
    if world_size > 1 and len(starts) > 1 and len(order) - starts[-1] < world_size:
        starts.pop()
    ends = [*starts[1:], len(order)]
    return [order[s:e][rank::world_size] for s, e in zip(starts, ends, strict=True)]


class DeviceBatches:
    """An iterable of (images, labels) batches: a fixed-seed shuffle per epoch, this rank's share.

    `rank` and `world_size` come from the Trainer under DDP; the images are not a Dataset, so
    Lightning adds no DistributedSampler and the sharding is done here.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        batch_size: int,
        transform: BatchTransform,
        shuffle: bool = False,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.images = images
        self.labels = labels
        self.batch_size = int(batch_size)
        self.transform = transform
        self.rank, self.world_size = int(rank), int(world_size)
        self.sampler = EpochOrder(len(labels), shuffle, seed)  # Lightning calls its set_epoch
        self.batch_sampler = None  # what Lightning reads beside a `sampler`

    def __len__(self) -> int:
        return len(
            rank_batches(torch.arange(len(self.labels)), self.batch_size, 0, self.world_size)
        )

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        reseed = getattr(self.transform, "reseed", None)
        if reseed is not None:  # augmentation draws differ per rank, repeat per (seed, epoch)
            reseed(epoch_seed(self.sampler.seed, self.sampler.epoch, self.rank, 1))
        order = self.sampler.order()
        for idx in rank_batches(order, self.batch_size, self.rank, self.world_size):
            idx = idx.to(self.images.device)
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
