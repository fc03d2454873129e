"""DenseNet-BC for CIFAR (Huang et al. 2017): L = 100, k = 12, compression 0.5, bottlenecks.

Stages come at two granularities (`stages=`):
- `blocks`: stem, block1, trans1, block2, trans2, block3 (block3 ends in the final BN-ReLU-pool);
- `layers`: stem, block1_layer01 … block1_layer16, trans1, block2_layer01 …, trans2,
  block3_layer01 … block3_layer16 (the last one ends in the final BN-ReLU-pool), so CS6784's
  "freeze up to block X, layer Y" is a cut depth.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from transfer_lab.errors import UserError
from transfer_lab.models.backbone import Backbone, global_pool, he_init
from transfer_lab.models.registry import register_backbone

STAGE_GRANULARITIES = ("blocks", "layers")


class DenseLayer(nn.Module):
    """BN-ReLU-Conv1×1(4k)-BN-ReLU-Conv3×3(k) (bottleneck) or BN-ReLU-Conv3×3(k); concatenates."""

    def __init__(self, in_channels: int, growth: int, bottleneck: bool, dropout: float) -> None:
        super().__init__()
        layers: list[tuple[str, nn.Module]] = []
        channels = in_channels
        if bottleneck:
            layers += [
                ("norm1", nn.BatchNorm2d(channels)),
                ("relu1", nn.ReLU(inplace=True)),
                ("conv1", nn.Conv2d(channels, 4 * growth, 1, bias=False)),
            ]
            if dropout > 0:
                layers.append(("drop1", nn.Dropout(dropout)))
            channels = 4 * growth
        layers += [
            ("norm2", nn.BatchNorm2d(channels)),
            ("relu2", nn.ReLU(inplace=True)),
            ("conv2", nn.Conv2d(channels, growth, 3, padding=1, bias=False)),
        ]
        if dropout > 0:
            layers.append(("drop2", nn.Dropout(dropout)))
        self.body = nn.Sequential(OrderedDict(layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.body(x)], dim=1)


def transition(in_channels: int, out_channels: int) -> nn.Sequential:
    """BN-ReLU-Conv1×1-AvgPool2: compresses the channels and halves the resolution."""
    return nn.Sequential(
        OrderedDict(
            [
                ("norm", nn.BatchNorm2d(in_channels)),
                ("relu", nn.ReLU(inplace=True)),
                ("conv", nn.Conv2d(in_channels, out_channels, 1, bias=False)),
                ("pool", nn.AvgPool2d(2, ceil_mode=True)),
            ]
        )
    )


def final_norm(channels: int) -> nn.Sequential:
    """The last BN-ReLU before global average pooling."""
    return nn.Sequential(
        OrderedDict(
            [
                ("norm", nn.BatchNorm2d(channels)),
                ("relu", nn.ReLU(inplace=True)),
                ("pool", global_pool()),
            ]
        )
    )


@register_backbone("densenet_bc", default_input=(3, 32))
class DenseNetBC(Backbone):
    """DenseNet(-BC) for 32×32 inputs: three dense blocks of (depth − 4) / 6 bottleneck layers."""

    def __init__(
        self,
        in_channels: int = 3,
        image_size: int = 32,
        depth: int = 100,
        growth: int = 12,
        compression: float = 0.5,
        bottleneck: bool = True,
        dropout: float = 0.0,
        stages: str = "blocks",
    ) -> None:
        if stages not in STAGE_GRANULARITIES:
            raise UserError(
                f"backbone.stages={stages!r} is unknown; use one of {', '.join(STAGE_GRANULARITIES)}."
            )
        per_layer = 2 if bottleneck else 1
        if (depth - 4) % (3 * per_layer):
            raise UserError(
                f"backbone.depth={depth} is not 3·{per_layer}·n + 4; use a DenseNet depth such as 100 or 250 (BC) or 40 (plain)."
            )
        n = (depth - 4) // (3 * per_layer)
        channels = 2 * growth if bottleneck and compression < 1 else 16
        built: dict[str, nn.Module] = {
            "stem": nn.Conv2d(in_channels, channels, 3, padding=1, bias=False)
        }
        for b in (1, 2, 3):
            layers = []
            for _ in range(n):
                layers.append(DenseLayer(channels, growth, bottleneck, dropout))
                channels += growth
            if b == 3:  # the final BN-ReLU-pool rides with the last layer
                layers[-1] = nn.Sequential(
                    OrderedDict([("layer", layers[-1]), ("final", final_norm(channels))])
                )
            names = [f"layer{i:02d}" for i in range(1, n + 1)]
            if stages == "blocks":
                built[f"block{b}"] = nn.Sequential(OrderedDict(zip(names, layers, strict=True)))
            else:
                built.update(
                    {f"block{b}_{name}": layer for name, layer in zip(names, layers, strict=True)}
                )
            if b < 3:
                out = int(channels * compression)
                built[f"trans{b}"] = transition(channels, out)
                channels = out
        super().__init__(built, feature_dim=channels)

    def init_module(self, module: nn.Module) -> None:
        """The authors' Torch code: conv std sqrt(2 / (k·k·out)), unit BN, zero linear biases."""
        he_init(module, mode="fan_out")

    def init_head(self, head: nn.Linear) -> None:
        """The authors' code: PyTorch/Torch's default weights with a zero bias."""
        he_init(head)
