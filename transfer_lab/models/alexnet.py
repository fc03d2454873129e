"""The 8-layer AlexNet-style network of Yosinski et al. (2014), in two sizes.

Yosinski et al. train Caffe's reference ImageNet model: conv1–conv5, fc6, fc7, fc8. Here
conv1–conv5, fc6 and fc7 are the backbone's seven stages, so cut depth n = 1..7 means what it
means in the paper, and fc8 is the module's classifier (always re-initialised).

- `alexnet_yosinski`: the 224×224 form, Caffe's reference model exactly (96-256-384-384-256
  filters, 11×11 stride-4 conv1, two-group conv2/conv4/conv5, max pooling with Caffe's rounding
  up, LRN after pool1 and pool2, 4096-4096 fully connected with dropout 0.5); 60,965,224
  parameters with a 1000-way fc8.
- `alexnet_yosinski32`: the same eight layers sized for 32×32 inputs: 5×5 stride-1 conv1, so
  pool5 gives 4×4 (not 6×6) maps, and 1024-wide fc6/fc7 by default (`hidden`).
Either form takes other sizes: pool5's maps are average-pooled to the designed size before fc6.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from transfer_lab.errors import UserError
from transfer_lab.models.backbone import Backbone
from transfer_lab.models.registry import register_backbone

# Caffe's reference model: Gaussian weights with these standard deviations and constant biases.
CAFFE_INIT = {
    "conv1": (0.01, 0.0),
    "conv2": (0.01, 1.0),
    "conv3": (0.01, 0.0),
    "conv4": (0.01, 1.0),
    "conv5": (0.01, 1.0),
    "fc6": (0.005, 1.0),
    "fc7": (0.005, 1.0),
}


class CaffeMaxPool(nn.MaxPool2d):
    """3×3 stride-2 max pooling that rounds up like Caffe's and accepts maps smaller than 3×3."""

    def __init__(self) -> None:
        super().__init__(3, 2, ceil_mode=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        short_h, short_w = max(0, 3 - x.shape[-2]), max(0, 3 - x.shape[-1])
        if short_h or short_w:  # small inputs: pad with -inf, so the maximum is unchanged
            x = F.pad(x, (0, short_w, 0, short_h), value=float("-inf"))
        return super().forward(x)


def _pool_out(side: int) -> int:
    """Side after a 3×3 stride-2 max pool that rounds up, as Caffe's does."""
    return -(-(side - 3) // 2) + 1


class YosinskiNet(Backbone):
    """conv1 → conv2 → conv3 → conv4 → conv5 → fc6 → fc7; fc8 is the classifier head."""

    def __init__(
        self,
        in_channels: int = 3,
        image_size: int = 224,
        channels: Sequence[int] = (96, 256, 384, 384, 256),
        conv1_kernel: int = 11,
        conv1_stride: int = 4,
        groups: int = 2,
        hidden: int = 4096,
        dropout: float = 0.5,
        lrn: bool = True,
        design_size: int = 224,
    ) -> None:
        c1, c2, c3, c4, c5 = channels
        pad1 = (conv1_kernel - 1) // 2 if conv1_stride == 1 else 0
        designed = (design_size + 2 * pad1 - conv1_kernel) // conv1_stride + 1
        for _ in range(3):  # pool1, pool2, pool5
            designed = _pool_out(designed)
        side = (image_size + 2 * pad1 - conv1_kernel) // conv1_stride + 1
        if side < 1:
            raise UserError(
                f"images of {image_size}×{image_size} are smaller than this AlexNet's "
                f"{conv1_kernel}×{conv1_kernel} conv1; resize them with data.image_size=32 or more."
            )

        def conv(
            cin: int,
            cout: int,
            k: int,
            pad: int,
            g: int = 1,
            stride: int = 1,
            pool: bool = False,
            norm: bool = False,
        ) -> nn.Sequential:
            layers = [
                ("conv", nn.Conv2d(cin, cout, k, stride, pad, groups=g)),
                ("relu", nn.ReLU(inplace=True)),
            ]
            if pool:
                layers.append(("pool", CaffeMaxPool()))
            if norm and lrn:
                layers.append(("norm", nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)))
            return nn.Sequential(OrderedDict(layers))

        def fc(fin: int, fout: int, flatten: bool = False) -> nn.Sequential:
            layers: list[tuple[str, nn.Module]] = []
            if flatten:
                layers += [("resize", nn.AdaptiveAvgPool2d(designed)), ("flatten", nn.Flatten())]
            layers += [("fc", nn.Linear(fin, fout)), ("relu", nn.ReLU(inplace=True))]
            if dropout > 0:
                layers.append(("drop", nn.Dropout(dropout)))
            return nn.Sequential(OrderedDict(layers))

        stages = {
            "conv1": conv(
                in_channels, c1, conv1_kernel, pad1, stride=conv1_stride, pool=True, norm=True
            ),
            "conv2": conv(c1, c2, 5, 2, g=groups, pool=True, norm=True),
            "conv3": conv(c2, c3, 3, 1),
            "conv4": conv(c3, c4, 3, 1, g=groups),
            "conv5": conv(c4, c5, 3, 1, g=groups, pool=True),
            "fc6": fc(c5 * designed * designed, hidden, flatten=True),
            "fc7": fc(hidden, hidden),
        }
        super().__init__(stages, feature_dim=hidden)

    def init_head(self, head: nn.Linear) -> None:
        """fc8 in Caffe's reference model: N(0, 0.01²) weights, zero bias."""
        nn.init.normal_(head.weight, 0.0, 0.01)
        nn.init.zeros_(head.bias)

    def init_stage(self, name: str, stage: nn.Module) -> None:
        """Caffe's reference recipe: N(0, std²) weights and a constant bias, set per layer."""
        std, bias = CAFFE_INIT[name]
        for module in stage.modules():
            if isinstance(module, nn.Conv2d | nn.Linear):
                nn.init.normal_(module.weight, 0.0, std)
                nn.init.constant_(module.bias, bias)


# Yosinski et al.'s network for 224×224 ImageNet crops (Caffe's reference model), and the same
# eight layers sized for 32×32 images (CIFAR): a 5×5 stride-1 conv1 and 1024-wide fc6/fc7.
register_backbone("alexnet_yosinski", default_input=(3, 224))(YosinskiNet)
register_backbone("alexnet_yosinski32", default_input=(3, 32))(
    partial(YosinskiNet, image_size=32, conv1_kernel=5, conv1_stride=1, hidden=1024, design_size=32)
)
