"""torchvision's ImageNet networks (random weights; torchvision's own only for a pretrained
source, models/pretrained.py) with stage maps.

torchvision builds the layers; here they are regrouped into named stages, the first conv is
rebuilt for inputs that are not 3-channel, and torchvision's classifier is dropped (the heads
live in the LightningModule). Stages:
- resnet18 / resnet50: stem (conv1-bn1-relu-maxpool), layer1, layer2, layer3, layer4 (+pool);
- densenet121 (k = 32): stem (conv0-norm0-relu0-pool0), denseblock1, transition1, denseblock2,
  transition2, denseblock3, transition3, denseblock4 (+norm5-ReLU-pool).
"""

from __future__ import annotations

import math
from collections import OrderedDict

from torch import nn
from torchvision import models

from transfer_lab.errors import UserError
from transfer_lab.models.backbone import Backbone, global_pool, he_init
from transfer_lab.models.registry import register_backbone


def _first_conv(conv: nn.Conv2d, in_channels: int) -> nn.Conv2d:
    """torchvision's stem conv, rebuilt for `in_channels` when that is not 3."""
    if in_channels == conv.in_channels:
        return conv
    return nn.Conv2d(
        in_channels,
        conv.out_channels,
        conv.kernel_size,
        conv.stride,
        conv.padding,
        bias=conv.bias is not None,
    )


def native_names(backbone: Backbone, net: nn.Module) -> dict[str, str]:
    """torchvision's own state_dict key → the backbone's, for every tensor the two share (the
    stages hold torchvision's modules), so torchvision's weights load into the stages."""
    ours = {id(t): k for k, t in backbone.state_dict(keep_vars=True).items()}
    return {k: ours[id(t)] for k, t in net.state_dict(keep_vars=True).items() if id(t) in ours}


class TorchvisionResNet(Backbone):
    """torchvision's ResNet-18/50 as stem, layer1..layer4."""

    def __init__(self, arch: str, in_channels: int = 3, image_size: int = 224) -> None:
        net = getattr(models, arch)(weights=None)
        stages = {
            "stem": nn.Sequential(
                OrderedDict(
                    [
                        ("conv1", _first_conv(net.conv1, in_channels)),
                        ("bn1", net.bn1),
                        ("relu", net.relu),
                        ("maxpool", net.maxpool),
                    ]
                )
            ),
            "layer1": net.layer1,
            "layer2": net.layer2,
            "layer3": net.layer3,
            "layer4": nn.Sequential(OrderedDict([("blocks", net.layer4), ("pool", global_pool())])),
        }
        super().__init__(stages, feature_dim=net.fc.in_features)
        self.native_names = native_names(self, net)

    def init_module(self, module: nn.Module) -> None:
        """torchvision's ResNet recipe: conv std sqrt(2 / (k·k·out)), unit BN."""
        he_init(module, mode="fan_out")


INITS = ("torchvision", "pytorch0.3")


def pytorch03_init(module: nn.Module) -> None:
    """PyTorch 0.3's module defaults: convolution and linear weights and biases drawn from
    U(±1/√fan_in), BatchNorm scale from U(0, 1) and zero shift.

    CS6784's DenseNet-121 (their densenet_vision.py) has no initialisation code of its own, so
    it trained from these; `init: pytorch0.3` reproduces them.
    """
    if isinstance(module, nn.Conv2d | nn.Linear):
        bound = 1.0 / math.sqrt(module.weight[0].numel())  # in_channels · k · k, or in_features
        nn.init.uniform_(module.weight, -bound, bound)
        if module.bias is not None:
            nn.init.uniform_(module.bias, -bound, bound)
    elif isinstance(module, nn.modules.batchnorm._BatchNorm):
        module.reset_running_stats()
        nn.init.uniform_(module.weight, 0.0, 1.0)
        nn.init.zeros_(module.bias)


class TorchvisionDenseNet(Backbone):
    """torchvision's DenseNet-121 as stem, denseblock1, transition1, …, denseblock4.

    `init` is torchvision's current recipe ("torchvision") or PyTorch 0.3's defaults
    ("pytorch0.3"), which CS6784's copy of it trained from.
    """

    def __init__(
        self, arch: str, in_channels: int = 3, image_size: int = 224, init: str = "torchvision"
    ) -> None:
        if init not in INITS:
            raise UserError(f"backbone.init={init!r} is not known; use one of {', '.join(INITS)}.")
        self.init_recipe = init  # read by init_module, which Backbone.__init__ calls
        net = getattr(models, arch)(weights=None)
        features = net.features
        stages: dict[str, nn.Module] = {
            "stem": nn.Sequential(
                OrderedDict(
                    [
                        ("conv0", _first_conv(features.conv0, in_channels)),
                        ("norm0", features.norm0),
                        ("relu0", features.relu0),
                        ("pool0", features.pool0),
                    ]
                )
            )
        }
        names = [
            n for n, _ in features.named_children() if n.startswith(("denseblock", "transition"))
        ]
        for name in names:
            stages[name] = getattr(features, name)
            if name.startswith("transition"):  # round up, so maps of 1 pixel survive small inputs
                stages[name].pool = nn.AvgPool2d(2, ceil_mode=True)
        last = names[-1]
        stages[last] = nn.Sequential(
            OrderedDict(
                [
                    ("blocks", stages[last]),
                    ("norm5", features.norm5),
                    ("relu", nn.ReLU(inplace=True)),
                    ("pool", global_pool()),
                ]
            )
        )
        super().__init__(stages, feature_dim=features.norm5.num_features)
        self.native_names = native_names(self, net)

    def init_module(self, module: nn.Module) -> None:
        """torchvision's DenseNet recipe: conv std sqrt(2 / (k·k·in)), unit BN, zero biases; or
        PyTorch 0.3's defaults (`init="pytorch0.3"`)."""
        if self.init_recipe == "pytorch0.3":
            pytorch03_init(module)
        else:
            he_init(module, mode="fan_in")

    def init_head(self, head: nn.Linear) -> None:
        """torchvision's DenseNet classifier: default weights, zero bias."""
        he_init(head)


@register_backbone("resnet18", default_input=(3, 224))
def resnet18(in_channels: int = 3, image_size: int = 224) -> TorchvisionResNet:
    """torchvision's ResNet-18 (11.2 M parameters without its classifier)."""
    return TorchvisionResNet("resnet18", in_channels, image_size)


@register_backbone("resnet50", default_input=(3, 224))
def resnet50(in_channels: int = 3, image_size: int = 224) -> TorchvisionResNet:
    """torchvision's ResNet-50 (23.5 M parameters without its classifier)."""
    return TorchvisionResNet("resnet50", in_channels, image_size)


@register_backbone("densenet121", default_input=(3, 224))
def densenet121(
    in_channels: int = 3, image_size: int = 224, init: str = "torchvision"
) -> TorchvisionDenseNet:
    """torchvision's DenseNet-121, growth rate 32 (7.0 M parameters without its classifier)."""
    return TorchvisionDenseNet("densenet121", in_channels, image_size, init)
