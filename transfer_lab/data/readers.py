"""Readers for the torchvision datasets the studies use, each returning an in-memory ImageSet.

Every reader takes `root` (where the local copy is, laid out as torchvision lays it out) and
`download` (fetch it there first when true). Missing files raise `MissingFiles` before anything
is written; `load_images` in `transfer_lab.data.loading` turns that into one sentence that names
the config key to set.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch
from torchvision import datasets
from torchvision.datasets.utils import check_integrity, extract_archive

from transfer_lab.data.files import MissingFiles as MissingFiles  # raised by every reader
from transfer_lab.data.files import locate_cifar, locate_idx, locate_svhn
from transfer_lab.data.images import ImageSet
from transfer_lab.errors import UserError


def _download(dataset: str, root: Path, fetch) -> None:
    """Run torchvision's download, turning a network failure into one sentence."""
    try:
        fetch()
    except Exception as error:  # URLError, HTTPError, checksum mismatch, disk full, ...
        raise UserError(
            f"downloading {dataset} into {root} failed ({type(error).__name__}: {error}); "
            f"check the network, or copy the files there yourself and turn download off."
        ) from error


def _verify(dataset: str, root: Path, checksums: list[tuple[str, str]]) -> None:
    """Compare files with torchvision's published MD5 sums, as torchvision itself does."""
    bad = [name for name, md5 in checksums if not check_integrity(str(root / name), md5)]
    if bad:
        raise UserError(
            f"{dataset} files {', '.join(bad)} under {root} do not match the official MD5 sums; "
            f"replace them with a fresh copy, or set data.check_md5=false if this copy is meant "
            f"to differ."
        )


def _unverified(cls: type, **overrides) -> type:
    """The torchvision class with checksums cleared: files are checked for presence only."""
    return type(f"Unverified{cls.__name__}", (cls,), overrides)


def _as_set(name, train_x, train_y, test_x, test_y, class_names, **extra) -> ImageSet:
    return ImageSet(
        name=name,
        train_images=torch.as_tensor(np.ascontiguousarray(train_x), dtype=torch.uint8),
        train_labels=torch.as_tensor(np.asarray(train_y), dtype=torch.int64),
        test_images=torch.as_tensor(np.ascontiguousarray(test_x), dtype=torch.uint8),
        test_labels=torch.as_tensor(np.asarray(test_y), dtype=torch.int64),
        class_names=list(class_names),
        **extra,
    )


# ---------------------------------------------------------------- CIFAR-10 / CIFAR-100


def _read_cifar(cls, name: str, root: str, download: bool, check_md5: bool):
    root = Path(root).expanduser().resolve()
    if download:
        _download(name, root, lambda: cls(str(root), train=True, download=True))
    locate_cifar(name, str(root))
    if check_md5:
        sums = [(f, md5) for f, md5 in cls.train_list + cls.test_list]
        _verify(name, root / cls.base_folder, [*sums, (cls.meta["filename"], cls.meta["md5"])])
    reader = _unverified(
        cls,
        train_list=[[f, None] for f, _ in cls.train_list],
        test_list=[[f, None] for f, _ in cls.test_list],
        meta={**cls.meta, "md5": None},
    )
    train, test = reader(str(root), train=True), reader(str(root), train=False)
    # torchvision keeps HWC arrays; the fast path wants CHW
    return root, train, test, train.data.transpose(0, 3, 1, 2), test.data.transpose(0, 3, 1, 2)


def load_cifar10(root: str, download: bool = False, check_md5: bool = True) -> ImageSet:
    """CIFAR-10 from `root`/cifar-10-batches-py (the python pickles), through torchvision."""
    _, train, test, train_x, test_x = _read_cifar(
        datasets.CIFAR10, "CIFAR-10", root, download, check_md5
    )
    return _as_set("cifar10", train_x, train.targets, test_x, test.targets, train.classes)


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


def load_cifar100(root: str, download: bool = False, check_md5: bool = True) -> ImageSet:
    """CIFAR-100 from `root`/cifar-100-python, with each fine class's coarse superclass."""
    path, train, test, train_x, test_x = _read_cifar(
        datasets.CIFAR100, "CIFAR-100", root, download, check_md5
    )
    folder = path / datasets.CIFAR100.base_folder
    # torchvision keeps only the fine labels; the coarse ones sit beside them in the same pickles
    fine = np.concatenate([train.targets, test.targets])
    coarse = np.concatenate(
        [_unpickle(folder / "train")["coarse_labels"], _unpickle(folder / "test")["coarse_labels"]]
    )
    coarse_names = list(_unpickle(folder / "meta")["coarse_label_names"])
    return _as_set(
        "cifar100",
        train_x,
        train.targets,
        test_x,
        test.targets,
        train.classes,
        superclass_of=superclass_map(fine, coarse, len(train.classes)),
        superclass_names=coarse_names,
    )


# ---------------------------------------------------------------- SVHN


def load_svhn(root: str, download: bool = False, check_md5: bool = True) -> ImageSet:
    """SVHN's train_32x32.mat and test_32x32.mat from `root`, through torchvision (0 for '10')."""
    path = Path(root).expanduser().resolve()
    cls = datasets.SVHN
    if download:
        for split in ("train", "test"):
            _download("SVHN", path, lambda s=split: cls(str(path), split=s, download=True))
    splits = {s: cls.split_list[s] for s in ("train", "test")}
    locate_svhn(str(path))
    if check_md5:
        _verify("SVHN", path, [(v[1], v[2]) for v in splits.values()])
    reader = _unverified(
        cls, split_list={**cls.split_list, **{s: [v[0], v[1], None] for s, v in splits.items()}}
    )
    train, test = reader(str(path), split="train"), reader(str(path), split="test")
    return _as_set(
        "svhn", train.data, train.labels, test.data, test.labels, [str(d) for d in range(10)]
    )


# ---------------------------------------------------------------- MNIST (Fashion-MNIST: fashion_mnist.py)


def _read_idx(cls, name: str, root: str, download: bool) -> ImageSet:
    path = Path(root).expanduser().resolve()
    if download:
        _download(name, path, lambda: cls(str(path), train=True, download=True))
    raw = path / cls.__name__ / "raw"
    locate_idx(name, cls.__name__, str(path))
    files = [Path(f).stem for f, _ in cls.resources]  # torchvision reads the unpacked IDX files
    for f in files:  # a copy of the .gz files is as good: unpack them where torchvision looks
        if not (raw / f).is_file() and (raw / f"{f}.gz").is_file():
            extract_archive(str(raw / f"{f}.gz"), str(raw))
    train, test = cls(str(path), train=True), cls(str(path), train=False)
    return _as_set(
        name.lower().replace("-", "_"),
        train.data[:, None],
        train.targets,
        test.data[:, None],
        test.targets,
        train.classes,
    )


def load_mnist(root: str, download: bool = False, check_md5: bool = True) -> ImageSet:
    """MNIST from `root`/MNIST/raw (IDX files), through torchvision."""
    return _read_idx(datasets.MNIST, "MNIST", root, download)
