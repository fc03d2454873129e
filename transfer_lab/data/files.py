"""Where each reader's files must lie, found or refused without reading them or importing torch.

The readers call these functions before they read, and the pre-flight calls them once per
distinct dataset of a sweep, so missing data is one sentence before anything starts, not one
failure per job.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from transfer_lab.errors import UserError

DEBIAN_FASHION = "/usr/share/datasets/fashion-mnist"  # Debian's dataset-fashion-mnist
FASHION_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
FASHION_HOW = (
    "install Debian's copy with `make fashion-data` (apt-get install dataset-fashion-mnist), "
    "or put the four IDX files (raw or .gz) in a folder"
)
# torchvision's layouts (tests/test_datasets.py checks them against torchvision's classes)
CIFAR = {
    "CIFAR-10": (
        "cifar-10-batches-py",
        "cifar-10-python.tar.gz",
        [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta"],
    ),
    "CIFAR-100": ("cifar-100-python", "cifar-100-python.tar.gz", ["train", "test", "meta"]),
}
SVHN_FILES = ["train_32x32.mat", "test_32x32.mat"]
MNIST_FILES = list(FASHION_FILES)  # MNIST and Fashion-MNIST share the IDX file names


class MissingFiles(UserError):
    """A dataset's files are not where the config says; the message is finished by the caller."""

    def __init__(
        self, dataset: str, root: Path | str, missing: list[str], how: str, downloadable: bool
    ):
        self.dataset, self.root, self.missing = dataset, root, missing
        self.how, self.downloadable = how, downloadable
        super().__init__(self.sentence("data"))

    def sentence(self, key: str) -> str:
        shown = ", ".join(self.missing[:4]) + (
            f" and {len(self.missing) - 4} more" if len(self.missing) > 4 else ""
        )
        fix = f"{self.how} and point {key}.root at it ({key}.root=PATH)"
        if self.downloadable:
            fix += f", or let torchvision fetch it with {key}.download=true"
        return f"{self.dataset} is missing {shown} under {self.root}; {fix}."


def require(dataset: str, root: Path, files: list[str], how: str) -> list[Path]:
    """The files under `root`, or `MissingFiles` naming those absent (all downloadable)."""
    missing = [f for f in files if not (root / f).is_file()]
    if missing:
        raise MissingFiles(dataset, root, missing, how, True)
    return [root / f for f in files]


def locate_cifar(dataset: str, root: str) -> list[Path]:
    """CIFAR-10's or CIFAR-100's python pickles under `root`."""
    folder, archive, files = CIFAR[dataset]
    path = Path(root).expanduser().resolve() / folder
    how = f"extract the python version ({archive}) so that {folder}/ sits in a folder"
    return require(dataset, path, files, how)


def locate_svhn(root: str) -> list[Path]:
    path = Path(root).expanduser().resolve()
    how = "put train_32x32.mat and test_32x32.mat (the cropped-digits format) in a folder"
    return require("SVHN", path, SVHN_FILES, how)


def locate_idx(name: str, folder_name: str, root: str) -> list[Path]:
    """torchvision's `<root>/<Name>/raw/` with the four IDX files, each raw or .gz."""
    raw = Path(root).expanduser().resolve() / folder_name / "raw"
    found = [raw / f if (raw / f).is_file() else raw / f"{f}.gz" for f in MNIST_FILES]
    missing = [p.name.removesuffix(".gz") for p in found if not p.is_file()]
    if missing:
        how = f"put the four IDX files (raw or .gz) in {folder_name}/raw/ inside a folder"
        raise MissingFiles(name, raw, missing, how, True)
    return found


def fashion_folders(root: str | Path, system_root: str | Path | None) -> list[Path]:
    """Where a Fashion-MNIST copy may be, in the order it is looked for."""
    root = Path(root).expanduser().resolve()
    folders = [root / "FashionMNIST" / "raw", root]
    if system_root:
        folders.append(Path(system_root))
    return folders


def fashion_files_in(folder: Path) -> list[Path] | None:
    """The four files in `folder` (each raw, else .gz), or None unless all four are there."""
    found = []
    for name in FASHION_FILES:
        raw, packed = folder / name, folder / f"{name}.gz"
        if raw.is_file():
            found.append(raw)
        elif packed.is_file():
            found.append(packed)
        else:
            return None
    return found


