"""scikit-learn's bundled digits: 1,797 real 8×8 handwritten digits, the offline default."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits as _sklearn_digits

from transfer_lab.data.images import ImageSet
from transfer_lab.data.splits import stratified_carve

TEST_FRACTION = 0.25
TEST_SPLIT_SEED = 20_140_000  # fixed: the test set must not move with the split seed


def load_digits(root: str | None = None, download: bool = False) -> ImageSet:
    """Digits as uint8 1×8×8 images (0..16 scaled to 0..255) with a fixed stratified test part.

    The data ships inside scikit-learn, so `root` and `download` are accepted and ignored.
    """
    bunch = _sklearn_digits()
    images = np.clip(bunch.images * 16, 0, 255).astype(np.uint8)[:, None]
    labels = bunch.target.astype(np.int64)
    train, test = stratified_carve(labels, TEST_FRACTION, TEST_SPLIT_SEED, "digits-test")
    return ImageSet(
        name="digits",
        train_images=torch.from_numpy(images[train]),
        train_labels=torch.from_numpy(labels[train]),
        test_images=torch.from_numpy(images[test]),
        test_labels=torch.from_numpy(labels[test]),
        class_names=[str(d) for d in range(10)],
    )
