"""The IDX format of MNIST and Fashion-MNIST (four files, each raw or gzipped): where a copy's
files are, their headers and sizes checked without reading the images, and the arrays parsed."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from transfer_lab.data.datasets.registry import Classes, MissingFiles
from transfer_lab.errors import UserError

IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def _dims(name: str) -> int:
    return 3 if "images" in name else 1


def files_in(folder: Path, title: str, how: str) -> list[Path] | None:
    """The four files in `folder` (each raw, else .gz); None when none of them is there, and
    `MissingFiles` naming what lacks when only some are (a partial copy is never skipped)."""
    found, missing, seen = [], [], False
    for name in IDX_FILES:
        raw, packed = folder / name, folder / f"{name}.gz"
        seen = seen or raw.exists() or packed.exists()
        if raw.is_file() or packed.is_file():
            found.append(raw if raw.is_file() else packed)
        elif raw.is_dir() or packed.is_dir():
            missing.append(f"{name} (a folder stands in its place)")
        else:
            missing.append(name)
    if not seen:
        return None
    if missing:
        raise MissingFiles(title, folder, missing, how, True)
    return found


def header(path: Path) -> tuple[tuple[int, ...], int]:
    """An IDX file's array shape (from its header) and the bytes its content has: the file's
    size when raw, the size gzip records in its last four bytes (mod 2**32) when packed."""
    dims = _dims(path.name)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            head = handle.read(4 + 4 * dims)
        if path.suffix == ".gz":
            with open(path, "rb") as handle:
                handle.seek(-4, 2)
                size = struct.unpack("<I", handle.read(4))[0]
        else:
            size = path.stat().st_size
    except (OSError, EOFError) as error:
        raise UserError(
            f"{path} cannot be read ({error}); replace it with a fresh copy."
        ) from error
    if len(head) < 4 + 4 * dims or head[:4] != bytes([0, 0, 8, dims]):
        raise UserError(
            f"{path} is not a {dims}-D unsigned-byte IDX file; replace it with a fresh copy."
        )
    return struct.unpack(f">{dims}I", head[4:]), size


def check_headers(files: list[Path], classes: int, smallest: int | None, **_) -> Classes:
    """Each file's header and size agree, and images and labels pair up: a damaged or cut copy
    is refused in well under a second, before 30 MB are read and hashed."""
    shapes = []
    for path in files:
        shape, size = header(path)
        promised = 4 + 4 * len(shape) + int(np.prod(shape))
        if path.suffix == ".gz":
            promised %= 2**32  # gzip keeps the size modulo 2**32
        if size != promised:
            raise UserError(
                f"{path} holds {size - 4 - 4 * len(shape)} values where its header promises "
                f"{shape}; the file is truncated, replace it with a fresh copy."
            )
        shapes.append(shape)
    for images, labels, part in ((0, 1, "training"), (2, 3, "test")):
        if shapes[images][0] != shapes[labels][0]:
            raise UserError(
                f"{files[images]} holds {shapes[images][0]} {part} images but {files[labels]} "
                f"{shapes[labels][0]} labels; replace them with a matching copy."
            )
    return Classes(classes, smallest)


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


def read_arrays(files: list[Path]) -> list[np.ndarray]:
    """Training images, training labels, test images, test labels."""
    return [parse_idx(read_bytes(p), p, _dims(n)) for n, p in zip(IDX_FILES, files, strict=True)]
