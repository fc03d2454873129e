"""scikit-learn's bundled digits: 1,797 real 8×8 handwritten digits, the offline default."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from transfer_lab.data.datasets.registry import register_dataset
from transfer_lab.data.splits import stratified_carve
from transfer_lab.errors import UserError

TEST_FRACTION = 0.25
TEST_SPLIT_SEED = 20_140_000  # fixed: the test set must not move with the split seed


def resize_uint8(images: np.ndarray, side: int) -> np.ndarray:
    """N×C×h×w uint8 images resized to side×side (bilinear, antialiased when shrinking), uint8."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(images).float()
    x = F.interpolate(
        x,
        size=(side, side),
        mode="bilinear",
        align_corners=False,
        antialias=side < images.shape[-1],
    )
    return x.round_().clamp_(0, 255).to(torch.uint8).numpy()


def bundled(**_) -> list[Path]:
    """The data ships inside scikit-learn: no file of ours to find, a pure function to cache."""
    return []


def digits_shape(image_size: int | None = None, **_) -> tuple[int, int, int]:
    side = 8 if image_size is None else int(image_size)
    return (1, side, side)


@register_dataset("digits", locate=bundled, classes=10, smallest_class=130, shape=digits_shape)
def load_digits(root: str | None = None, download: bool = False, image_size: int | None = None):
    """Digits as uint8 1×8×8 images (0..16 scaled to 0..255) with a fixed stratified test part.

    `image_size` resizes them to image_size×image_size (still uint8), so backbones designed
    for 32×32 or 224×224 inputs can run on them. The data ships inside scikit-learn, so `root`
    and `download` are accepted and ignored.
    """
    import torch
    from sklearn.datasets import load_digits as sklearn_digits

    from transfer_lab.data.images import ImageSet

    bunch = sklearn_digits()
    images = np.clip(bunch.images * 16, 0, 255).astype(np.uint8)[:, None]
    if image_size is not None:
        if int(image_size) < 1:
            raise UserError(f"data.image_size={image_size} is not a size; use null or e.g. 32.")
        images = resize_uint8(images, int(image_size))
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
