"""The LightningDataModule that serves one task (A or B) of a split dataset."""

from __future__ import annotations

import numpy as np
import pytorch_lightning as pl
import torch

from transfer_lab.data.augment import DeviceAugment
from transfer_lab.data.batches import DeviceBatches, Normalize
from transfer_lab.data.images import ImageSet
from transfer_lab.data.splits import Task, label_map


class TaskDataModule(pl.LightningDataModule):
    """Train/val/test batches of one task, labels remapped to 0..len(classes)-1.

    The fast path: the task's images sit on the training device as uint8; training batches are
    cropped/flipped there (`augment`: none | cifar | svhn | flip) and every batch is normalised
    with `mean`/`std` (default: the dataset's training-set channel statistics).
    """

    def __init__(
        self,
        images: ImageSet,
        task: Task,
        batch_size: int = 64,
        eval_batch_size: int = 512,
        seed: int = 0,
        augment: str = "none",
        mean: list[float] | None = None,
        std: list[float] | None = None,
    ) -> None:
        super().__init__()
        self.images = images
        self.task = task
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.seed = seed
        if mean is None or std is None:
            stats = images.channel_stats()
            mean, std = mean or stats[0], std or stats[1]
        self.normalize = Normalize(mean, std)
        self.augment = DeviceAugment(mean, std, augment, seed=seed + 1)
        to_task = torch.from_numpy(label_map(task.classes, images.num_classes))
        self._parts = {
            "train": (images.train_images, to_task[images.train_labels], task.train),
            "val": (images.train_images, to_task[images.train_labels], task.val),
            "test": (images.test_images, to_task[images.test_labels], task.test),
        }
        self._on_device: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def _device(self) -> torch.device:
        trainer = getattr(self, "trainer", None)
        return trainer.strategy.root_device if trainer is not None else torch.device("cpu")

    def _tensors(self, part: str) -> tuple[torch.Tensor, torch.Tensor]:
        device = self._device()
        cached = self._on_device.get(part)
        if cached is None or cached[0].device != device:
            images, labels, idx = self._parts[part]
            index = torch.from_numpy(np.asarray(idx, dtype=np.int64))
            cached = (images[index].to(device), labels[index].to(device))
            self._on_device[part] = cached
        return cached

    def _batches(self, part: str, batch_size: int, transform, shuffle: bool = False):
        """Batches of one part, this rank's share of each under DDP (the trainer says which)."""
        x, y = self._tensors(part)
        trainer = getattr(self, "trainer", None)
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        return DeviceBatches(x, y, batch_size, transform, shuffle, self.seed, rank, world)

    def train_dataloader(self) -> DeviceBatches:
        return self._batches("train", self.batch_size, self.augment, shuffle=True)

    def val_dataloader(self) -> DeviceBatches:
        return self._batches("val", self.eval_batch_size, self.normalize)

    def test_dataloader(self) -> DeviceBatches:
        return self._batches("test", self.eval_batch_size, self.normalize)

    def whole_batches(self, part: str) -> DeviceBatches:
        """Every image of `part` (val or test), unsharded even under DDP: what the one-pass
        validation (train/validation.py) and a per-epoch test (train/epoch_tests.py) read."""
        x, y = self._tensors(part)
        return DeviceBatches(x, y, self.eval_batch_size, self.normalize, False, self.seed, 0, 1)
