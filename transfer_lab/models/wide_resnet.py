"""Wide residual networks (Zagoruyko & Komodakis 2016): WRN-28-10 with dropout 0.3.

Stages: stem (3×3 conv to 16 channels), group1, group2, group3 (the three groups of (depth − 4) / 6
pre-activation blocks at widths 16k, 32k, 64k; group3 ends in the final BN-ReLU-pool).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from transfer_lab.errors import UserError
from transfer_lab.models.backbone import Backbone, global_pool, he_init
from transfer_lab.models.registry import register_backbone


class WideBlock(nn.Module):
    """BN-ReLU-Conv3×3-BN-ReLU-Dropout-Conv3×3 plus a shortcut (1×1 conv when the shape changes)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.norm2 = nn.BatchNorm2d(out_channels)
        self.relu2 = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.shortcut = (
            nn.Conv2d(in_channels, out_channels, 1, stride, bias=False)
            if stride != 1 or in_channels != out_channels
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        activated = self.relu1(self.norm1(x))
        # Where the shape changes the projection reads the activated input, as in the authors' code.
        identity = x if self.shortcut is None else self.shortcut(activated)
        out = self.conv1(activated)
        out = self.conv2(self.dropout(self.relu2(self.norm2(out))))
        return out + identity


@register_backbone("wrn28_10", default_input=(3, 32))
class WideResNet(Backbone):
    """WRN-depth-width; the defaults are WRN-28-10 with dropout 0.3 between the block's convs."""

    def __init__(
        self,
        in_channels: int = 3,
        image_size: int = 32,
        depth: int = 28,
        width: int = 10,
        dropout: float = 0.3,
    ) -> None:
        if (depth - 4) % 6:
            raise UserError(
                f"backbone.depth={depth} is not 6·n + 4; use a Wide ResNet depth such as 16, 22, 28 or 40."
            )
        n = (depth - 4) // 6
        widths = [16 * width, 32 * width, 64 * width]
        stages: dict[str, nn.Module] = {
            "stem": nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)
        }
        channels = 16
        for g, (out, stride) in enumerate(zip(widths, (1, 2, 2), strict=True), start=1):
            blocks: list[tuple[str, nn.Module]] = []
            for i in range(n):
                blocks.append(
                    (f"block{i + 1}", WideBlock(channels, out, stride if i == 0 else 1, dropout))
                )
                channels = out
            if g == 3:
                blocks += [
                    ("norm", nn.BatchNorm2d(channels)),
                    ("relu", nn.ReLU(inplace=True)),
                    ("pool", global_pool()),
                ]
            stages[f"group{g}"] = nn.Sequential(OrderedDict(blocks))
        super().__init__(stages, feature_dim=channels)

    def init_module(self, module: nn.Module) -> None:
        """The authors' MSR init: conv std sqrt(2 / (k·k·out)), unit BN, zero linear biases."""
        he_init(module, mode="fan_out")

    def init_head(self, head: nn.Linear) -> None:
        """The authors' code: PyTorch/Torch's default weights with a zero bias."""
        he_init(head)
