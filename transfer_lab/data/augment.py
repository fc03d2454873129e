"""Augmentation as the studies use it, in two forms that draw from the same distribution.

The fast path (`DeviceAugment`) works on a whole uint8 batch where it lives: a random crop of
the zero-padded image and a horizontal flip become one gather, then the per-channel
normalisation. `torchvision_transform` is the same recipe written with torchvision's
per-image transforms, for the DataLoader path and to check the fast path against.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from transfer_lab.data.batches import Normalize
from transfer_lab.errors import UserError


@dataclass(frozen=True)
class Recipe:
    padding: int  # random crop of the image zero-padded by this many pixels (0: none)
    flip: bool  # random horizontal flip with probability 1/2


RECIPES = {
    "none": Recipe(0, False),  # MNIST, Fashion-MNIST, digits
    "cifar": Recipe(4, True),  # crop 32 from 40 (4-pixel zero padding) + horizontal flip
    "svhn": Recipe(4, False),  # the same crop, no flip: digits are not mirror-symmetric
    "flip": Recipe(0, True),
}


def recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise UserError(
            f"data.augment={name!r} is not a known augmentation; use one of {', '.join(RECIPES)}."
        )
    return RECIPES[name]


class DeviceAugment:
    """uint8 N×C×H×W batch → randomly cropped/flipped, normalised float batch, on its device."""

    def __init__(self, mean: list[float], std: list[float], augment: str = "none", seed: int = 0):
        self.recipe = recipe(augment)
        self.normalize = Normalize(mean, std)
        self.generator = torch.Generator().manual_seed(int(seed))

    def reseed(self, seed: int) -> None:
        """Start the draws again from `seed` (DeviceBatches does so per epoch and rank)."""
        self.generator.manual_seed(int(seed))

    def draw(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(dy, dx, flip) per image, from the CPU generator so every device draws the same."""
        span = 2 * self.recipe.padding + 1
        dy = torch.randint(span, (n,), generator=self.generator)
        dx = torch.randint(span, (n,), generator=self.generator)
        flip = (
            (torch.rand(n, generator=self.generator) < 0.5)
            if self.recipe.flip
            else torch.zeros(n, dtype=torch.bool)
        )
        return dy, dx, flip

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if self.recipe == RECIPES["none"]:
            return self.normalize(images)
        return self.normalize(self.crop_flip(images, *self.draw(len(images))))

    def crop_flip(
        self, images: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, flip: torch.Tensor
    ) -> torch.Tensor:
        """Crop H×W at (dy, dx) of the zero-padded images, mirrored where `flip`; still uint8.

        Every output row is a run of W bytes somewhere in [padded; mirrored padded], so the whole
        batch is one `index_select` of rows from an overlapping-window view: no per-pixel index.
        Cropping at dx then mirroring equals mirroring then cropping at 2·padding − dx.
        """
        n, c, h, w = images.shape
        p = self.recipe.padding
        device = images.device
        dy, dx, flip = dy.to(device), dx.to(device), flip.to(device)
        padded = F.pad(images, (p, p, p, p)) if p else images
        hp, wp = h + 2 * p, w + 2 * p
        source = torch.cat([padded, padded.flip(3)]) if bool(flip.any()) else padded
        image = torch.arange(n, device=device) + n * flip.long()
        left = torch.where(flip, 2 * p - dx, dx)
        start = (
            (image * (c * hp * wp) + left)[:, None, None]
            + (torch.arange(c, device=device) * (hp * wp))[None, :, None]
            + ((dy[:, None] + torch.arange(h, device=device)) * wp)[:, None, :]
        )
        windows = source.reshape(-1).unfold(0, w, 1)  # every run of w bytes, as a view
        return windows.index_select(0, start.reshape(-1)).view(n, c, h, w)


def torchvision_transform(
    mean: list[float], std: list[float], augment: str = "none", size: int | None = None
):
    """The same recipe as torchvision per-image transforms on PIL images (the regular path)."""
    from torchvision import transforms as T

    r = recipe(augment)
    steps = []
    if r.padding:
        steps.append(T.RandomCrop(size, padding=r.padding))
    if r.flip:
        steps.append(T.RandomHorizontalFlip())
    return T.Compose([*steps, T.ToTensor(), T.Normalize(mean, std)])


EVAL_CROPS = ("center", "train")


def imagenet_transforms(
    mean: list[float],
    std: list[float],
    crop: int = 224,
    resize: int = 256,
    eval_crop: str = "center",
):
    """(train, eval): random-resized crop + flip for training; to evaluate, resize + centre crop
    (`eval_crop="center"`), or the training crop without the flip (`"train"`), which is how
    CS6784 tested ImageNet-100 (their train.py `testTransform = RandomSizedCrop(224)`), so that
    its published numbers can be compared with ours."""
    from torchvision import transforms as T

    if eval_crop not in EVAL_CROPS:
        raise ValueError(f"eval_crop={eval_crop!r}; use one of {', '.join(EVAL_CROPS)}")
    finish = [T.ToTensor(), T.Normalize(mean, std)]
    train = T.Compose([T.RandomResizedCrop(crop), T.RandomHorizontalFlip(), *finish])
    if eval_crop == "train":
        evaluate = T.Compose([T.RandomResizedCrop(crop), *finish])
    else:
        evaluate = T.Compose([T.Resize(resize), T.CenterCrop(crop), *finish])
    return train, evaluate
