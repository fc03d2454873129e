"""A pretrained source network's weights, in the backbone's own keys, checked against it.

`source.pretrained` says where they come from (`source.weights` names them):
- `torchvision`: a torchvision weights name (`IMAGENET1K_V1`) for backbone=resnet18, resnet50 or
  densenet121, through torchvision's loading and cache (the torch hub folder);
- `timm`: timm's pretrained weights for backbone=timm's model (`source.weights` may name a tag,
  `resnet18.a1_in1k`), through timm's loading and the Hugging Face cache;
- `file`: a local `state_dict` (the backbone's, a TransferModule's, or the library network's own)
  or a Lightning checkpoint, read with `weights_only=True`.
Every problem is one sentence; the checks run in the pre-flight, before any folder is made.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from omegaconf import DictConfig, open_dict

from transfer_lab.errors import UserError
from transfer_lab.models.backbone import Backbone
from transfer_lab.models.registry import backbone_from_config

KINDS = ("torchvision", "timm", "file")
TORCHVISION_BACKBONES = ("resnet18", "resnet50", "densenet121")
HEAD_PREFIXES = ("classifier.", "fc.")  # a classifier kept beside the backbone's weights


@dataclass
class Pretrained:
    """The weights of a pretrained source: backbone state, classifier (or None), and origin."""

    state: dict[str, torch.Tensor]
    head: dict[str, torch.Tensor] | None
    origin: str


def pretrained_kind(source_cfg: Any) -> str | None:
    """torchvision | timm | file, or None when the source is trained on A as usual.

    `source.weights` alone means a file.
    """
    kind = source_cfg.get("pretrained")
    if kind is None and source_cfg.get("weights") is not None:
        return "file"
    if kind is not None and kind not in KINDS:
        raise UserError(f"source.pretrained={kind!r} is not known; use one of {', '.join(KINDS)}.")
    return kind


def load_pretrained(cfg: Any, in_channels: int, image_size: int) -> Pretrained:
    """The source's weights for `cfg.backbone` on in_channels × image_size images (memoised)."""
    kind = pretrained_kind(cfg.source)
    weights = cfg.source.get("weights")
    from omegaconf import OmegaConf

    backbone = json.dumps(OmegaConf.to_container(cfg.backbone, resolve=True), sort_keys=True)
    weights = None if weights is None else str(weights)
    version = file_version(weights) if kind == "file" else None
    return _load(kind, weights, version, backbone, in_channels, image_size)


def file_version(path: str) -> tuple[int, int] | None:
    """(modification time, size) of a weights file: a file rewritten in place is read again."""
    try:
        stat = Path(path).expanduser().stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


@functools.cache
def _load(
    kind: str, weights: str | None, version: Any, backbone: str, channels: int, size: int
) -> Pretrained:
    config = json.loads(backbone)
    if kind == "file":
        return from_file(weights, config, channels, size)
    if kind == "torchvision":
        return from_torchvision(weights, config, channels, size)
    return from_timm(weights, config, channels, size)


def expected_input(cfg: Any) -> dict[str, Any] | None:
    """The input the weights were trained on: image side, mean and std (what the data should
    be resized to and normalised with), from torchvision's weights or timm's pretrained config;
    None when neither says (a file, or a source trained here)."""
    kind = pretrained_kind(cfg.source)
    name = str(cfg.backbone.get("name"))
    if kind == "torchvision" and name in TORCHVISION_BACKBONES:
        from torchvision import models

        names = [w.name for w in models.get_model_weights(name)]
        if cfg.source.get("weights") not in names:
            return None
        transform = models.get_model_weights(name)[cfg.source.weights].transforms()
        side = transform.crop_size[0]
        return {"image_size": side, "mean": list(transform.mean), "std": list(transform.std)}
    if name == "timm" and kind in ("timm", None):
        from transfer_lab.models.timm_nets import pretrained_config

        found = pretrained_config(str(cfg.source.get("weights") or cfg.backbone.model_name))
        if found.get("input_size") and found.get("mean"):
            side = found["input_size"][-1]
            return {"image_size": side, "mean": list(found["mean"]), "std": list(found["std"])}
    return None


