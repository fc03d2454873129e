"""Any timm model as a backbone (`backbone=timm backbone.model_name=NAME`, optional `.[timm]`).

timm builds the network; its `feature_info` says where the feature maps are, and each stage
here runs from just after one feature point to the next one (named after timm's module there,
e.g. resnet18: act1 layer1 layer2 layer3 layer4). Everything after the last feature point
(timm's pooling and classifier) is dropped and replaced by global pooling, so cuts, freezing and
measures work as for our own backbones. A network is initialised with the model's own timm
recipe; timm's pretrained weights are loaded only for a pretrained source (job/source.py).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from torch import nn

from transfer_lab.errors import UserError
from transfer_lab.models.backbone import Backbone, global_pool
from transfer_lab.models.registry import register_backbone

INSTALL = "pip install 'transfer_lab[timm]' (or pip install timm)"


def timm_module():
    """The timm package, or one sentence saying how to install it."""
    try:
        import timm
    except ImportError:
        raise UserError(
            f"backbone=timm needs the timm package; install it with {INSTALL}."
        ) from None
    return timm


def feature_net(model_name: str, in_channels: int, pretrained: bool = False) -> nn.Module:
    """timm's feature extractor for `model_name`: a dict of modules with `return_layers`.

    Models whose own features class is not such a dict (EfficientNet, MobileNet) are wrapped
    whole in timm's FeatureDictNet; models without a module at each feature point (ViTs read
    theirs through hooks) are refused.
    """
    timm = timm_module()
    from timm.models import _features

    dict_net = _features.FeatureDictNet
    # features read through hooks or getters (ViTs) have no module at each feature point
    unsupported = tuple(
        getattr(_features, name)
        for name in ("FeatureGetterNet", "FeatureHookNet")
        if hasattr(_features, name)
    )

    if not timm.is_model(model_name):
        close = timm.list_models(f"*{model_name}*")[:5]
        hint = f" (close names: {', '.join(close)})" if close else ""
        raise UserError(
            f"timm has no model named {model_name!r}{hint}; list them with "
            f"python -c \"import timm; print(timm.list_models('resnet*'))\"."
        )
    common = {"pretrained": pretrained, "in_chans": in_channels}
    try:
        net = timm.create_model(model_name, features_only=True, **common)
        if isinstance(net, dict_net):
            return net
        if isinstance(net, unsupported):
            raise ValueError(f"timm reads its features through {type(net).__name__}")
        return dict_net(timm.create_model(model_name, **common), flatten_sequential=True)
    except (AssertionError, IndexError, RuntimeError, TypeError, ValueError) as error:
        raise UserError(
            f"timm's {model_name} has no feature maps at named modules ({error}); choose a "
            f"convolutional model such as resnet18, convnext_atto, regnetx_002 or efficientnet_b0."
        ) from None


def pretrained_config(model_name: str) -> dict[str, Any]:
    """The input size, mean and std timm's pretrained weights for `model_name` expect."""
    timm = timm_module()
    config = timm.get_pretrained_cfg(model_name)
    config = config.to_dict() if config is not None else {}
    return {k: config.get(k) for k in ("input_size", "mean", "std", "hf_hub_id", "url")}


class TimmBackbone(Backbone):
    """A timm model cut into stages at its feature points, ending in pooled features."""

    def __init__(
        self, model_name: str, in_channels: int = 3, image_size: int = 224, pretrained: bool = False
    ) -> None:
        net = feature_net(model_name, in_channels, pretrained)
        points = dict(net.return_layers)
        stages: dict[str, nn.Module] = {}
        pending: list[tuple[str, nn.Module]] = []
        for name, module in net.named_children():
            pending.append((name, module))
            if name in points:
                stages[name] = nn.Sequential(OrderedDict(pending))
                pending = []
        last = list(stages)[-1]
        stages[last].add_module("pool", global_pool())
        self.model_name, self.in_channels = model_name, in_channels
        self.timm_initialised = True  # timm's constructor drew the weights with its own recipe
        super().__init__(stages, feature_dim=net.feature_info.channels()[-1])
        self.timm_initialised = False

    def init_stage(self, name: str, stage: nn.Module) -> None:
        """The model's own timm initialisation: kept at construction, drawn again otherwise."""
        if self.timm_initialised:
            return
        fresh = TimmBackbone(self.model_name, in_channels=self.in_channels)
        stage.load_state_dict(fresh.stages[name].state_dict())


@register_backbone("timm", default_input=(3, 224))
def timm_backbone(
    model_name: str = "resnet18", in_channels: int = 3, image_size: int = 224
) -> TimmBackbone:
    """Any timm model with feature maps at named modules (timm's `feature_info`)."""
    return TimmBackbone(model_name, in_channels, image_size)
