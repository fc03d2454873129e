"""Backbones: shapes on 1- and 3-channel inputs, the papers' parameter counts, stages, reinit,
the registry and the listing."""

from __future__ import annotations

import math
from functools import cache

import pytest
import torch
from torch import nn
from torchvision import models

from transfer_lab.cli.listing import abbreviate, backbone_configs, backbone_rows
from transfer_lab.errors import UserError
from transfer_lab.models import create_backbone, list_backbones, register_backbone
from transfer_lab.models import registry as registry_module
from transfer_lab.models.registry import backbone_from_config, default_input

STAGES = {
    "lenet": ["conv1", "conv2", "fc1", "fc2"],
    "densenet_bc": ["stem", "block1", "trans1", "block2", "trans2", "block3"],
    "wrn28_10": ["stem", "group1", "group2", "group3"],
    "resnet20": ["stem", "layer1", "layer2", "layer3"],
    "resnet56": ["stem", "layer1", "layer2", "layer3"],
    "alexnet_yosinski": ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7"],
    "alexnet_yosinski32": ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7"],
    "resnet18": ["stem", "layer1", "layer2", "layer3", "layer4"],
    "resnet50": ["stem", "layer1", "layer2", "layer3", "layer4"],
    "densenet121": [
        "stem",
        "denseblock1",
        "transition1",
        "denseblock2",
        "transition2",
        "denseblock3",
        "transition3",
        "denseblock4",
    ],
}
NAMES = sorted(STAGES)


def options(name: str) -> dict:
    """The keyword arguments in conf/backbone/NAME.yaml."""
    return {k: v for k, v in backbone_configs()[name].items() if k != "name"}


@cache
def built(name: str, in_channels: int = 3, image_size: int | None = None) -> nn.Module:
    torch.manual_seed(0)
    size = image_size or default_input(name)[1]
    return create_backbone(name, in_channels, size, **options(name)).eval()


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def with_classifier(name: str, classes: int) -> int:
    """Parameters of backbone + Linear(feature_dim, classes), as the papers count them."""
    backbone = built(name)
    return count(backbone) + backbone.feature_dim * classes + classes


def test_every_registered_backbone_has_a_config_and_is_tested():
    assert set(NAMES) <= set(list_backbones())
    assert set(list_backbones()) <= set(backbone_configs())
    assert {cfg["name"] for cfg in backbone_configs().values()} <= set(list_backbones())


@pytest.mark.parametrize("name", NAMES)
def test_stages_are_the_declared_ones_and_cover_every_parameter(name):
    backbone = built(name)
    assert backbone.stage_names == STAGES[name]
    prefixes = tuple(f"stages.{s}." for s in backbone.stage_names)
    assert all(key.startswith(prefixes) for key in backbone.state_dict())


# CIFAR-designed nets also run at their own 32×32; the rest at 8×8 (digits), which keeps this fast
DESIGNED_32 = {"densenet_bc", "resnet20", "alexnet_yosinski32"}


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("name", NAMES)
def test_forward_gives_pooled_features_for_1_and_3_channel_images(name, channels):
    side = 32 if channels == 3 and name in DESIGNED_32 else 8
    if name == "alexnet_yosinski":
        side = 16  # its 11×11 stride-4 conv1 needs more than 8 pixels
    backbone = built(name, channels, side)
    with torch.no_grad():
        out = backbone(torch.randn(2, channels, side, side))
    assert out.shape == (2, backbone.feature_dim)
    assert torch.isfinite(out).all()


def test_too_small_images_are_a_user_error_that_names_the_fix():
    with pytest.raises(UserError, match="data.image_size"):
        create_backbone("alexnet_yosinski", 1, 8)
    with pytest.raises(UserError, match="data.image_size"):
        create_backbone("lenet", 1, 2)


def test_densenet_bc_100_has_800032_parameters_with_a_100_way_classifier():
    assert with_classifier("densenet_bc", 100) == 800_032
    assert built("densenet_bc").feature_dim == 342


def test_densenet_bc_per_layer_stages_for_the_cs6784_grid():
    blocks = built("densenet_bc")
    layers = create_backbone("densenet_bc", 3, 32, **{**options("densenet_bc"), "stages": "layers"})
    assert count(layers) == count(blocks)
    names = layers.stage_names
    assert len(names) == 1 + 3 * 16 + 2
    assert names[:3] == ["stem", "block1_layer01", "block1_layer02"]
    assert names[16:19] == ["block1_layer16", "trans1", "block2_layer01"]
    assert names[-1] == "block3_layer16"
    # "freeze up to block 2, layer 5" is the cut depth just after that stage
    assert names.index("block2_layer05") + 1 == 1 + 16 + 1 + 5
    assert backbone_configs()["densenet_bc_layers"]["stages"] == "layers"
    with torch.no_grad():
        assert layers.eval()(torch.randn(2, 3, 32, 32)).shape == (2, 342)