def backbone_name(config: dict) -> str:
    return str(config.get("_target_") or config.get("name"))


def from_torchvision(weights: str | None, config: dict, channels: int, size: int) -> Pretrained:
    """torchvision's weights by name, from its cache or downloaded into it."""
    from torchvision import models

    name = backbone_name(config)
    if name not in TORCHVISION_BACKBONES:
        raise UserError(
            f"source.pretrained=torchvision loads weights for backbone={', '.join(TORCHVISION_BACKBONES)}, "
            f"not {name}; choose one of those, or give a file with source.weights=PATH."
        )
    names = [w.name for w in models.get_model_weights(name)]
    if weights not in names:
        raise UserError(
            f"torchvision has no weights {weights!r} for {name}; set source.weights to one of "
            f"{', '.join(names)}."
        )
    if channels != 3:
        raise UserError(
            f"torchvision's {name} weights take 3-channel images but these have {channels}; use "
            f"an RGB dataset (data=image_folder reads RGB) or train the source (no source.pretrained)."
        )
    entry = models.get_model_weights(name)[weights]
    file = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(entry.url).path).name
    try:
        native = entry.get_state_dict(progress=False)
    except OSError:
        raise UserError(
            f"torchvision's {name} weights {weights} are not in the cache and cannot be "
            f"downloaded here; put {file.name} (from {entry.url}) in {file.parent} (the torch "
            f"hub cache, set by TORCH_HOME)."
        ) from None
    backbone = backbone_from_config(config, channels, size)
    state, head = to_backbone_keys(native, backbone)
    check_keys(state, backbone, f"torchvision's {name} {weights}")
    return Pretrained(state, head, f"torchvision {name} {weights}")


