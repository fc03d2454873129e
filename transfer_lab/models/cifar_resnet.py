"""The CIFAR ResNets of He et al. (2016), section 4.2: ResNet-20 (0.27 M) and ResNet-56 (0.85 M).

Stages: stem (3×3 conv, 16 channels, BN-ReLU), layer1, layer2, layer3 (n basic blocks each at
16, 32, 64 channels; layer3 ends in global average pooling). Shortcuts are option A: identity,
subsampled and zero-padded where the shape changes, so they add no parameters.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from transfer_lab.errors import UserError
from transfer_lab.models.backbone import Backbone, global_pool, he_init
from transfer_lab.models.registry import register_backbone


class BasicBlock(nn.Module):
    """Conv3×3-BN-ReLU-Conv3×3-BN plus the shortcut, then ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, shortcut: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.stride = stride
        self.pad = out_channels - in_channels
        self.project = None
        if shortcut == "B" and (stride != 1 or self.pad):
            self.project = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.project is not None:
            return self.project(x)
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.pad:
            x = F.pad(x, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class CifarResNet(Backbone):
    """ResNet-(6n + 2) for 32×32 inputs."""

    def __init__(
        self,
        in_channels: int = 3,
        image_size: int = 32,
        depth: int = 20,
        width: int = 16,
        shortcut: str = "A",
    ) -> None:
        if (depth - 2) % 6:
            raise UserError(
                f"backbone depth={depth} is not 6·n + 2; use a CIFAR ResNet depth such as 20, 32, 44, 56 or 110."
            )
        if shortcut not in ("A", "B"):
            raise UserError(
                f"backbone.shortcut={shortcut!r} is unknown; use A (zero-padding identity) or B (1×1 projection)."
            )
        n = (depth - 2) // 6
        stages: dict[str, nn.Module] = {
            "stem": nn.Sequential(
                OrderedDict(
                    [
                        ("conv", nn.Conv2d(in_channels, width, 3, padding=1, bias=False)),
                        ("bn", nn.BatchNorm2d(width)),
                        ("relu", nn.ReLU(inplace=True)),
                    ]
                )
            )
        }
        channels = width
        for s, (out, stride) in enumerate(
            zip((width, 2 * width, 4 * width), (1, 2, 2), strict=True), start=1
        ):
            blocks: list[tuple[str, nn.Module]] = []
            for i in range(n):
                blocks.append(
                    (f"block{i + 1}", BasicBlock(channels, out, stride if i == 0 else 1, shortcut))
                )
                channels = out
            if s == 3:
                blocks.append(("pool", global_pool()))
            stages[f"layer{s}"] = nn.Sequential(OrderedDict(blocks))
        super().__init__(stages, feature_dim=channels)

    def init_module(self, module: nn.Module) -> None:
        """He et al. (2015) init, as the paper says: conv std sqrt(2 / (k·k·in)), unit BN."""
        he_init(module, mode="fan_in")


@register_backbone("resnet20", default_input=(3, 32))
def resnet20(
    in_channels: int = 3, image_size: int = 32, width: int = 16, shortcut: str = "A"
) -> CifarResNet:
    """CIFAR ResNet-20: 3 × 3 basic blocks."""
    return CifarResNet(in_channels, image_size, depth=20, width=width, shortcut=shortcut)


@register_backbone("resnet56", default_input=(3, 32))
def resnet56(
    in_channels: int = 3, image_size: int = 32, width: int = 16, shortcut: str = "A"
) -> CifarResNet:
    """CIFAR ResNet-56: 3 × 9 basic blocks."""
    return CifarResNet(in_channels, image_size, depth=56, width=width, shortcut=shortcut)
