"""Copy a source network's first n stages into a fresh network (pure tensor bookkeeping)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from transfer_lab.models.backbone import Backbone


def stage_state(state: Mapping[str, torch.Tensor], names: Sequence[str]) -> dict[str, torch.Tensor]:
    """The entries of a backbone state dict that belong to the named stages."""
    prefixes = tuple(f"stages.{name}." for name in names)
    return {k: v for k, v in state.items() if k.startswith(prefixes)}


def copy_stages(
    target: Backbone, source_state: Mapping[str, torch.Tensor], names: Sequence[str]
) -> None:
    """Overwrite the named stages of `target` (weights and BN statistics) with the source's."""
    wanted = stage_state(source_state, names)
    own = stage_state(target.state_dict(), names)
    if set(wanted) != set(own):
        missing = sorted(set(own) ^ set(wanted))[:3]
        raise ValueError(f"source and target stages differ in shape or names, e.g. {missing}")
    target.load_state_dict(wanted, strict=False)
