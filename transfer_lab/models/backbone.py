"""What every backbone is: an ordered list of named stages ending in pooled features."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


class Backbone(nn.Module):
    """Stages applied in order; cut depth n counts them. `feature_dim` is the output width.

    Subclasses build their stages, call `super().__init__(stages, feature_dim)` and may override
    `init_module` with their paper's initialisation; `reinit` re-applies it to chosen stages.
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
            module.reset_running_stats()
            if module.affine:
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def reinit(self, names: Iterable[str]) -> None:
        """Re-initialise exactly the named stages, the way they were first initialised."""
        for name in names:
            self.stages[name].apply(self.init_module)
