"""ImageFolder data (ImageNet and the like): too big for memory, so read through a DataLoader.

The tree is `root/train/<class>/*` and `root/val/<class>/*` (the official validation set serves
as the test set). Only the file lists and labels are held; images are decoded per batch by
DataLoader workers with torchvision's transforms.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset
from torchvision.datasets import ImageFolder

from transfer_lab.data.augment import EVAL_CROPS, imagenet_transforms
from transfer_lab.data.files import locate_image_folder
from transfer_lab.data.splits import Task, label_map
from transfer_lab.errors import UserError

IMAGENET_MEAN = [0.485, 0.456, 0.406]  # ImageNet's training-set channel statistics
IMAGENET_STD = [0.229, 0.224, 0.225]


@dataclass
class FolderSet:
    """The labels and file lists of an ImageFolder tree, plus how its images are sized."""

    name: str
    train: ImageFolder
    test: ImageFolder
    class_names: list[str]
    crop_size: int
    resize_size: int
    mean: list[float]
    std: list[float]
    superclass_of: np.ndarray | None = None
    superclass_names: list[str] | None = None
    settings: Any = field(default=None, repr=False)
    eval_crop: str = "center"  # center | train (the training crop without the flip)

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
        return list(self.mean), list(self.std)


def load_image_folder(
    root: str,
    download: bool = False,
    train_dir: str = "train",
    test_dir: str = "val",
    crop_size: int = 224,
    resize_size: int = 256,
    mean: list[float] | None = None,
    std: list[float] | None = None,
    name: str = "imagefolder",
    check_md5: bool = True,
    eval_crop: str = "center",
) -> FolderSet:
    """An ImageFolder tree with the same class folders under `train_dir` and `test_dir`.

    `eval_crop` is how validation and test images are cropped: "center" (resize, centre crop) or
    "train" (the training crop without the flip, as CS6784 tested). (`check_md5` is accepted
    like every reader's, but an ImageFolder has no checksums.)
    """
    if eval_crop not in EVAL_CROPS:
        raise UserError(
            f"data.reader.eval_crop={eval_crop!r} is not a crop; use center (resize and centre "
            f"crop) or train (the training crop without the flip)."
        )
    locate_image_folder(root, train_dir, test_dir, name)
    path = Path(root).expanduser().resolve()
    train, test = ImageFolder(str(path / train_dir)), ImageFolder(str(path / test_dir))
    if train.classes != test.classes:
        only = sorted(set(train.classes) ^ set(test.classes))[:5]
        raise UserError(
            f"{path / train_dir} and {path / test_dir} hold different class folders (e.g. "
            f"{', '.join(only)}); give both parts the same classes."
        )
    return FolderSet(
        name=name,
        train=train,
        test=test,
        class_names=list(train.classes),
        crop_size=int(crop_size),
        resize_size=int(resize_size),
        mean=list(mean or IMAGENET_MEAN),
        std=list(std or IMAGENET_STD),
        eval_crop=str(eval_crop),
    )


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
