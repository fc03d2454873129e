"""Planning for the machine that runs the job: with launcher=slurm, device checks and source
cache keys follow what each job asks SLURM for, not the submitting machine (no cluster needed)."""

from __future__ import annotations

import copy

import pytest
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict

from tests.conftest import compose
from transfer_lab.config.checks import problems
from transfer_lab.job.pipeline import source_needed
from transfer_lab.machine import job_machine
from transfer_lab.store.cache import cache_key

GPU_SWEEP = ["launcher=slurm", "trainer=gpu", "hydra.launcher.gpus_per_node=1", "transfer.arm=A2B"]


def job_config(overrides):
    """A job's config as the sweeper and the job both see it: Hydra's config set, hydra removed."""
    cfg = compose(overrides)
    HydraConfig.instance().set_config(cfg)
    cfg = copy.deepcopy(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


def on_a_gpu_node(monkeypatch):
    """This process as a compute node with one bf16 GPU sees itself."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)


def planned_and_stored_keys(overrides, monkeypatch):
    planned = source_needed(job_config(overrides))  # the driver, on this GPU-less machine
    with monkeypatch.context() as node:
        on_a_gpu_node(node)
        stored = source_needed(job_config(overrides))  # the job, on its node
    return planned, stored


@pytest.mark.skipif(torch.cuda.is_available(), reason="shows a GPU-less submitting machine")
def test_a_gpu_sweep_from_a_gpu_less_machine_passes_the_checks():
    assert problems(job_config(GPU_SWEEP)) == []
    refused = problems(job_config(GPU_SWEEP[:2]))  # no gpus_per_node: the jobs get no GPU
    assert refused == [
        "trainer.accelerator=gpu but each job asks SLURM for no GPU "
        "(hydra.launcher.gpus_per_node=0); add hydra.launcher.gpus_per_node=1 (or N for "
        "trainer=ddp)."
    ]
    local = problems(job_config(["trainer=gpu", "transfer.arm=A2B"]))
    assert local[0].startswith("trainer.accelerator=gpu but this machine has no CUDA GPU")


def test_cpu_devices_are_checked_against_the_cpus_a_job_asks_for():
    many = ["launcher=slurm", "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=4"]
    assert problems(job_config([*many, "hydra.launcher.cpus_per_task=4"])) == []
    (sentence,) = problems(job_config([*many, "hydra.launcher.cpus_per_task=2"]))
    assert "each job asks SLURM for 2 CPU(s)" in sentence
    assert "hydra.launcher.cpus_per_task=4" in sentence


@pytest.mark.skipif(torch.cuda.is_available(), reason="shows a GPU-less submitting machine")
def test_planned_source_keys_equal_the_keys_a_gpu_job_stores(monkeypatch):
    planned, stored = planned_and_stored_keys(GPU_SWEEP, monkeypatch)
    assert planned["trainer"]["accelerator"] == "cuda"
    assert planned["trainer"]["precision"] == "auto"  # bf16 or not: only the node knows
    assert cache_key(planned) == cache_key(stored)
    auto = ["launcher=slurm", "hydra.launcher.gpus_per_node=1", "transfer.arm=A2B"]
    planned, stored = planned_and_stored_keys(auto, monkeypatch)  # accelerator=auto
    assert planned["trainer"]["accelerator"] == "cuda"
    assert cache_key(planned) == cache_key(stored)


@pytest.mark.skipif(torch.cuda.is_available(), reason="shows a GPU-less submitting machine")
def test_on_this_machine_the_key_follows_this_machines_hardware(monkeypatch):
    """The same comparison without SLURM: the job runs here, so a GPU here changes the key."""
    planned, on_gpu = planned_and_stored_keys(["transfer.arm=A2B"], monkeypatch)
    assert (planned["trainer"]["accelerator"], on_gpu["trainer"]["accelerator"]) == ("cpu", "cuda")
    assert planned["trainer"]["precision"] == "32-true"
    assert cache_key(planned) != cache_key(on_gpu)


def test_the_machine_of_a_slurm_job_is_its_request():
    machine = job_machine(
        {"_target_": "x.TransferLabSlurmLauncher", "gpus_per_node": 4, "cpus_per_task": 16}
    )
    assert (machine.gpus, machine.cpus, machine.requested) == (4, 16, True)
    here = job_machine({"_target_": "hydra._internal.core_plugins.basic_launcher.BasicLauncher"})
    assert not here.requested
