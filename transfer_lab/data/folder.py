"""Image trees (ImageNet, your own images): too big for memory, so served through a DataLoader.

The reader is data/datasets/image_folder.py. Only the file lists and labels are held; images are
decoded per batch by DataLoader workers with torchvision's transforms.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset
from torchvision.datasets import ImageFolder

from transfer_lab.data.augment import imagenet_transforms
from transfer_lab.data.splits import Task, label_map, stratified_carve

STATS_IMAGES = 512  # training images, evenly spaced, that measure a tree's channel statistics


@dataclass
class Files:
    """Some of an ImageFolder's files (a test part carved from its training images)."""

    samples: list[tuple[str, int]]
    classes: list[str]
    loader: Any

    @property
    def targets(self) -> list[int]:
        return [label for _, label in self.samples]


def carve_test(tree: ImageFolder, fraction: float, seed: int) -> tuple[Files, Files]:
    """(train, test) of a tree without a test folder: `fraction` of each class, fixed by `seed`."""
    kept, carved = stratified_carve(np.asarray(tree.targets), fraction, seed, "folder-test")
    pick = lambda chosen: Files([tree.samples[i] for i in chosen], tree.classes, tree.loader)  # noqa: E731
    return pick(kept), pick(carved)


@dataclass
class FolderSet:
    """The labels and file lists of an ImageFolder tree, plus how its images are sized.

    `mean`/`std` None: measured on (up to `STATS_IMAGES` of) the training images, as they are
    evaluated (resized, centre-cropped)."""

    name: str
    train: ImageFolder | Files
    test: ImageFolder | Files
    class_names: list[str]
    crop_size: int
    resize_size: int
    mean: list[float] | None
    std: list[float] | None
    superclass_of: np.ndarray | None = None
    superclass_names: list[str] | None = None
    settings: Any = field(default=None, repr=False)
    eval_crop: str = "center"  # center | train (the training crop without the flip)
    files: list[str] = field(default_factory=list)  # what was read (data/loading.py)
    _digest: str | None = field(default=None, repr=False)

    @property
    def train_labels(self) -> torch.Tensor:
        return torch.as_tensor(self.train.targets, dtype=torch.int64)

    @property
    def test_labels(self) -> torch.Tensor:
        return torch.as_tensor(self.test.targets, dtype=torch.int64)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (3, self.crop_size, self.crop_size)

    def channel_stats(self) -> tuple[list[float], list[float]]:
        if self.mean is None or self.std is None:
            mean, std = self._measured()
            self.mean = mean if self.mean is None else self.mean
            self.std = std if self.std is None else self.std
        return list(self.mean), list(self.std)

    def _measured(self) -> tuple[list[float], list[float]]:
        from torchvision import transforms as T

        look = T.Compose([T.Resize(self.resize_size), T.CenterCrop(self.crop_size), T.ToTensor()])
        count = len(self.train.samples)
        chosen = np.unique(np.linspace(0, count - 1, min(count, STATS_IMAGES)).astype(int))
        pixels = torch.stack(
            [look(self.train.loader(self.train.samples[i][0])) for i in chosen]
        ).to(torch.float64)
        mean = pixels.mean(dim=(0, 2, 3))
        std = pixels.std(dim=(0, 2, 3)).clamp_min(1e-6)
        return mean.tolist(), std.tolist()

    def digest(self) -> str:
        """SHA-256 of every file's name, size and time and of the classes: what a source's
        cache key holds of a tree (its images are not hashed: ImageNet is 13 GB)."""
        if self._digest is None:
            sha = hashlib.sha256(json.dumps(self.class_names).encode())
            for part in (self.train, self.test):
                for path, label in part.samples:
                    info = Path(path).stat()
                    sha.update(f"{path}\0{label}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
            self._digest = sha.hexdigest()
        return self._digest


class _Part(Dataset):
    """Chosen files of an ImageFolder, decoded and transformed, labels mapped to the task."""

    def __init__(self, folder: ImageFolder, indices: np.ndarray, transform, to_task: np.ndarray):
        self.folder, self.indices, self.transform, self.to_task = (
            folder,
            indices,
            transform,
            to_task,
        )

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        path, label = self.folder.samples[int(self.indices[i])]
        return self.transform(self.folder.loader(path)), int(self.to_task[label])


class FolderDataModule(pl.LightningDataModule):
    """Train/val/test DataLoaders of one task of an ImageFolder tree (the regular path)."""

    def __init__(
        self,
        images: FolderSet,
        task: Task,
        batch_size: int = 64,
        eval_batch_size: int = 256,
        seed: int = 0,
        num_workers: int = 4,
        mean: list[float] | None = None,
        std: list[float] | None = None,
    ) -> None:
        super().__init__()
        self.images, self.task = images, task
        self.batch_size, self.eval_batch_size = int(batch_size), int(eval_batch_size)
        self.seed, self.num_workers = int(seed), int(num_workers)
        default_mean, default_std = images.channel_stats()
        train_tf, eval_tf = imagenet_transforms(
            mean or default_mean,
            std or default_std,
            images.crop_size,
            images.resize_size,
            images.eval_crop,
        )
        to_task = label_map(task.classes, images.num_classes)
        self._parts = {
            "train": _Part(images.train, task.train, train_tf, to_task),
            "val": _Part(images.train, task.val, eval_tf, to_task),
            "test": _Part(images.test, task.test, eval_tf, to_task),
        }

    def _loader(self, part: str, shuffle: bool) -> DataLoader:
        return DataLoader(
            self._parts[part],
            batch_size=self.batch_size if part == "train" else self.eval_batch_size,
            shuffle=shuffle,
            generator=torch.Generator().manual_seed(self.seed) if shuffle else None,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0 and part == "train",
            pin_memory=torch.cuda.is_available(),
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def whole_batches(self, part: str) -> DataLoader:
        """Every image of `part` (val or test), unsharded: what the one-pass validation
        (train/validation.py) and a per-epoch test (train/epoch_tests.py) read."""
        return self._loader(part, shuffle=False)
