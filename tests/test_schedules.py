"""Each paper's learning rates, epoch by epoch, from the optimizer and scheduler a job builds.

The expected numbers are the originals', each test naming where they are:
- CS6784: matham/cs6784_2017, train.py at commit 30d2bedc (the version with --wrn and
  --nFTEpochs), by function: adjust_opt, adjust_opt_wrn, adjust_opt_transfer,
  adjust_opt_transfer_baseline, run_transfer_dset_b; run commands in saved_results/readme.txt.
- Yosinski et al. 2014: yosinski/convnet_transfer, results/*/imagenet_solver.prototxt and
  results/netbase/imagenet_train.prototxt.
- Wide ResNet: Zagoruyko & Komodakis 2016, section 4; szagoruyko/wide-residual-networks.
Epochs are 1-based throughout, as the originals count them.
"""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch

from tests.conftest import compose
from transfer_lab.config.paths import config_dir
from transfer_lab.data.datasets.digits import load_digits
from transfer_lab.data.loading import datamodule_for
from transfer_lab.data.tasks import build_job_data
from transfer_lab.errors import UserError
from transfer_lab.job.networks import build_module, target_schedule
from transfer_lab.models.schedules import PhaseRates, multistep
from transfer_lab.train.callbacks import LearningRateHistory
from transfer_lab.transfer.treatments import plan_from_config

IMAGES = load_digits()
STAGES = ["conv1", "conv2", "fc1", "fc2"]
OFFLINE = ["data=digits", "backbone=lenet", "paths.root_dir=."]


def built(overrides: list[str], stage: str = "target", arm: str = "A4B+"):
    """The module a job builds for `stage` under these overrides, and the stage's config."""
    cfg = compose([*overrides, *OFFLINE, f"transfer.arm={arm}"])
    job = build_job_data(cfg)
    if stage == "source":
        module = build_module(cfg, cfg.source, IMAGES, job.task_a, float(cfg.model.beta))
        return module, cfg, cfg.source
    plan = plan_from_config(cfg.transfer, STAGES)
    stage_cfg = target_schedule(cfg.target, plan)
    source = build_module(cfg, cfg.source, IMAGES, job.task_a, 0.0).backbone.state_dict()
    module = build_module(cfg, stage_cfg, IMAGES, job.task_b, 0.0, plan, source)
    return module, cfg, stage_cfg


def stage_rates(overrides: list[str], stage: str = "target", arm: str = "A4B+"):
    """Each group's rate in every epoch of the stage, stepping the real optimizer and scheduler."""
    module, cfg, stage_cfg = built(overrides, stage, arm)
    configured = module.configure_optimizers()
    optimizer = configured["optimizer"]
    scheduler = configured["lr_scheduler"]["scheduler"]
    history: dict[str, list[float]] = {g["name"]: [] for g in optimizer.param_groups}
    for _ in range(int(stage_cfg.epochs)):
        for group in optimizer.param_groups:
            history[group["name"]].append(group["lr"])
        optimizer.step()  # no gradients: a no-op that keeps torch's step order
        scheduler.step()
    return history, optimizer, cfg


def at(history: dict[str, list[float]], group: str, epoch: int) -> float:
    return history[group][epoch - 1]


CS6784_DENSENET = [
    ["schedule=cs6784_densenet"],
    ["+experiment=densenet_beta"],
    ["+experiment=densenet_beta_k4"],
    ["+experiment=densenet_beta_k10"],
    ["+experiment=imagenet100_beta"],
]


@pytest.mark.parametrize("overrides", CS6784_DENSENET)
def test_cs6784_transfer_sets_absolute_rates_per_group(overrides):
    """train.py run_transfer_dset_b: groups [reset 0.1, fine-tuned 0.01]; adjust_opt_transfer sets
    both to 0.01 at epoch 51 and 0.001 at 76; --nFTEpochs default 100."""
    history, optimizer, _ = stage_rates(overrides)
    expected = {1: (0.1, 0.01), 50: (0.1, 0.01), 51: (0.01, 0.01), 75: (0.01, 0.01)}
    expected |= {76: (0.001, 0.001), 100: (0.001, 0.001)}
    for epoch, (new, copied) in expected.items():
        assert at(history, "new", epoch) == pytest.approx(new), epoch
        assert at(history, "copied", epoch) == pytest.approx(copied), epoch
    assert len(history["new"]) == 100
    group = optimizer.param_groups[0]
    assert (group["momentum"], group["weight_decay"], group["nesterov"]) == (0.9, 1e-4, False)


@pytest.mark.parametrize("overrides", CS6784_DENSENET)
def test_cs6784_scratch_on_b_runs_275_epochs_with_its_own_drops(overrides):
    """train.py run_transfer_dset_b without blocks: epochs = 275; adjust_opt_transfer_baseline
    sets 0.01 at epoch 126 and 0.001 at 226."""
    history, _, _ = stage_rates(overrides, arm="baseB")
    assert set(history) == {"new"} and len(history["new"]) == 275
    for epoch, rate in {1: 0.1, 125: 0.1, 126: 0.01, 225: 0.01, 226: 0.001, 275: 0.001}.items():
        assert at(history, "new", epoch) == pytest.approx(rate), epoch


