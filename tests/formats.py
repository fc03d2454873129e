"""Tiny datasets written in each dataset's real on-disk format, for the real readers to read.

Images are random noise with a per-class brightness offset, so a network can learn something.
"""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np

CIFAR100_SUPERCLASSES = [
    "aquatic_mammals",
    "fish",
    "flowers",
    "food_containers",
    "fruit_and_vegetables",
    "household_electrical_devices",
    "household_furniture",
    "insects",
    "large_carnivores",
    "large_man-made_outdoor_things",
    "large_natural_outdoor_scenes",
    "large_omnivores_and_herbivores",
    "medium_mammals",
    "non-insect_invertebrates",
    "people",
    "reptiles",
    "small_mammals",
    "trees",
    "vehicles_1",
    "vehicles_2",
]


def class_images(
    labels: np.ndarray, shape: tuple[int, ...], num_classes: int, seed: int
) -> np.ndarray:
    """uint8 noise images whose mean brightness depends on the class."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 128, size=(len(labels), *shape))
    offset = (labels * (127 // max(num_classes - 1, 1))).reshape(-1, *[1] * len(shape))
    return (noise + offset).astype(np.uint8)


def balanced_labels(num_classes: int, per_class: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).permutation(np.repeat(np.arange(num_classes), per_class))


def _dump(path: Path, entry: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        pickle.dump(entry, handle, protocol=2)  # str keys, as the python-2 originals load


def write_cifar10(
    root: Path, train_per_class: int = 10, test_per_class: int = 4, seed: int = 0
) -> Path:
    """root/cifar-10-batches-py: data_batch_1..5, test_batch, batches.meta (N×3072 uint8 rows)."""
    folder = Path(root) / "cifar-10-batches-py"
    labels = balanced_labels(10, train_per_class, seed)
    data = class_images(labels, (3, 32, 32), 10, seed).reshape(len(labels), -1)
    for i, part in enumerate(np.array_split(np.arange(len(labels)), 5), start=1):
        _dump(
            folder / f"data_batch_{i}",
            {
                "batch_label": f"training batch {i} of 5",
                "labels": labels[part].tolist(),
                "data": data[part],
                "filenames": [f"img_{j}.png" for j in part],
            },
        )
    test = balanced_labels(10, test_per_class, seed + 1)
    _dump(
        folder / "test_batch",
        {
            "batch_label": "testing batch 1 of 1",
            "labels": test.tolist(),
            "data": class_images(test, (3, 32, 32), 10, seed + 1).reshape(len(test), -1),
            "filenames": [f"test_{j}.png" for j in range(len(test))],
        },
    )
    names = [
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ]
    _dump(
        folder / "batches.meta",
        {"label_names": names, "num_cases_per_batch": len(labels) // 5, "num_vis": 3072},
    )
    return folder


def cifar100_superclass_of(seed: int = 0) -> np.ndarray:
    """A shuffled assignment of the 100 fine classes to the 20 superclasses, 5 each."""
    return np.random.default_rng(seed).permutation(np.repeat(np.arange(20), 5))


def write_cifar100(
    root: Path,
    train_per_class: int = 5,
    test_per_class: int = 2,
    seed: int = 0,
    superclass_of: np.ndarray | None = None,
) -> Path:
    """root/cifar-100-python: train, test, meta with fine and coarse labels."""
    folder = Path(root) / "cifar-100-python"
    coarse_of = cifar100_superclass_of(seed) if superclass_of is None else superclass_of
    for name, per_class, s in (
        ("train", train_per_class, seed),
        ("test", test_per_class, seed + 1),
    ):
        fine = balanced_labels(100, per_class, s)
        _dump(
            folder / name,
            {
                "filenames": [f"{name}_{j}.png" for j in range(len(fine))],
                "batch_label": f"{name} batch",
                "fine_labels": fine.tolist(),
                "coarse_labels": coarse_of[fine].tolist(),
                "data": class_images(fine, (3, 32, 32), 100, s).reshape(len(fine), -1),
            },
        )
    _dump(
        folder / "meta",
        {
            "fine_label_names": [f"fine_{c:02d}" for c in range(100)],
            "coarse_label_names": list(CIFAR100_SUPERCLASSES),
        },
    )
    return folder


def _idx(path: Path, array: np.ndarray, compress: bool) -> None:
    """An IDX file: magic (0, 0, type 0x08 = uint8, ndim), big-endian sizes, then the bytes."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    payload = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        with gzip.open(f"{path}.gz", "wb") as handle:
            handle.write(payload)
    else:
        path.write_bytes(payload)


