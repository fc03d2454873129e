"""backbone=timm: any timm model cut at its feature_info points, with our surgery, freezing and
measures (timm is the optional `.[timm]`, installed by `make`)."""

from __future__ import annotations

import json

import pytest
import torch

from tests.test_backbones_end_to_end import TINY_JOB
from tests.test_pretrained import needs_timm
from transfer_lab.errors import UserError
from transfer_lab.models import create_backbone

timm = needs_timm()


def test_stages_are_timms_feature_points_and_end_in_pooled_features():
    backbone = create_backbone("timm", 1, 8, model_name="resnet18")
    info = timm.create_model("resnet18", features_only=True).feature_info
    assert (
        backbone.stage_names
        == info.module_name()
        == ["act1", "layer1", "layer2", "layer3", "layer4"]
    )
    assert backbone.feature_dim == info.channels()[-1] == 512
    assert backbone(torch.zeros(2, 1, 8, 8)).shape == (2, 512)
    x = torch.zeros(2, 1, 8, 8)
    for name, stage, channels in zip(
        backbone.stage_names, backbone.stages.values(), info.channels(), strict=True
    ):
        x = stage(x)
        assert x.shape[1] == channels, name


def test_other_families_and_the_meta_device():
    assert create_backbone("timm", 3, 32, model_name="convnext_atto").stage_names == [
        "stages_0",
        "stages_1",
        "stages_2",
        "stages_3",
    ]
    # EfficientNet's own features class is wrapped whole in timm's FeatureDictNet
    assert len(create_backbone("timm", 3, 32, model_name="efficientnet_b0").stage_names) == 5
    with torch.device("meta"):
        assert create_backbone("timm", 3, 224).stage_names[-1] == "layer4"


def test_reinit_draws_exactly_the_named_stages_again_with_timms_recipe():
    backbone = create_backbone("timm", 1, 8, model_name="resnet18")
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    backbone.reinit(["layer2"])
    after = backbone.state_dict()
    assert all(
        torch.equal(before[k], after[k]) for k in after if not k.startswith("stages.layer2.")
    )
    assert not torch.equal(
        before["stages.layer2.layer2.0.conv1.weight"], after["stages.layer2.layer2.0.conv1.weight"]
    )
    assert torch.equal(after["stages.layer2.layer2.0.bn1.weight"], torch.ones(128))  # timm: unit BN


def test_unknown_and_unsupported_models_are_one_sentence():
    with pytest.raises(UserError, match="timm has no model named 'resnt18'"):
        create_backbone("timm", 3, 32, model_name="resnt18")
    with pytest.raises(
        UserError, match="vit_tiny_patch16_224 has no feature maps at named modules"
    ):
        create_backbone("timm", 3, 224, model_name="vit_tiny_patch16_224")


def test_list_backbones_shows_timms_stages(cli):
    out = cli(["list", "backbones", "--pattern", "timm"]).stdout
    assert "timm" in out and "act1 layer1 layer2 layer3" in out


@pytest.mark.slow
def test_a_tiny_digits_sweep_through_every_cut_depth_of_timm_resnet18(cli):
    """baseB, AnB at every depth, A5B+ and B2B, with the measures, on the 8×8 digits."""
    arms = ["baseB", "A1B", "A2B", "A3B", "A4B", "A5B", "A5B+", "B2B"]
    cli(
        [
            "sweep",
            "backbone=timm",
            "backbone.model_name=resnet18",
            f"transfer.arm={','.join(arms)}",
            "measures.enabled=true",
            *TINY_JOB,
        ]
    )
    (sweep,) = (cli.cwd / "multirun").glob("*/*")
    results = [json.loads(p.read_text()) for p in sweep.glob("[0-9]*/results.json")]
    done = {r["label"]: r for r in results if r["status"] == "ok"}
    assert set(done) == set(arms)
    assert done["A3B"]["stages"] == ["act1", "layer1", "layer2", "layer3", "layer4"]
    assert len(done["A1B"]["source"]["measures"]["knn"]) == 5
    assert (sweep / "agreement.csv").exists()
