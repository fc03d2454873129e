"""SVHN's cropped digits: `train_32x32.mat` and `test_32x32.mat` in `<root>`, 10 classes of 32×32
colour (torchvision's label 0 for the digit the files call 10)."""

from __future__ import annotations

from pathlib import Path

from transfer_lab.data.datasets.fetch import download as fetch_into
from transfer_lab.data.datasets.fetch import unverified, verify
from transfer_lab.data.datasets.registry import register_dataset, require

SVHN_FILES = ["train_32x32.mat", "test_32x32.mat"]


def locate_svhn(root: str, **_) -> list[Path]:
    path = Path(root).expanduser().resolve()
    how = "put train_32x32.mat and test_32x32.mat (the cropped-digits format) in a folder"
    return require("SVHN", path, SVHN_FILES, how)


@register_dataset("SVHN", locate=locate_svhn, classes=10, shape=(3, 32, 32))
def load_svhn(root: str, download: bool = False, check_md5: bool = True):
    """SVHN's train_32x32.mat and test_32x32.mat from `root`, through torchvision (0 for '10')."""
    from torchvision import datasets

    from transfer_lab.data.images import as_image_set

    path = Path(root).expanduser().resolve()
    cls = datasets.SVHN
    if download:
        for split in ("train", "test"):
            fetch_into("SVHN", path, lambda s=split: cls(str(path), split=s, download=True))
    splits = {s: cls.split_list[s] for s in ("train", "test")}
    locate_svhn(str(path))
    if check_md5:
        verify("SVHN", path, [(v[1], v[2]) for v in splits.values()])
    reader = unverified(
        cls, split_list={**cls.split_list, **{s: [v[0], v[1], None] for s, v in splits.items()}}
    )
    train, test = reader(str(path), split="train"), reader(str(path), split="test")
    return as_image_set(
        "svhn", train.data, train.labels, test.data, test.labels, [str(d) for d in range(10)]
    )
