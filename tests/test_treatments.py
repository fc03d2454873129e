"""For every treatment and cut depth: what is copied, frozen, re-initialised, and at which rate."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from tests.conftest import compose
from transfer_lab.data.datasets.digits import load_digits
from transfer_lab.data.tasks import build_job_data
from transfer_lab.errors import UserError
from transfer_lab.job.networks import build_module, target_schedule
from transfer_lab.train.fit import derived_seed
from transfer_lab.transfer.arms import parse_arm
from transfer_lab.transfer.treatments import plan_from_config, plan_treatment

STAGES = ["conv1", "conv2", "fc1", "fc2"]
IMAGES = load_digits()


@pytest.mark.parametrize(
    "arm,expected",
    [
        ("baseB", ("scratch", 0, False)),
        ("B3B", ("selffer", 3, True)),
        ("B3B+", ("selffer", 3, False)),
        ("A1B", ("transfer", 1, True)),
        ("A12B+", ("transfer", 12, False)),
        ("random2B", ("random_frozen", 2, True)),
    ],
)
def test_arm_names_parse(arm, expected):
    assert parse_arm(arm) == expected
    treatment, depth, freeze = expected
    assert plan_treatment(treatment, depth, freeze, [f"s{i}" for i in range(12)]).label == arm


@pytest.mark.parametrize("bad", ["AnB", "C3B", "A3B++", "base"])
def test_bad_arm_names_are_user_errors(bad):
    with pytest.raises(UserError, match="arm"):
        parse_arm(bad)


@pytest.mark.parametrize("treatment", ["scratch", "selffer", "transfer", "random_frozen"])
@pytest.mark.parametrize("n", range(0, 5))
@pytest.mark.parametrize("freeze", [True, False])
def test_plan_for_every_treatment_and_depth(treatment, n, freeze):
    plan = plan_treatment(treatment, n, freeze, STAGES)
    cut = tuple(STAGES[:n])
    expected = {
        "scratch": (None, (), ()),
        "random_frozen": (None, (), cut),
        "transfer": ("A", cut, cut if freeze else ()),
        "selffer": ("B", cut, cut if freeze else ()),
    }[treatment]
    assert (plan.source_task, plan.copied, plan.frozen) == expected


def test_depth_all_and_out_of_range():
    assert plan_treatment("transfer", "all", False, STAGES).copied == tuple(STAGES)
    with pytest.raises(UserError, match="outside 0..4"):
        plan_treatment("transfer", 5, False, STAGES)
    with pytest.raises(UserError, match="unknown"):
        plan_treatment("finetune", 1, False, STAGES)
    assert plan_from_config({"arm": "A2B", "treatment": "scratch"}, STAGES).label == "A2B"
    by_name = plan_treatment("transfer", "conv2", True, STAGES)
    assert by_name.depth == 2 and by_name.frozen == ("conv1", "conv2")
    with pytest.raises(UserError, match="neither a number"):
        plan_treatment("transfer", "conv3", True, STAGES)


def built(arm: str, lr_scale: float = 0.1, freeze_bn_stats: bool = True):
    """The target module a job would build for `arm`, from a source network with known weights."""
    cfg = compose(
        [
            f"transfer.arm={arm}",
            f"transfer.lr_scale={lr_scale}",
            f"transfer.freeze_bn_stats={freeze_bn_stats}",
            "paths.root_dir=.",
        ]
    )
    OmegaConf.resolve(cfg.target)
    task_b = build_job_data(cfg).task_b
    plan = plan_from_config(cfg.transfer, STAGES)
    torch.manual_seed(123)
    source = build_module(cfg, cfg.source, IMAGES, task_b, beta=0.0).backbone.state_dict()
    torch.manual_seed(derived_seed(0, "target"))
    fresh = build_module(cfg, cfg.target, IMAGES, task_b, beta=0.0).backbone.state_dict()
    torch.manual_seed(derived_seed(0, "target"))
    module = build_module(
        cfg,
        target_schedule(cfg.target, plan),
        IMAGES,
        task_b,
        beta=0.0,
        plan=plan,
        source_state=source if plan.source_task else None,
    )
    return module, plan, source, fresh, cfg


@pytest.mark.parametrize("arm", ["baseB", "B2B", "B2B+", "A3B", "A3B+", "A4B+", "random2B"])
def test_target_network_copies_freezes_and_reinitialises_as_planned(arm):
    module, plan, source, fresh, cfg = built(arm)
    state = module.backbone.state_dict()
    for key, value in state.items():
        stage = key.split(".")[1]
        if stage in plan.copied:
            assert torch.equal(value, source[key]), key
        else:  # re-initialised: exactly what a fresh network with the target seed starts from
            assert torch.equal(value, fresh[key]), key
            assert (
                not key.endswith("weight") or value.dim() < 2 or not torch.equal(value, source[key])
            )
    for name in STAGES:
        trainable = {p.requires_grad for p in module.backbone.stages[name].parameters()}
        assert trainable == {name not in plan.frozen}, name
    groups = {g["name"]: g for g in module.configure_optimizers().param_groups}
    base_lr = cfg.target.optim.lr
    assert groups["new"]["lr"] == pytest.approx(base_lr)
    trainable_copied = [s for s in plan.copied if s not in plan.frozen]
    if trainable_copied:
        assert groups["copied"]["lr"] == pytest.approx(base_lr * 0.1)
        assert {id(p) for p in groups["copied"]["params"]} == {
            id(p) for s in trainable_copied for p in module.backbone.stages[s].parameters()
        }
    else:
        assert "copied" not in groups
    in_groups = {id(p) for g in groups.values() for p in g["params"]}
    assert in_groups == {id(p) for p in module.parameters() if p.requires_grad}


def test_frozen_batchnorm_statistics_follow_the_switch():
    for keep, expect_training in ((True, False), (False, True)):
        module, *_ = built("A2B", freeze_bn_stats=keep)
        module.train()
        bn = module.backbone.stages.conv1[1]
        assert isinstance(bn, torch.nn.BatchNorm2d) and bn.training is expect_training
        assert module.backbone.stages.fc1.training  # stages above the cut always train


def test_scratch_networks_have_their_own_length_and_schedule():
    """CS6784 trains B from scratch for 275 epochs with its own drops (rates: test_schedules.py)."""
    cfg = compose(["schedule=cs6784_densenet"])
    scratch = plan_treatment("scratch", 0, False, STAGES)
    random_frozen = plan_treatment("random_frozen", 2, True, STAGES)
    transfer = plan_treatment("transfer", "all", False, STAGES)
    assert target_schedule(cfg.target, scratch).epochs == 275
    assert target_schedule(cfg.target, random_frozen).epochs == 275
    assert target_schedule(cfg.target, transfer).epochs == 100
    starts = [p.epoch for p in target_schedule(cfg.target, scratch).scheduler.phases]
    assert starts == [1, 126, 226]
    assert [p.epoch for p in target_schedule(cfg.target, transfer).scheduler.phases] == [1, 51, 76]


def test_direction_ba_swaps_the_halves():
    ab = build_job_data(compose(["paths.root_dir=.", "data.split_seed=3"]))
    ba = build_job_data(compose(["paths.root_dir=.", "data.split_seed=3", "data.direction=BA"]))
    assert (ba.split.source, ba.split.target) == (ab.split.target, ab.split.source)
    assert ba.task_a.classes == ab.split.target and len(ba.task_a.binary) == 1


def test_an_arm_is_planned_once_for_the_checks_the_planner_and_the_job(monkeypatch):
    from transfer_lab.transfer import treatments

    worked = []
    real = treatments.plan_treatment
    monkeypatch.setattr(
        treatments, "plan_treatment", lambda *a, **k: worked.append(a) or real(*a, **k)
    )
    treatments.planned.cache_clear()
    stages = ["conv1", "conv2", "fc1", "fc2"]
    settings = {"arm": "A3B+", "treatment": "transfer", "depth": "all", "freeze": False}
    asked = [
        plan_from_config(settings, stages),
        plan_from_config(OmegaConf.create(settings), stages),
    ]
    assert asked[0] is asked[1] and asked[0].label == "A3B+"
    assert len(worked) == 1  # the checks' and the job's question: one plan
    plan_from_config({**settings, "arm": "A2B"}, stages)
    assert len(worked) == 2  # another arm: planned on its own


def test_the_job_reads_its_stages_from_the_pre_flights_one_meta_device_build():
    import json

    from transfer_lab.config import checks
    from transfer_lab.job.networks import stage_names

    checks.meta_stage_names.cache_clear()
    cfg = compose(["paths.root_dir=.", "backbone=lenet"])
    images = build_job_data(cfg).source_images
    channels, size, _ = images.shape  # as cli/preflight.check_backbones builds it
    backbone = json.dumps(OmegaConf.to_container(cfg.backbone, resolve=True), sort_keys=True)
    built = checks.meta_stage_names(backbone, channels, size)
    assert stage_names(cfg.backbone, images) == list(built)
    info = checks.meta_stage_names.cache_info()
    assert (info.misses, info.hits) == (1, 1)  # built once, read twice
