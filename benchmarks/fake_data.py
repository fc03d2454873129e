"""Full-size datasets in their real on-disk formats, of random pixels, for timing what reads them.

The readers and the planning cost what the files' sizes and formats make them cost, not what
the pixels show; a bench on a machine without the real files uses these.
"""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np


def _labels(classes: int, per_class: int, rng: np.random.Generator) -> np.ndarray:
    return rng.permutation(np.repeat(np.arange(classes), per_class))


def write_cifar100_tree(root: Path, train_per_class: int = 500, test_per_class: int = 100) -> Path:
    """root/cifar-100-python/{train,test,meta}: CIFAR-100's python pickles (50,000 + 10,000
    images at the defaults), fine and coarse labels, each fine class in one superclass."""
    rng = np.random.default_rng(0)
    folder = Path(root) / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    coarse_of = rng.permutation(np.repeat(np.arange(20), 5))
    for name, per_class in (("train", train_per_class), ("test", test_per_class)):
        fine = _labels(100, per_class, rng)
        entry = {
            "filenames": [f"{name}_{i}.png" for i in range(len(fine))],
            "batch_label": f"{name} batch",
            "fine_labels": fine.tolist(),
            "coarse_labels": coarse_of[fine].tolist(),
            "data": rng.integers(0, 256, (len(fine), 3 * 32 * 32), dtype=np.uint8),
        }
        with open(folder / name, "wb") as handle:
            pickle.dump(entry, handle)
    meta = {
        "fine_label_names": [f"fine_{c:02d}" for c in range(100)],
        "coarse_label_names": [f"coarse_{c:02d}" for c in range(20)],
    }
    with open(folder / "meta", "wb") as handle:
        pickle.dump(meta, handle)
    return folder


def _idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def write_fashion_tree(root: Path, train_per_class: int = 6000, test_per_class: int = 1000) -> Path:
    """root/: Fashion-MNIST's four raw IDX files (60,000 + 10,000 images at the defaults); read
    it with data.root=root and data.check_md5=false."""
    rng = np.random.default_rng(0)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for prefix, per_class in (("train", train_per_class), ("t10k", test_per_class)):
        labels = _labels(10, per_class, rng)
        images = rng.integers(0, 256, (len(labels), 28, 28), dtype=np.uint8)
        _idx(root / f"{prefix}-images-idx3-ubyte", images)
        _idx(root / f"{prefix}-labels-idx1-ubyte", labels)
    return root
