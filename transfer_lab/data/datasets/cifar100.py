"""CIFAR-100: the python pickles in `<root>/cifar-100-python`, 100 classes of 32×32 colour (500
training images each) in 20 superclasses, whose labels sit beside the fine ones; read as
CIFAR-10's are, without running any code the files name (cifar10.py)."""

from __future__ import annotations

import numpy as np

from transfer_lab.data.datasets.cifar10 import column, locate_cifar, names, read_cifar
from transfer_lab.data.datasets.registry import register_dataset
from transfer_lab.errors import UserError


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

    cls = datasets.CIFAR100
    train, test, meta = read_cifar(cls, "CIFAR-100", root, download, check_md5)
    fine = [column(train, "fine_labels"), column(test, "fine_labels")]
    coarse = np.concatenate([column(train, "coarse_labels"), column(test, "coarse_labels")])
    classes = names(meta, cls.meta["key"])
    return as_image_set(
        "cifar100",
        column(train, "data"),
        fine[0],
        column(test, "data"),
        fine[1],
        classes,
        superclass_of=superclass_map(np.concatenate(fine), coarse, len(classes)),
        superclass_names=names(meta, "coarse_label_names"),
    )
