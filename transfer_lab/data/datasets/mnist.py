"""MNIST: the four IDX files (raw or .gz) in `<root>/MNIST/raw`, as torchvision lays them out,
10 classes of 28×28 grey."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from transfer_lab.data.datasets import idx
from transfer_lab.data.datasets.fetch import download as fetch_into
from transfer_lab.data.datasets.registry import MissingFiles, register_dataset

SMALLEST_CLASS = 5421  # the digit 5's training images


def locate_mnist(root: str, **_) -> list[Path]:
    """torchvision's `<root>/MNIST/raw/` with the four IDX files, each raw or .gz."""
    raw = Path(root).expanduser().resolve() / "MNIST" / "raw"
    how = "put the four IDX files (raw or .gz) in MNIST/raw/ inside a folder"
    found = idx.files_in(raw, "MNIST", how)
    if found is None:
        raise MissingFiles("MNIST", raw, list(idx.IDX_FILES), how, True)
    return found


@register_dataset(
    "MNIST",
    locate=locate_mnist,
    classes=10,
    smallest_class=SMALLEST_CLASS,
    survey=partial(idx.check_headers, classes=10, smallest=SMALLEST_CLASS),
    shape=(1, 28, 28),
)
def load_mnist(root: str, download: bool = False, check_md5: bool = True):
    """MNIST from `root`/MNIST/raw (IDX files); `download=true` lets torchvision fetch them."""
    from torchvision import datasets

    from transfer_lab.data.images import as_image_set

    path = Path(root).expanduser().resolve()
    if download:
        fetch_into("MNIST", path, lambda: datasets.MNIST(str(path), train=True, download=True))
    train_x, train_y, test_x, test_y = idx.read_arrays(locate_mnist(root))
    return as_image_set(
        "mnist", train_x[:, None], train_y, test_x[:, None], test_y, datasets.MNIST.classes
    )
