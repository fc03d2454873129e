"""Create a backbone by name; list the names; let users add their own."""

from __future__ import annotations

import fnmatch
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from transfer_lab.errors import UserError
from transfer_lab.models.backbone import Backbone

BackboneFactory = Callable[..., Backbone]
_REGISTRY: dict[str, BackboneFactory] = {}
_DEFAULT_INPUT: dict[str, tuple[int, int]] = {}


def register_backbone(
    name: str, default_input: tuple[int, int] = (3, 32)
) -> Callable[[BackboneFactory], BackboneFactory]:
    """Decorator: make `factory(in_channels=, image_size=, **kwargs)` available as `name`.

    `default_input` (channels, side) is the input the backbone was designed for; `list` uses it.
    """

    def add(factory: BackboneFactory) -> BackboneFactory:
        if name in _REGISTRY and _REGISTRY[name] is not factory:
            raise ValueError(f"a backbone named {name!r} is already registered")
        _REGISTRY[name] = factory
        _DEFAULT_INPUT[name] = tuple(default_input)
        return factory

    return add


def default_input(name: str) -> tuple[int, int]:
    """(channels, side) of the input a registered backbone was designed for."""
    return _DEFAULT_INPUT[name]


def list_backbones(pattern: str = "*") -> list[str]:
    """Registered names that match a shell-style pattern, sorted."""
    return sorted(n for n in _REGISTRY if fnmatch.fnmatch(n, pattern))


def create_backbone(name: str, in_channels: int, image_size: int, **kwargs: Any) -> Backbone:
    """Build a registered backbone for inputs of `in_channels` × `image_size` × `image_size`."""
    if name not in _REGISTRY:
        raise UserError(
            f"there is no backbone named {name!r}; choose one of {', '.join(list_backbones())} "
            f"(python -m transfer_lab list)."
        )
    factory = _REGISTRY[name]
    unknown = sorted(set(kwargs) - set(options(name)))
    if unknown and not _takes_any_keyword(factory):
        raise UserError(
            f"backbone {name!r} has no option {unknown[0]!r}; its options are "
            f"{', '.join(options(name)) or 'none'} (conf/backbone/{name}.yaml)."
        )
    return factory(in_channels=in_channels, image_size=image_size, **kwargs)


def _takes_any_keyword(factory: BackboneFactory) -> bool:
    return any(p.kind is p.VAR_KEYWORD for p in inspect.signature(factory).parameters.values())


def options(name: str) -> list[str]:
    """The keyword arguments a registered backbone takes besides in_channels and image_size."""
    parameters = inspect.signature(_REGISTRY[name]).parameters
    return [
        p
        for p, spec in parameters.items()
        if p not in ("self", "in_channels", "image_size")
        and spec.kind in (spec.POSITIONAL_OR_KEYWORD, spec.KEYWORD_ONLY)
    ]


def backbone_from_config(cfg: Mapping[str, Any], in_channels: int, image_size: int) -> Backbone:
    """A backbone from its config: `name` plus keyword arguments, or a Hydra `_target_`."""
    cfg = dict(cfg)
    if "_target_" in cfg:
        from hydra.utils import instantiate

        cfg.pop("name", None)
        return instantiate(cfg, in_channels=in_channels, image_size=image_size)
    return create_backbone(cfg.pop("name"), in_channels, image_size, **cfg)