def from_timm(weights: str | None, config: dict, channels: int, size: int) -> Pretrained:
    """timm's pretrained weights for the backbone's model (or the tag `weights` names)."""
    from transfer_lab.models.timm_nets import TimmBackbone, pretrained_config, timm_module

    if config.get("name") != "timm":
        raise UserError(
            f"source.pretrained=timm loads timm's weights for backbone=timm, not "
            f"{backbone_name(config)}; set backbone=timm backbone.model_name=NAME."
        )
    model = str(weights or config.get("model_name"))
    if model.split(".")[0] != str(config.get("model_name")).split(".")[0]:
        raise UserError(
            f"source.weights={weights} are not weights of backbone.model_name="
            f"{config.get('model_name')}; name a tag of it ({config.get('model_name')}.TAG) or "
            f"leave source.weights out for its default weights."
        )
    timm_module()
    where = pretrained_config(model)
    try:
        backbone = TimmBackbone(model, channels, size, pretrained=True)
    except OSError:
        if where.get("hf_hub_id"):
            from huggingface_hub import constants

            repo = where["hf_hub_id"]
            place = (
                f"run `hf download {repo}` where there is a network and copy its folder "
                f"models--{repo.replace('/', '--')} into {constants.HF_HUB_CACHE} (the Hugging "
                f"Face cache, set by HF_HOME)"
            )
        else:
            file = (
                Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(where["url"]).path).name
            )
            place = f"put {file.name} (from {where['url']}) in {file.parent} (set by TORCH_HOME)"
        raise UserError(
            f"timm's pretrained weights for {model} are not in the cache and cannot be "
            f"downloaded here; {place}."
        ) from None
    state = {k: v.detach().clone() for k, v in backbone.state_dict().items()}
    return Pretrained(state, None, f"timm {model}")


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a state_dict or Lightning checkpoint file, read without unpickling code."""
    if not path.is_file():
        raise UserError(
            f"source.weights={path} is not a file; give the path of a state_dict or Lightning "
            f"checkpoint (torch.save(module.backbone.state_dict(), 'model.pt'))."
        )
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 (any unreadable file is the same answer)
        raise UserError(
            f"source.weights={path} cannot be read as weights ({type(error).__name__}); save a "
            f"plain state_dict with torch.save(module.backbone.state_dict(), PATH)."
        ) from None
    if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        loaded = loaded["state_dict"]  # a Lightning checkpoint
    if not isinstance(loaded, dict) or not all(torch.is_tensor(v) for v in loaded.values()):
        raise UserError(
            f"source.weights={path} holds no state_dict (a mapping of names to tensors); save "
            f"one with torch.save(module.backbone.state_dict(), PATH)."
        )
    return dict(loaded)


def from_file(weights: str | None, config: dict, channels: int, size: int) -> Pretrained:
    """A local state_dict or Lightning checkpoint, in the backbone's keys, a TransferModule's
    (`backbone.` and `classifier.`) or the library network's own (torchvision's)."""
    path = Path(str(weights)).expanduser()
    loaded = read_weights(path)
    with torch.device("meta"):  # names and shapes only
        backbone = backbone_from_config(config, channels, size)
    state, head = to_backbone_keys(loaded, backbone)
    check_keys(state, backbone, str(path))
    return Pretrained(state, head, f"file {path.resolve()}")


def to_backbone_keys(
    loaded: dict[str, torch.Tensor], backbone: Backbone
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor] | None]:
    """(backbone state, classifier state or None) from weights in any of the keys we know."""
    own = backbone.state_dict()
    native = getattr(backbone, "native_names", {})
    module = any(k.startswith("backbone.") for k in loaded)  # a TransferModule's state
    if module:
        state = {k[len("backbone.") :]: v for k, v in loaded.items() if k.startswith("backbone.")}
        rest = {k: v for k, v in loaded.items() if not k.startswith("backbone.")}
    elif native and not any(k in own for k in loaded):  # the library network's own keys
        state = {native[k]: v for k, v in loaded.items() if k in native}
        rest = {k: v for k, v in loaded.items() if k not in native}
    else:
        state, rest = dict(loaded), {}
    head, head_prefix = None, None
    for prefix in HEAD_PREFIXES:
        found = {k[len(prefix) :]: v for k, v in rest.items() if k.startswith(prefix)}
        if set(found) == {"weight", "bias"} and found["weight"].dim() == 2:
            head, head_prefix = found, prefix
    if not module:  # a module's other heads (binary heads) are not the backbone's; else
        # anything left is a weight the backbone has no place for, and check_keys names it
        state.update(
            {k: v for k, v in rest.items() if head_prefix is None or not k.startswith(head_prefix)}
        )
    return state, head


def check_keys(state: dict[str, torch.Tensor], backbone: Backbone, what: str) -> None:
    """One sentence per kind of mismatch between the weights and the backbone's keys."""
    own = backbone.state_dict()
    name = type(backbone).__name__
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} is {tuple(state[k].shape)} where the backbone needs {tuple(own[k].shape)}"
        for k in own
        if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    sentences = []
    if missing:
        sentences.append(
            f"{what} lacks {len(missing)} of the {name} backbone's {len(own)} weights (e.g. "
            f"{', '.join(missing[:3])}); save the weights of the same backbone as backbone= "
            f"names (module.backbone.state_dict())."
        )
    if unexpected:
        sentences.append(
            f"{what} has {len(unexpected)} weights the {name} backbone has no place for (e.g. "
            f"{', '.join(unexpected[:3])}); check backbone= and its options against the network "
            f"that saved them."
        )
    if shapes:
        sentences.append(
            f"{what} does not fit the {name} backbone in {len(shapes)} weights ({'; '.join(shapes[:3])}); "
            f"build the backbone as the network that saved them was (its options, the images' "
            f"channels)."
        )
    if sentences:
        raise UserError("\n".join(sentences))


def serve_as_trained(cfg: DictConfig) -> None:
    """An image folder left at its defaults (data.image_size, data.mean, data.std null) gets the
    input side and normalisation the pretrained weights were trained on, where they say
    (models/pretrained.expected_input); else the reader's defaults stay (the first image's
    shorter side, statistics measured on the training split). The values are handed down in the
    config, so data/ never asks models/; the pre-flight and the job call this before reading."""
    if cfg.data.get("name") != "image_folder" or pretrained_kind(cfg.source) is None:
        return
    expected = expected_input(cfg)
    if expected is None:
        return
    with open_dict(cfg.data):
        for key in ("image_size", "mean", "std"):
            if cfg.data.get(key) is None:
                cfg.data[key] = expected[key]