def find_fashion_copy(root: str | Path, system_root: str | Path | None) -> list[Path]:
    """The first complete copy's four files, or `MissingFiles` naming every place looked in."""
    folders = fashion_folders(root, system_root)
    for folder in folders:
        found = fashion_files_in(folder)
        if found is not None:
            return found
    places = ", ".join(str(f) for f in folders[:-1]) + f" or {folders[-1]}"
    raise MissingFiles("Fashion-MNIST", places, ["its four IDX files"], FASHION_HOW, True)


def locate_image_folder(root: str, train_dir: str, test_dir: str, name: str) -> list[Path]:
    """An ImageFolder tree: class folders under both `train_dir` and `test_dir`."""
    path = Path(root).expanduser().resolve()
    missing = [
        f"{d}/<class>/"
        for d in (train_dir, test_dir)
        if not (path / d).is_dir() or not any(p.is_dir() for p in (path / d).iterdir())
    ]
    if missing:
        how = (
            f"lay the images out as {train_dir}/<class>/*.JPEG and {test_dir}/<class>/*.JPEG "
            f"(ImageNet cannot be downloaded automatically)"
        )
        raise MissingFiles(name, path, missing, how, downloadable=False)
    return [path / train_dir, path / test_dir]


def _fashion(root, system_root=DEBIAN_FASHION, **_):
    return find_fashion_copy(root, system_root)


def _image_folder(root, train_dir="train", test_dir="val", name="imagefolder", **_):
    return locate_image_folder(root, train_dir, test_dir, name)


# Each reader of the package (by its `_target_`) and how its files are found from its keywords.
LOCATE = {
    "transfer_lab.data.readers.load_cifar10": lambda root, **_: locate_cifar("CIFAR-10", root),
    "transfer_lab.data.readers.load_cifar100": lambda root, **_: locate_cifar("CIFAR-100", root),
    "transfer_lab.data.readers.load_svhn": lambda root, **_: locate_svhn(root),
    "transfer_lab.data.readers.load_mnist": lambda root, **_: locate_idx("MNIST", "MNIST", root),
    "transfer_lab.data.fashion_mnist.load_fashion_mnist": _fashion,
    "transfer_lab.data.folder.load_image_folder": _image_folder,
}


def reader_arguments(data: Any, parent: Any = None) -> tuple[str, dict[str, Any]]:
    """A dataset config's reader `_target_` and the keywords `load_images` calls it with."""
    from omegaconf import OmegaConf

    reader = OmegaConf.to_container(data.reader, resolve=True)
    target = reader.pop("_target_")
    kwargs: dict[str, Any] = {"root": data.root, "download": bool(data.download)}
    check_md5 = data.get("check_md5", parent.get("check_md5") if parent is not None else None)
    if check_md5 is not None:
        kwargs["check_md5"] = bool(check_md5)
    return target, {**reader, **kwargs}


def datasets_of(cfg: Any) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """A job's datasets, each as (config key, reader, keywords), keyed by what tells them apart."""
    specs = [("data", cfg.data, None)]
    if cfg.data.get("target") is not None:
        specs.append(("data.target", cfg.data.target, cfg.data))
    found = {}
    for key, data, parent in specs:
        target, kwargs = reader_arguments(data, parent)
        found[json.dumps([target, kwargs], sort_keys=True, default=str)] = (key, target, kwargs)
    return found


def missing_sentence(key: str, target: str, kwargs: dict[str, Any]) -> str | None:
    """The sentence for a dataset whose files are not there, or None (there, to be downloaded, or
    a reader this module does not know, which says so itself when it runs)."""
    locate = LOCATE.get(target)
    if locate is None or kwargs.get("download"):
        return None
    try:
        locate(**kwargs)
    except MissingFiles as missing:
        return missing.sentence(key)
    return None


def files_stamp(target: str, kwargs: dict[str, Any]) -> tuple | None:
    """What a reader of this module would read, each file's size and time (None: a reader it
    does not know, a download asked for, or files missing), so a process reads them once."""
    locate = LOCATE.get(target)
    if locate is None or kwargs.get("download"):
        return None
    try:
        found = locate(**kwargs)
    except MissingFiles:
        return None
    return tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in found)
