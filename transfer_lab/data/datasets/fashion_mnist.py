"""Fashion-MNIST from wherever a copy of Zalando's four IDX files lies, checked against their sums.

A copy is looked for in this order: torchvision's layout under `root` (`FashionMNIST/raw/`, what
`download=true` writes), the files flat in `root` itself, then Debian's `dataset-fashion-mnist`
folder (`/usr/share/datasets/fashion-mnist/`, flat `.gz`). Each file may be raw or gzipped. A
folder that holds some of the four files but not all is an error naming those it lacks, never
passed over for the next place. Debian recompresses the `.gz` files (their bytes, and so the
sums of the `.gz`, differ from Zalando's), so the check is on the uncompressed bytes, against
the sums published for the raw files; the pixels are the same whichever copy is read.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from transfer_lab.data.datasets import idx
from transfer_lab.data.datasets.fetch import download as fetch_into
from transfer_lab.data.datasets.registry import MissingFiles, register_dataset
from transfer_lab.errors import UserError

log = logging.getLogger(__name__)

DEBIAN_FOLDER = "/usr/share/datasets/fashion-mnist"  # Debian's dataset-fashion-mnist
FILES = idx.IDX_FILES
SMALLEST_CLASS = 6000  # every class has 6,000 training images
HOW = (
    "install Debian's copy with `make fashion-data` (apt-get install dataset-fashion-mnist), "
    "or put the four IDX files (raw or .gz) in a folder"
)
# MD5 of each uncompressed file, as published with the dataset's raw IDX files.
RAW_MD5 = {
    "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
}


def folders(root: str | Path, system_root: str | Path | None) -> list[Path]:
    """Where a Fashion-MNIST copy may be, in the order it is looked for."""
    root = Path(root).expanduser().resolve()
    found = [root / "FashionMNIST" / "raw", root]
    if system_root:
        found.append(Path(system_root))
    return found


def find_copy(root: str | Path, system_root: str | Path | None = DEBIAN_FOLDER) -> list[Path]:
    """The first copy's four files, `MissingFiles` naming what a partial copy lacks, or, when
    there is none, naming every place looked in."""
    places = folders(root, system_root)
    for folder in places:
        found = idx.files_in(folder, "Fashion-MNIST", HOW)
        if found is not None:
            return found
    where = ", ".join(str(f) for f in places[:-1]) + f" or {places[-1]}"
    raise MissingFiles("Fashion-MNIST", where, ["its four IDX files"], HOW, True)


def locate_fashion(root: str, system_root: str | None = DEBIAN_FOLDER, **_) -> list[Path]:
    return find_copy(root, system_root)


def survey_fashion(files: list[Path], **_):
    return idx.check_headers(files, classes=10, smallest=SMALLEST_CLASS)


@register_dataset(
    "Fashion-MNIST",
    locate=locate_fashion,
    classes=10,
    smallest_class=SMALLEST_CLASS,
    survey=survey_fashion,
    shape=(1, 28, 28),
)
def load_fashion_mnist(
    root: str,
    download: bool = False,
    check_md5: bool = True,
    system_root: str | None = DEBIAN_FOLDER,
):
    """Fashion-MNIST's 60,000 training and 10,000 test images (28×28 grey) from the first copy
    found (see the module's docstring); `download=true` lets torchvision fetch one into `root`."""
    from torchvision import datasets

    from transfer_lab.data.images import as_image_set

    if download:
        path = Path(root).expanduser().resolve()
        cls = datasets.FashionMNIST
        fetch_into("Fashion-MNIST", path, lambda: cls(str(path), train=True, download=True))
    files = find_copy(root, system_root)
    idx.check_headers(files, classes=10, smallest=SMALLEST_CLASS)  # before hashing 30 MB
    arrays = []
    for name, path in zip(FILES, files, strict=True):
        content = idx.read_bytes(path)
        if check_md5 and hashlib.md5(content).hexdigest() != RAW_MD5[name]:
            raise UserError(
                f"{path} does not match the published MD5 sum of {name}; replace it with a "
                f"fresh copy (`make fashion-data`), or set data.check_md5=false if this copy "
                f"is meant to differ."
            )
        arrays.append(idx.parse_idx(content, path, 3 if "images" in name else 1))
    train_x, train_y, test_x, test_y = arrays
    log.info(
        "Fashion-MNIST: MD5 sums %s", "match" if check_md5 else "not checked (data.check_md5=false)"
    )
    return as_image_set(
        "fashion_mnist",
        train_x[:, None],
        train_y,
        test_x[:, None],
        test_y,
        datasets.FashionMNIST.classes,
    )