def test_wrn_28_10_has_36_5_million_parameters():
    backbone = built("wrn28_10")
    assert backbone.feature_dim == 640
    assert with_classifier("wrn28_10", 10) == 36_479_194  # the count usually quoted (CIFAR-10)
    assert with_classifier("wrn28_10", 100) == 36_536_884  # 36.5 M on CIFAR-100
    assert any(isinstance(m, nn.Dropout) and m.p == 0.3 for m in backbone.modules())


def test_cifar_resnets_match_he_et_al():
    assert with_classifier("resnet20", 10) == 269_722  # 0.27 M
    assert with_classifier("resnet56", 10) == 853_018  # 0.85 M


def test_yosinski_224_is_caffes_reference_model():
    assert with_classifier("alexnet_yosinski", 1000) == 60_965_224  # CaffeNet with fc8
    backbone = built("alexnet_yosinski")
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        for name in ("conv1", "conv2", "conv3", "conv4", "conv5"):
            x = backbone.stages[name](x)
    assert x.shape == (1, 256, 6, 6)  # pool5 as in the paper; fc6 reads 9216 values
    assert backbone.feature_dim == 4096


def test_yosinski_32_keeps_the_eight_layers():
    backbone = built("alexnet_yosinski32")
    convs = [m for m in backbone.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in backbone.modules() if isinstance(m, nn.Linear)]
    assert len(convs) == 5 and len(linears) == 2  # + fc8, the module's classifier
    assert count(backbone) == 7_551_360


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "densenet121"])
def test_torchvision_backbones_are_torchvision_without_its_classifier(name):
    reference = getattr(models, name)(weights=None)
    assert with_classifier(name, 1000) == count(reference)
    assert not any(isinstance(m, nn.Linear) for m in built(name).modules())


def test_lenet_leaves_fc3_to_the_classifier_head():
    backbone = built("lenet")
    assert backbone.feature_dim == 128
    assert [m for m in backbone.stages["fc2"].modules() if isinstance(m, nn.Linear)][
        0
    ].out_features == 128


# ----------------------------------------------------------------------------- reinit
SMALL = {"wrn28_10": {"depth": 10, "width": 2}, "alexnet_yosinski": {"hidden": 512}}