@pytest.mark.parametrize("overrides", CS6784_DENSENET)
def test_cs6784_source_on_a_runs_175_epochs(overrides):
    """train.py run_transfer: range(1, nEpochs + 1) with --nEpochs 175; adjust_opt sets 0.1 at
    epoch 1, 0.01 at 126, 0.001 at 151; batch 64 (--batchSz; 45 for ImageNet, readme.txt)."""
    history, _, cfg = stage_rates(overrides, stage="source")
    assert len(history["new"]) == 175
    for epoch, rate in {1: 0.1, 125: 0.1, 126: 0.01, 150: 0.01, 151: 0.001, 175: 0.001}.items():
        assert at(history, "new", epoch) == pytest.approx(rate), epoch
    imagenet = "+experiment=imagenet100_beta" in overrides
    assert cfg.data.batch_size == (45 if imagenet else 64)


def test_cs6784_wrn_recipe_is_wrn_betas():
    """train.py with --wrn --nEpochs 112 --nFTEpochs 71 (readme.txt, wrn-baseline): SGD 0.1,
    momentum 0.9, wd 1e-4, no Nesterov, batch 64; adjust_opt_wrn x0.2 at epoch 60 (120 and
    160 never come); on B adjust_opt_transfer: new 0.1 / copied 0.01, both 0.01 from 51."""
    source, optimizer, cfg = stage_rates(["+experiment=wrn_beta"], stage="source")
    assert len(source["new"]) == 112 and cfg.data.batch_size == 64
    for epoch, rate in {1: 0.1, 59: 0.1, 60: 0.02, 112: 0.02}.items():
        assert at(source, "new", epoch) == pytest.approx(rate), epoch
    group = optimizer.param_groups[0]
    assert (group["momentum"], group["weight_decay"], group["nesterov"]) == (0.9, 1e-4, False)
    target, _, _ = stage_rates(["+experiment=wrn_beta"])
    assert len(target["new"]) == 71
    for epoch, (new, copied) in {1: (0.1, 0.01), 50: (0.1, 0.01), 51: (0.01, 0.01)}.items():
        assert (at(target, "new", epoch), at(target, "copied", epoch)) == pytest.approx(
            (new, copied)
        ), epoch
    assert at(target, "new", 71) == pytest.approx(0.01)


def test_wrn_authors_recipe_keeps_its_own_name():
    """WRN paper section 4 / wide-residual-networks defaults: batch 128, SGD 0.1 with Nesterov,
    wd 5e-4, x0.2 at epochs 60, 120, 160 of 200 (on_start_epoch: epoch = state['epoch'] + 1)."""
    history, optimizer, cfg = stage_rates(["schedule=wrn"], stage="source")
    assert len(history["new"]) == 200 and cfg.data.batch_size == 128
    expected = {59: 0.1, 60: 0.02, 119: 0.02, 120: 0.004, 159: 0.004, 160: 0.0008}
    for epoch, rate in expected.items():
        assert at(history, "new", epoch) == pytest.approx(rate), epoch
    group = optimizer.param_groups[0]
    assert (group["weight_decay"], group["nesterov"]) == (5e-4, True)


@pytest.mark.parametrize("stage", ["source", "target"])
def test_yosinski_runs_caffes_reference_solver_in_epochs(stage):
    """imagenet_solver.prototxt: base_lr 0.01, gamma 0.1, stepsize 100000, max_iter 450000,
    momentum 0.9, weight_decay 0.0005; imagenet_train.prototxt: batchsize 256 and, per layer,
    blobs_lr 1/2 and weight_decay 1/0 (lines 30-33 for conv1). One 645k-image half is 2,519.5
    iterations: drops after 39.7, 79.4, 119.1, 158.8 epochs, 178.6 in all."""
    history, optimizer, cfg = stage_rates(["+experiment=yosinski"], stage=stage)
    assert len(history["new"]) == 179 and cfg.data.batch_size == 256
    weights = {1: 0.01, 40: 0.01, 41: 1e-3, 79: 1e-3, 80: 1e-4, 119: 1e-4, 120: 1e-5}
    weights |= {159: 1e-5, 160: 1e-6, 179: 1e-6}
    roles = ["new", "copied"] if stage == "target" else ["new"]
    for role in roles:  # copied layers train at the base rate: one solver for every network
        for epoch, rate in weights.items():
            assert at(history, role, epoch) == pytest.approx(rate), (role, epoch)
            assert at(history, f"{role}.bias", epoch) == pytest.approx(2 * rate), (role, epoch)
    decay = {g["name"]: g["weight_decay"] for g in optimizer.param_groups}
    assert decay == {
        **{role: 5e-4 for role in roles},
        **{f"{role}.bias": 0.0 for role in roles},
    }
    assert all(g["momentum"] == 0.9 and not g["nesterov"] for g in optimizer.param_groups)