def write_idx_dataset(
    root: Path,
    folder: str = "MNIST",
    train_per_class: int = 10,
    test_per_class: int = 4,
    seed: int = 0,
    compress: bool = False,
) -> Path:
    """root/<folder>/raw: the four IDX files torchvision's MNIST-family classes read."""
    raw = Path(root) / folder / "raw"
    for prefix, per_class, s in (
        ("train", train_per_class, seed),
        ("t10k", test_per_class, seed + 1),
    ):
        labels = balanced_labels(10, per_class, s)
        _idx(raw / f"{prefix}-images-idx3-ubyte", class_images(labels, (28, 28), 10, s), compress)
        _idx(raw / f"{prefix}-labels-idx1-ubyte", labels, compress)
    return raw


def write_svhn(
    root: Path, train_per_class: int = 10, test_per_class: int = 4, seed: int = 0
) -> Path:
    """root/train_32x32.mat and test_32x32.mat: X is 32×32×3×N, y is N×1 with 10 for digit 0."""
    from scipy.io import savemat

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for name, per_class, s in (
        ("train", train_per_class, seed),
        ("test", test_per_class, seed + 1),
    ):
        digits = balanced_labels(10, per_class, s)
        images = class_images(digits, (32, 32, 3), 10, s)  # N×H×W×C
        y = np.where(digits == 0, 10, digits).astype(np.uint8)[:, None]
        savemat(root / f"{name}_32x32.mat", {"X": images.transpose(1, 2, 3, 0), "y": y})
    return root


def write_image_folder(
    root: Path,
    classes: int = 6,
    train_per_class: int = 6,
    val_per_class: int = 2,
    size: tuple[int, int] = (40, 48),
    seed: int = 0,
) -> Path:
    """root/train/<class>/*.JPEG and root/val/<class>/*.JPEG, as ImageNet is usually laid out."""
    from PIL import Image

    root = Path(root)
    for part, per_class, s in (("train", train_per_class, seed), ("val", val_per_class, seed + 1)):
        labels = np.repeat(np.arange(classes), per_class)
        images = class_images(labels, (size[0], size[1], 3), classes, s)
        for j, (label, image) in enumerate(zip(labels, images, strict=True)):
            folder = root / part / f"n{label:08d}"
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(folder / f"{part}_{j}.JPEG", quality=90)
    return root


def write_png_tree(
    root: Path,
    classes: int = 4,
    train_per_class: int = 6,
    test_per_class: int | None = 2,
    size: int = 12,
    grey: bool = True,
    seed: int = 0,
) -> Path:
    """root/train/<class>/*.png (and root/test/<class>/*.png unless `test_per_class` is None):
    a user's own images, as `data=image_folder` reads them."""
    from PIL import Image

    root = Path(root)
    parts = [("train", train_per_class, seed)]
    if test_per_class is not None:
        parts.append(("test", test_per_class, seed + 1))
    for part, per_class, s in parts:
        labels = np.repeat(np.arange(classes), per_class)
        shape = (size, size) if grey else (size, size, 3)
        for j, (label, image) in enumerate(
            zip(labels, class_images(labels, shape, classes, s), strict=True)
        ):
            folder = root / part / f"class_{label}"
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(folder / f"{j}.png")
    return root
