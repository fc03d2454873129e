"""CIFAR-10: the python pickles in `<root>/cifar-10-batches-py`, 10 classes of 32×32 colour
(5,000 training images each), read without running any code the files name.

CIFAR's files are pickles, and a pickle can call any function it names. torchvision's reader
unpickles them as they come, so a file planted in a shared data folder would run its code; here
they are read by `CifarUnpickler`, which rebuilds only what CIFAR holds (dicts, lists, strings
and numpy arrays) and refuses any other name in one sentence. torchvision still gives the
layout: the folder, the files, their MD5 sums and the download.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from transfer_lab.data.datasets.fetch import download as fetch_into
from transfer_lab.data.datasets.fetch import verify
from transfer_lab.data.datasets.registry import register_dataset, require
from transfer_lab.errors import UserError

# torchvision's layouts (tests/test_datasets.py checks them against torchvision's classes)
CIFAR = {
    "CIFAR-10": (
        "cifar-10-batches-py",
        "cifar-10-python.tar.gz",
        [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta"],
    ),
    "CIFAR-100": ("cifar-100-python", "cifar-100-python.tar.gz", ["train", "test", "meta"]),
}


def _latin1_bytes(text: str, encoding: str) -> bytes:
    """What a protocol-2 pickle calls to rebuild a `bytes` (`_codecs.encode(text, "latin1")`)."""
    if encoding != "latin1":
        raise pickle.UnpicklingError(f"_codecs.encode with {encoding!r}")
    return text.encode("latin1")


# numpy's own rebuilder, whichever module holds it (numpy.core before 2.0, numpy._core since)
_RECONSTRUCT = np.zeros(1).__reduce__()[0]

# every global a CIFAR batch names: python-2 originals and tests/formats.py's copies alike
CIFAR_GLOBALS = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("_codecs", "encode"): _latin1_bytes,
}


class CifarUnpickler(pickle.Unpickler):
    """An unpickler that finds only the globals of `CIFAR_GLOBALS`: a pickle naming any other
    (os.system, a class with a `__reduce__`) is refused before anything of it runs."""

    def find_class(self, module: str, name: str):
        if (module, name) not in CIFAR_GLOBALS:
            raise pickle.UnpicklingError(f"{module}.{name}")
        return CIFAR_GLOBALS[(module, name)]


def read_batch(path: Path) -> dict:
    """One CIFAR pickle as a dict with str keys (latin-1, as torchvision reads the python-2
    originals), or one sentence if it names anything but numpy's arrays."""
    try:
        with open(path, "rb") as handle:
            entry = CifarUnpickler(handle, encoding="latin1").load()
    except pickle.UnpicklingError as error:
        raise UserError(
            f"{path} is not a CIFAR batch: its pickle calls {error}, which CIFAR's files never "
            f"do, so it was not read; replace it with a fresh copy of the python version "
            f"(someone who can write this folder may have planted it)."
        ) from None
    if not isinstance(entry, dict):
        raise UserError(
            f"{path} is not a CIFAR batch (it holds a {type(entry).__name__}, not a dict); "
            f"replace it with a fresh copy of the python version."
        )
    return entry


def locate_cifar(dataset: str, root: str) -> list[Path]:
    """CIFAR-10's or CIFAR-100's python pickles under `root`."""
    folder, archive, files = CIFAR[dataset]
    path = Path(root).expanduser().resolve() / folder
    how = f"extract the python version ({archive}) so that {folder}/ sits in a folder"
    return require(dataset, path, files, how)


def _fetch(cls, root: Path) -> None:
    """torchvision's archive, fetched and extracted (its MD5 checked), unless the files are
    already there with their published sums; torchvision's reader is never run."""
    from torchvision.datasets.utils import check_integrity, download_and_extract_archive

    folder = root / cls.base_folder
    sums = [*cls.train_list, *cls.test_list, [cls.meta["filename"], cls.meta["md5"]]]
    if all(check_integrity(str(folder / f), md5) for f, md5 in sums):
        return
    download_and_extract_archive(cls.url, str(root), filename=cls.filename, md5=cls.tgz_md5)


def read_cifar(cls, name: str, root: str, download: bool, check_md5: bool):
    """The train and test batches of CIFAR-10 or -100 (torchvision's `cls` names the files) and
    the meta entry: (train entries, test entries, meta)."""
    root = Path(root).expanduser().resolve()
    if download:
        fetch_into(name, root, lambda: _fetch(cls, root))
    locate_cifar(name, str(root))
    folder = root / cls.base_folder
    if check_md5:
        sums = [(f, md5) for f, md5 in cls.train_list + cls.test_list]
        verify(name, folder, [*sums, (cls.meta["filename"], cls.meta["md5"])])
    train = [read_batch(folder / f) for f, _ in cls.train_list]
    test = [read_batch(folder / f) for f, _ in cls.test_list]
    return train, test, read_batch(folder / cls.meta["filename"])


def column(entries: list[dict], key: str) -> np.ndarray:
    """One key of every batch, joined: the images as uint8 N×3×32×32 (each row holds the red,
    green and blue planes in turn), any other key as int64."""
    try:
        if key == "data":
            rows = np.vstack([np.asarray(e["data"], dtype=np.uint8) for e in entries])
            return rows.reshape(-1, 3, 32, 32)
        return np.concatenate([np.asarray(e[key], dtype=np.int64) for e in entries])
    except (KeyError, TypeError, ValueError) as error:
        raise UserError(
            f"the CIFAR batches under data.root hold no usable {key!r} "
            f"({type(error).__name__}: {error}); replace them with a fresh copy of the python "
            f"version."
        ) from None


def names(meta: dict, key: str) -> list[str]:
    """The class names a meta entry lists under `key`."""
    if not isinstance(meta.get(key), list):
        raise UserError(
            f"CIFAR's meta file holds no list {key!r}; replace it with a fresh copy of the "
            f"python version."
        )
    return [str(n) for n in meta[key]]


@register_dataset(
    "CIFAR-10",
    locate=lambda root, **_: locate_cifar("CIFAR-10", root),
    classes=10,
    smallest_class=5000,
    shape=(3, 32, 32),
)
def load_cifar10(root: str, download: bool = False, check_md5: bool = True):
    """CIFAR-10 from `root`/cifar-10-batches-py (the python pickles), in torchvision's layout."""
    from torchvision import datasets

    from transfer_lab.data.images import as_image_set

    cls = datasets.CIFAR10
    train, test, meta = read_cifar(cls, "CIFAR-10", root, download, check_md5)
    return as_image_set(
        "cifar10",
        column(train, "data"),
        column(train, "labels"),
        column(test, "data"),
        column(test, "labels"),
        names(meta, cls.meta["key"]),
    )