def test_bias_groups_hold_exactly_the_biases():
    module, *_ = built(["+experiment=yosinski"])
    groups = {g["name"]: g for g in module.configure_optimizers()["optimizer"].param_groups}
    named = dict(module.named_parameters())
    copied = {id(p) for s in STAGES for p in module.backbone.stages[s].parameters()}
    for name, group in groups.items():
        role, _, kind = name.partition(".")
        expected = {
            id(p)
            for n, p in named.items()
            if n.endswith("bias") == (kind == "bias") and (id(p) in copied) == (role == "copied")
        }
        assert {id(p) for p in group["params"]} == expected, name
    assert sum(len(g["params"]) for g in groups.values()) == len(named)


def test_lr_scale_still_scales_the_copied_stages_under_a_multistep_schedule():
    history, _, _ = stage_rates(["schedule=yosinski", "transfer.lr_scale=0.1"])
    assert at(history, "new", 40) == pytest.approx(0.01)
    assert at(history, "copied", 40) == pytest.approx(0.001)
    assert at(history, "copied", 41) == pytest.approx(0.0001)
    assert at(history, "copied.bias", 41) == pytest.approx(0.0002)


def test_lr_scale_under_phases_is_refused_rather_than_ignored():
    module, *_ = built(["schedule=cs6784_densenet", "transfer.lr_scale=0.1"])
    with pytest.raises(UserError, match="lr_scale"):
        module.configure_optimizers()


def test_multistep_milestones_are_first_epochs_at_the_new_rate():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = multistep(optimizer, milestones=[3, 5], gamma=0.1)
    seen = []
    for _ in range(6):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert seen == pytest.approx([1.0, 1.0, 0.1, 0.1, 0.01, 0.01])


def two_groups() -> torch.optim.Optimizer:
    return torch.optim.SGD(
        [
            {"name": "new", "params": [torch.nn.Parameter(torch.zeros(1))]},
            {"name": "copied", "params": [torch.nn.Parameter(torch.zeros(1))]},
        ],
        lr=1.0,
    )


@pytest.mark.parametrize(
    "phases,message",
    [
        ([{"epoch": 2, "new": 0.1, "copied": 0.1}], "start at epoch 1"),
        ([{"epoch": 1, "new": 0.1, "copied": 0.1}, {"epoch": 1, "new": 0.1}], "increasing"),
        ([{"new": 0.1, "copied": 0.1}], "no epoch"),
        ([{"epoch": 1, "new": 0.1}], "no rate for the parameter group 'copied'"),
        ([{"epoch": 0, "new": 0.1, "copied": 0.1}], "1-based"),
    ],
)
def test_bad_phases_say_what_to_fix(phases, message):
    with pytest.raises(UserError, match=message):
        PhaseRates(two_groups(), phases)


def test_lightning_trains_each_epoch_at_the_rate_the_phases_give(tmp_path):
    """The fit loop steps the scheduler between epochs: epoch 3 is the first at the new rate."""
    overrides = [
        "scheduler@target.scheduler=phases",
        "target.epochs=4",
        "+target.scheduler.phases=[{epoch: 1, new: 0.1, copied: 0.01}, {epoch: 3, new: 0.02, copied: 0.02}]",
    ]
    cfg = compose([*overrides, *OFFLINE, "transfer.arm=A2B+"])
    job = build_job_data(cfg)
    plan = plan_from_config(cfg.transfer, STAGES)
    source = build_module(cfg, cfg.source, IMAGES, job.task_a, 0.0).backbone.state_dict()
    module = build_module(cfg, cfg.target, IMAGES, job.task_b, 0.0, plan, source)
    history = LearningRateHistory()
    trainer = pl.Trainer(
        max_epochs=4,
        limit_train_batches=1,
        limit_val_batches=0,
        callbacks=[history],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        default_root_dir=tmp_path,
    )
    trainer.fit(module, datamodule=datamodule_for(job.target_images, job.task_b, seed=0))
    assert history.history == {
        "new": pytest.approx([0.1, 0.1, 0.02, 0.02]),
        "copied": pytest.approx([0.01, 0.01, 0.02, 0.02]),
    }


EXPERIMENTS = sorted(p.stem for p in config_dir().joinpath("experiment").glob("*.yaml"))


@pytest.mark.parametrize("experiment", EXPERIMENTS)
@pytest.mark.parametrize("arm", ["A4B+", "baseB"])
def test_every_experiments_schedule_builds_for_every_kind_of_network(experiment, arm):
    """Each stage's optimizer and scheduler build: every phase names every group's rate."""
    for stage in ("source", "target") if arm == "A4B+" else ("target",):
        module, *_ = built([f"+experiment={experiment}"], stage, arm)
        configured = module.configure_optimizers()
        optimizer = configured["optimizer"] if isinstance(configured, dict) else configured
        assert {g["role"] for g in optimizer.param_groups} <= {"new", "copied"}
