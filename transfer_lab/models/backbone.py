"""What every backbone is: an ordered list of named stages ending in pooled features."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


class Backbone(nn.Module):
    """Stages applied in order; cut depth n counts them. `feature_dim` is the output width.

    Subclasses build their stages, call `super().__init__(stages, feature_dim)` and may override
    `init_module` with their paper's initialisation (or `init_stage`, when the recipe depends on
    which stage a layer sits in); `reinit` re-applies it to chosen stages. The last stage ends in
    pooled, flat features (batch × feature_dim): the heads sit on them.
    """

    def __init__(self, stages: dict[str, nn.Module], feature_dim: int) -> None:
        super().__init__()
        self.stages = nn.ModuleDict(stages)
        self.feature_dim = int(feature_dim)
        self.reinit(self.stage_names)

    @property
    def stage_names(self) -> list[str]:
        return list(self.stages.keys())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for stage in self.stages.values():
            x = stage(x)
        return x

    def init_module(self, module: nn.Module) -> None:
        """He-normal convolutions and linear layers, zero biases, unit BatchNorm."""
        if isinstance(module, nn.Conv2d | nn.Linear):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.reset_parameters()  # fresh running statistics, unit scale, zero shift

    def init_head(self, head: nn.Linear) -> None:
        """Initialise a new head that sits on these features (classifier, binary heads).

        By default the head keeps PyTorch's init, drawn when it was built; backbones whose paper
        says otherwise (e.g. Caffe's fc8, zero biases) override this.
        """

    def init_stage(self, name: str, stage: nn.Module) -> None:
        """Initialise one stage; by default `init_module` on every layer inside it."""
        stage.apply(self.init_module)

    def reinit(self, names: Iterable[str]) -> None:
        """Re-initialise exactly the named stages, the way they were first initialised."""
        for name in names:
            if name not in self.stages:
                raise KeyError(f"no stage named {name!r}; the stages are {self.stage_names}")
            self.init_stage(name, self.stages[name])


def he_init(module: nn.Module, mode: str = "fan_in") -> None:
    """He et al. (2015) normal init for convolutions, zero biases, unit BatchNorm.

    `mode="fan_out"` is the std = sqrt(2 / (k·k·out_channels)) of fb.resnet.torch, which the
    DenseNet and Wide ResNet authors' code use. Linear layers get zero biases and PyTorch's
    default weights (none of these papers re-draws them).
    """
    if isinstance(module, nn.Conv2d):
        nn.init.kaiming_normal_(module.weight, mode=mode, nonlinearity="relu")
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Linear):
        module.reset_parameters()
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.modules.batchnorm._BatchNorm):
        module.reset_parameters()  # fresh running statistics, unit scale, zero shift


def global_pool() -> nn.Sequential:
    """Global average pooling and flattening: any input size gives batch × channels features."""
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
