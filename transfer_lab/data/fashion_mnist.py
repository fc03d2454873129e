"""Fashion-MNIST from wherever a copy of Zalando's four IDX files lies, checked against their sums.

A copy is looked for in this order: torchvision's layout under `root` (`FashionMNIST/raw/`, what
`download=true` writes), the files flat in `root` itself, then Debian's `dataset-fashion-mnist`
folder (`/usr/share/datasets/fashion-mnist/`, flat `.gz`). Each file may be raw or gzipped.
Debian recompresses the `.gz` files (their bytes, and so the sums of the `.gz`, differ from
Zalando's), so the check is on the uncompressed bytes, against the sums published for the raw
files; the pixels are the same whichever copy is read.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
from pathlib import Path

import numpy as np
from torchvision import datasets

from transfer_lab.data.files import DEBIAN_FASHION, FASHION_FILES, MissingFiles, find_fashion_copy
from transfer_lab.data.images import ImageSet
from transfer_lab.data.readers import _as_set, _download
from transfer_lab.errors import UserError

log = logging.getLogger(__name__)

DEBIAN_FOLDER = DEBIAN_FASHION
# MD5 of each uncompressed file, as published with the dataset's raw IDX files.
RAW_MD5 = {
    "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
}
FILES = FASHION_FILES
find_copy = find_fashion_copy  # where a copy is, found without reading it (data/files.py)


def read_bytes(path: Path) -> bytes:
    """A file's uncompressed content; a damaged .gz becomes one sentence."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                return handle.read()
        return path.read_bytes()
    except (OSError, EOFError) as error:
        raise UserError(
            f"{path} cannot be read ({error}); replace it with a fresh copy "
            f"(`make fashion-data`, or data.download=true)."
        ) from error


def parse_idx(content: bytes, path: Path, dims: int) -> np.ndarray:
    """An unsigned-byte IDX array (the MNIST format): 0, 0, type 0x08, rank, sizes, data."""
    if len(content) < 4 + 4 * dims or content[:4] != bytes([0, 0, 8, dims]):
        raise UserError(
            f"{path} is not a {dims}-D unsigned-byte IDX file; replace it with a fresh copy."
        )
    shape = tuple(int.from_bytes(content[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    data = np.frombuffer(bytearray(content), dtype=np.uint8, offset=4 + 4 * dims)  # writable
    if data.size != int(np.prod(shape)):
        raise UserError(
            f"{path} holds {data.size} values where its header promises {shape}; "
            f"the file is truncated, replace it with a fresh copy."
        )
    return data.reshape(shape)


def load_fashion_mnist(
    root: str,
    download: bool = False,
    check_md5: bool = True,
    system_root: str | None = DEBIAN_FOLDER,
) -> ImageSet:
    """Fashion-MNIST's 60,000 training and 10,000 test images (28×28 grey) from the first copy
    found (see the module's docstring); `download=true` lets torchvision fetch one into `root`."""
    if download:
        path = Path(root).expanduser().resolve()
        cls = datasets.FashionMNIST
        _download("Fashion-MNIST", path, lambda: cls(str(path), train=True, download=True))
    files = find_copy(root, system_root)
    arrays = []
    for name, path in zip(FILES, files, strict=True):
        content = read_bytes(path)
        if check_md5 and hashlib.md5(content).hexdigest() != RAW_MD5[name]:
            raise UserError(
                f"{path} does not match the published MD5 sum of {name}; replace it with a "
                f"fresh copy (`make fashion-data`), or set data.check_md5=false if this copy "
                f"is meant to differ."
            )
        arrays.append(parse_idx(content, path, 3 if "images" in name else 1))
    train_x, train_y, test_x, test_y = arrays
    log.info(
        "Fashion-MNIST: read %s%s",
        ", ".join(str(p) for p in files),
        " (MD5 sums match)" if check_md5 else " (MD5 not checked)",
    )
    return _as_set(
        "fashion_mnist",
        train_x[:, None],
        train_y,
        test_x[:, None],
        test_y,
        datasets.FashionMNIST.classes,
    )


def stamp(
    root: str, download: bool = False, check_md5: bool = True, system_root=DEBIAN_FOLDER, **_
):
    """What `load_fashion_mnist` would read, with each file's size and time, so one process reads
    a copy once; None (no caching) while a download is asked for or no copy is there."""
    if download:
        return None
    try:
        files = find_copy(root, system_root)
    except MissingFiles:
        return None
    return tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files), check_md5


load_fashion_mnist.stamp = stamp  # read_once in data/loading.py reads a copy once per process
