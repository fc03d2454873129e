"""The LeNet-style CNN for small grey images (digits, MNIST, Fashion-MNIST)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from transfer_lab.errors import UserError
from transfer_lab.models.backbone import Backbone
from transfer_lab.models.registry import register_backbone


def _conv_stage(cin: int, cout: int, batch_norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 5, padding=2, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(cout))
    layers += [nn.ReLU(inplace=True), nn.MaxPool2d(2)]
    return nn.Sequential(*layers)


def _fc_stage(fin: int, fout: int, dropout: float, flatten: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Flatten()] if flatten else []
    layers += [nn.Linear(fin, fout), nn.ReLU(inplace=True)]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


@register_backbone("lenet", default_input=(1, 28))
class LeNet(Backbone):
    """conv1 → conv2 → fc1 → fc2; the classifier (fc3) is the module's head."""

    def __init__(
        self,
        in_channels: int = 1,
        image_size: int = 28,
        channels: Sequence[int] = (32, 64),
        hidden: Sequence[int] = (256, 128),
        dropout: float = 0.0,
        batch_norm: bool = True,
    ) -> None:
        side = image_size // 4
        if side < 1:
            raise UserError(
                f"LeNet needs images of at least 4×4 pixels, got {image_size}×{image_size}; resize them with data.image_size."
            )
        c1, c2 = channels
        h1, h2 = hidden
        stages = {
            "conv1": _conv_stage(in_channels, c1, batch_norm),
            "conv2": _conv_stage(c1, c2, batch_norm),
            "fc1": _fc_stage(c2 * side * side, h1, dropout, flatten=True),
            "fc2": _fc_stage(h1, h2, dropout),
        }
        super().__init__(stages, feature_dim=h2)
