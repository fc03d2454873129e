"""CIFAR-10: torchvision's python pickles in `<root>/cifar-10-batches-py`, 10 classes of 32×32
colour (5,000 training images each)."""

from __future__ import annotations

from pathlib import Path

from transfer_lab.data.datasets.fetch import download as fetch_into
from transfer_lab.data.datasets.fetch import unverified, verify
from transfer_lab.data.datasets.registry import register_dataset, require

# torchvision's layouts (tests/test_datasets.py checks them against torchvision's classes)
CIFAR = {
    "CIFAR-10": (
        "cifar-10-batches-py",
        "cifar-10-python.tar.gz",
        [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta"],
    ),
    "CIFAR-100": ("cifar-100-python", "cifar-100-python.tar.gz", ["train", "test", "meta"]),
}


def locate_cifar(dataset: str, root: str) -> list[Path]:
    """CIFAR-10's or CIFAR-100's python pickles under `root`."""
    folder, archive, files = CIFAR[dataset]
    path = Path(root).expanduser().resolve() / folder
    how = f"extract the python version ({archive}) so that {folder}/ sits in a folder"
    return require(dataset, path, files, how)


def read_cifar(cls, name: str, root: str, download: bool, check_md5: bool):
    """torchvision's train and test parts of CIFAR-10 or -100, with their images as N×C×H×W."""
    root = Path(root).expanduser().resolve()
    if download:
        fetch_into(name, root, lambda: cls(str(root), train=True, download=True))
    locate_cifar(name, str(root))
    if check_md5:
        sums = [(f, md5) for f, md5 in cls.train_list + cls.test_list]
        verify(name, root / cls.base_folder, [*sums, (cls.meta["filename"], cls.meta["md5"])])
    reader = unverified(
        cls,
        train_list=[[f, None] for f, _ in cls.train_list],
        test_list=[[f, None] for f, _ in cls.test_list],
        meta={**cls.meta, "md5": None},
    )
    train, test = reader(str(root), train=True), reader(str(root), train=False)
    # torchvision keeps HWC arrays; the fast path wants CHW
    return root, train, test, train.data.transpose(0, 3, 1, 2), test.data.transpose(0, 3, 1, 2)


@register_dataset(
    "CIFAR-10",
    locate=lambda root, **_: locate_cifar("CIFAR-10", root),
    classes=10,
    smallest_class=5000,
    shape=(3, 32, 32),
)
def load_cifar10(root: str, download: bool = False, check_md5: bool = True):
    """CIFAR-10 from `root`/cifar-10-batches-py (the python pickles), through torchvision."""
    from torchvision import datasets

    from transfer_lab.data.images import as_image_set

    _, train, test, train_x, test_x = read_cifar(
        datasets.CIFAR10, "CIFAR-10", root, download, check_md5
    )
    return as_image_set("cifar10", train_x, train.targets, test_x, test.targets, train.classes)
