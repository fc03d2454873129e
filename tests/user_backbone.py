"""A backbone defined outside the package, as a user would write one (used by test_backbones)."""

from __future__ import annotations

from torch import nn

from transfer_lab.models.backbone import Backbone, global_pool


class TinyNet(Backbone):
    """conv → pool: two stages, `width` features."""

    def __init__(self, in_channels: int, image_size: int, width: int = 4) -> None:
        super().__init__(
            {
                "conv": nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU()),
                "pool": global_pool(),
            },
            feature_dim=width,
        )