def fresh(name: str, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return create_backbone(name, 3, 32, **{**options(name), **SMALL.get(name, {})})


@pytest.mark.parametrize("name", [n for n in NAMES if n != "resnet50"])  # resnet18's class
def test_reinit_changes_exactly_the_named_stage_and_redraws_it_the_same_way(name):
    reference = fresh(name, 0).state_dict()
    backbone = fresh(name, 1)
    with torch.no_grad():  # mark every tensor, so a change anywhere shows
        for tensor in backbone.state_dict().values():
            tensor.fill_(0.123 if tensor.is_floating_point() else 7)
    stage = backbone.stage_names[len(backbone.stage_names) // 2]
    backbone.reinit([stage])
    prefix = f"stages.{stage}."
    changed = 0
    for key, tensor in backbone.state_dict().items():
        marked = torch.full_like(tensor, 0.123 if tensor.is_floating_point() else 7)
        if not key.startswith(prefix):
            assert torch.equal(tensor, marked), f"{key} outside {stage} changed"
            continue
        assert not torch.equal(tensor, marked), f"{key} in {stage} was not re-initialised"
        changed += 1
        expected = reference[key]
        if not expected.is_floating_point():
            assert torch.equal(tensor, expected)
        elif torch.all(expected == expected.flatten()[0]):
            assert torch.equal(tensor, expected), f"{key}: constant init differs"
        elif expected.numel() >= 256:
            ratio = tensor.std() / expected.std()
            assert 0.85 < ratio < 1.15, f"{key}: std {tensor.std():.4g} vs {expected.std():.4g}"
    assert changed


def conv_std(conv: nn.Conv2d, mode: str) -> float:
    k = conv.kernel_size[0] * conv.kernel_size[1]
    fan = k * (conv.out_channels if mode == "fan_out" else conv.in_channels // conv.groups)
    return math.sqrt(2 / fan)


@pytest.mark.parametrize(
    ("name", "mode"),
    [
        ("densenet_bc", "fan_out"),
        ("wrn28_10", "fan_out"),
        ("resnet20", "fan_in"),
        ("resnet18", "fan_out"),
        ("densenet121", "fan_in"),
    ],
)
def test_he_init_as_each_paper_says(name, mode):
    backbone = fresh(name, 0)
    backbone.reinit(backbone.stage_names[-1:])
    convs = [
        m
        for m in backbone.stages[backbone.stage_names[-1]].modules()
        if isinstance(m, nn.Conv2d) and m.weight.numel() > 2000
    ]
    assert convs
    for conv in convs:
        assert conv.weight.std().item() == pytest.approx(conv_std(conv, mode), rel=0.1)


def test_yosinski_uses_caffes_gaussians_and_constant_biases():
    backbone = fresh("alexnet_yosinski32", 0)
    backbone.reinit(["conv2", "fc6"])
    conv2 = backbone.stages["conv2"].conv
    fc6 = backbone.stages["fc6"].fc
    assert conv2.weight.std().item() == pytest.approx(0.01, rel=0.05)
    assert fc6.weight.std().item() == pytest.approx(0.005, rel=0.05)
    assert torch.all(conv2.bias == 1) and torch.all(fc6.bias == 1)
    assert torch.all(backbone.stages["conv1"].conv.bias == 0)


def test_heads_follow_the_backbones_paper():
    from functools import partial

    from transfer_lab.models.classifier import TransferModule

    def module_for(name: str) -> TransferModule:
        backbone = fresh(name, 0)
        return TransferModule(
            backbone,
            5,
            partial(torch.optim.SGD, lr=0.1),
            binary_partitions=torch.zeros(2, 5, dtype=torch.long).numpy(),
        )

    caffe = module_for("alexnet_yosinski32")  # fc8: N(0, 0.01²), zero bias
    for head in (caffe.classifier, *caffe.binary_heads):
        assert torch.all(head.bias == 0)
    assert caffe.classifier.weight.std().item() == pytest.approx(0.01, rel=0.1)
    dense = module_for("densenet_bc")  # the authors' code: zero bias
    assert torch.all(dense.classifier.bias == 0)
    default = module_for("resnet20")  # PyTorch's default, as built
    assert not torch.all(default.classifier.bias == 0)


def test_reinit_of_an_unknown_stage_names_the_stages():
    with pytest.raises(KeyError, match="stem"):
        built("resnet20").reinit(["layer9"])


# ----------------------------------------------------------------------------- registry
def test_list_backbones_by_pattern():
    assert list_backbones("resnet*") == ["resnet18", "resnet20", "resnet50", "resnet56"]
    assert list_backbones("alexnet*") == ["alexnet_yosinski", "alexnet_yosinski32"]
    assert list_backbones("nothing*") == []


def test_unknown_name_or_option_is_a_user_error():
    with pytest.raises(UserError, match="no backbone named 'resnet19'.*transfer_lab list"):
        create_backbone("resnet19", 3, 32)
    with pytest.raises(UserError, match="no option 'depth'.*width, shortcut"):
        create_backbone("resnet20", 3, 32, depth=32)
    with pytest.raises(UserError, match="backbone.stages"):
        create_backbone("densenet_bc", 3, 32, stages="dense")


def test_a_user_registers_a_backbone_by_name():
    from tests.user_backbone import TinyNet

    register_backbone("tiny_user", default_input=(1, 8))(TinyNet)
    try:
        assert "tiny_user" in list_backbones("tiny*")
        backbone = create_backbone("tiny_user", 1, 8, width=5)
        assert backbone.stage_names == ["conv", "pool"] and backbone.feature_dim == 5
        with pytest.raises(ValueError, match="already registered"):
            register_backbone("tiny_user")(lambda **kw: None)
    finally:
        registry_module._REGISTRY.pop("tiny_user", None)
        registry_module._DEFAULT_INPUT.pop("tiny_user", None)


def test_a_user_backbone_from_a_target_in_the_config():
    from tests.conftest import compose

    cfg = compose(
        ["~backbone", "+backbone._target_=tests.user_backbone.TinyNet", "+backbone.width=6"]
    )
    backbone = backbone_from_config(cfg.backbone, 1, 8)
    assert backbone.feature_dim == 6 and backbone.stage_names == ["conv", "pool"]
    assert backbone(torch.randn(2, 1, 8, 8)).shape == (2, 6)


def test_a_config_variant_composes_to_its_backbone():
    from tests.conftest import compose

    cfg = compose(["backbone=densenet_bc_layers"])
    assert cfg.backbone.name == "densenet_bc" and cfg.backbone.stages == "layers"


# ----------------------------------------------------------------------------- listing
def test_listing_rows_have_each_config_variant_with_its_stages():
    rows = {
        choice: (params, width, stages)
        for choice, params, width, stages in backbone_rows("densenet_bc*")
    }
    assert set(rows) == {"densenet_bc", "densenet_bc_layers"}
    assert rows["densenet_bc"] == (count(built("densenet_bc")), 342, STAGES["densenet_bc"])
    assert rows["densenet_bc_layers"][2][-1] == "block3_layer16"


def test_long_stage_lists_are_folded_readably():
    layers = create_backbone("densenet_bc", 3, 32, stages="layers").stage_names
    assert abbreviate(layers) == (
        "stem block1_layer01…16 trans1 block2_layer01…16 trans2 block3_layer01…16 (51 stages)"
    )
    assert abbreviate(STAGES["densenet121"]) == " ".join(STAGES["densenet121"])


def test_digits_resized_for_bigger_backbones_stay_uint8_with_the_same_split():
    from transfer_lab.data.datasets.digits import load_digits

    small, big = load_digits(), load_digits(image_size=32)
    assert small.shape == (1, 8, 8) and big.shape == (1, 32, 32)
    assert big.train_images.dtype == torch.uint8
    assert torch.equal(small.train_labels, big.train_labels)
    assert torch.equal(small.test_labels, big.test_labels)
    mean_small = small.train_images.float().mean().item()
    assert big.train_images.float().mean().item() == pytest.approx(mean_small, rel=0.05)
    with pytest.raises(UserError, match="data.image_size"):
        load_digits(image_size=0)
