"""Every config composes, and the keys users type exist where DESIGN.md says."""

from __future__ import annotations

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from tests.conftest import compose
from transfer_lab.config.paths import config_dir
from transfer_lab.sweep.grid import count_jobs

GROUPS = {
    g: sorted(p.stem for p in (config_dir() / g).glob("*.yaml"))
    for g in ("experiment", "data", "backbone", "optim", "scheduler", "trainer", "launcher")
}


@pytest.mark.parametrize("name", GROUPS["experiment"])
def test_every_experiment_composes(name):
    cfg = compose([f"+experiment={name}"])
    assert cfg.hydra.runtime.choices.experiment == name
    for key in (
        "data.split_seed",
        "data.fraction",
        "model.beta",
        "model.binary_heads",
        "transfer.treatment",
        "transfer.depth",
        "transfer.freeze",
        "transfer.lr_scale",
        "source.epochs",
        "target.epochs",
        "source.optim",
        "target.optim",
        "seed",
    ):
        assert OmegaConf.select(cfg, key, default="missing") != "missing", key
    params = cfg.hydra.sweeper.params
    assert params, f"{name} declares no grid under hydra.sweeper.params"
    assert count_jobs(dict(params), []) >= 2


@pytest.mark.parametrize(
    "group,option",
    [
        (g, o)
        for g in ("data", "backbone", "optim", "scheduler", "launcher", "trainer")
        for o in GROUPS[g]
    ],
)
def test_every_option_of_a_group_composes(group, option):
    at = f"{group}@source.{group}" if group in ("optim", "scheduler") else group
    cfg = compose([f"{at}={option}"])
    assert cfg.hydra.runtime.choices[at] == option
    if group == "launcher":
        expected = {
            "local": "BasicLauncher",
            "parallel": "JoblibLauncher",
            "slurm": "SlurmLauncher",
            "submitit_local": "LocalLauncher",
        }
        assert cfg.hydra.launcher._target_.endswith(expected[option])
    assert cfg.hydra.sweeper._target_.endswith("SourcesFirstSweeper")


def test_optimizers_and_schedulers_instantiate_as_partials():
    import torch

    cfg = compose(["scheduler@source.scheduler=multistep", "source.scheduler.milestones=[5]"])
    optimizer = instantiate(cfg.source.optim)([torch.nn.Parameter(torch.zeros(1))])
    scheduler = instantiate(cfg.source.scheduler)(optimizer)
    assert isinstance(optimizer, torch.optim.SGD)
    assert scheduler.milestones == {4: 1}  # 1-based epoch 5 starts after 4 completed epochs
    cosine = compose(["scheduler@target.scheduler=cosine", "target.epochs=17"])
    assert cosine.target.scheduler.T_max == 17


def test_experiment_is_not_in_the_primary_defaults():
    cfg = compose([])
    assert "experiment" not in cfg.hydra.runtime.choices


def test_command_line_replaces_a_grid_axis():
    assert count_jobs({"model.beta": "0,0.2,0.4,0.67", "data.split_seed": "0,1,2,3"}, []) == 16
    assert (
        count_jobs(
            {"model.beta": "0,0.2,0.4,0.67", "data.split_seed": "0,1,2,3"}, ["model.beta=0.4"]
        )
        == 4
    )
    assert count_jobs({"model.beta": "0,0.2"}, ["data.split_seed=0,1,2", "+experiment=x"]) == 6


def test_trainer_configs_say_what_each_device_setting_means():
    gpu, ddp = compose(["trainer=gpu"]).trainer, compose(["trainer=ddp"]).trainer
    assert gpu.accelerator == "gpu" and gpu.devices == 1 and gpu.channels_last
    assert ddp.strategy.startswith("ddp_spawn") and ddp.devices == -1 and ddp.sync_batchnorm
    assert compose(["trainer=cpu"]).trainer.precision == "32-true"
