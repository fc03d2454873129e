"""CIFAR-100: torchvision's python pickles in `<root>/cifar-100-python`, 100 classes of 32×32
colour (500 training images each) in 20 superclasses, whose labels sit beside the fine ones."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from transfer_lab.data.datasets.cifar10 import locate_cifar, read_cifar
from transfer_lab.data.datasets.registry import register_dataset
from transfer_lab.errors import UserError


def _unpickle(path: Path) -> dict:
    with open(path, "rb") as handle:
        return pickle.load(handle, encoding="latin1")


def superclass_map(fine: np.ndarray, coarse: np.ndarray, num_classes: int) -> np.ndarray:
    """Each fine class's coarse class, checked to be one and the same for all its images."""
    mapping = np.full(num_classes, -1, dtype=np.int64)
    for c in range(num_classes):
        seen = np.unique(coarse[fine == c])
        if len(seen) > 1:
            raise UserError(
                f"fine class {c} carries coarse labels {seen.tolist()} in the CIFAR-100 files; "
                f"the copy is damaged, replace it with a fresh one."
            )
        if len(seen) == 1:
            mapping[c] = int(seen[0])
    return mapping


@register_dataset(
    "CIFAR-100",
    locate=lambda root, **_: locate_cifar("CIFAR-100", root),
    classes=100,
    smallest_class=500,
    shape=(3, 32, 32),
)
def load_cifar100(root: str, download: bool = False, check_md5: bool = True):
    """CIFAR-100 from `root`/cifar-100-python, with each fine class's coarse superclass."""
    from torchvision import datasets

    from transfer_lab.data.images import as_image_set

    path, train, test, train_x, test_x = read_cifar(
        datasets.CIFAR100, "CIFAR-100", root, download, check_md5
    )
    folder = path / datasets.CIFAR100.base_folder
    # torchvision keeps only the fine labels; the coarse ones sit beside them in the same pickles
    fine = np.concatenate([train.targets, test.targets])
    coarse = np.concatenate(
        [_unpickle(folder / "train")["coarse_labels"], _unpickle(folder / "test")["coarse_labels"]]
    )
    coarse_names = list(_unpickle(folder / "meta")["coarse_label_names"])
    return as_image_set(
        "cifar100",
        train_x,
        train.targets,
        test_x,
        test.targets,
        train.classes,
        superclass_of=superclass_map(fine, coarse, len(train.classes)),
        superclass_names=coarse_names,
    )
