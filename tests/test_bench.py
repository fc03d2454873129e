"""The bench's yardstick must do what the pipeline does, or its comparison means nothing."""

import contextlib

import pytest
import torch

from benchmarks import plain_loop, run_all


class Order:
    """A sampler that records the epochs Lightning (or the plain loop) announces to it."""

    def __init__(self) -> None:
        self.epochs: list[int] = []

    def set_epoch(self, epoch: int) -> None:
        self.epochs.append(epoch)


class Batches(list):
    def __init__(self, *batches) -> None:
        super().__init__(batches)
        self.sampler = Order()


def test_plain_loop_announces_every_epoch_to_the_sampler_as_lightning_does():
    torch.manual_seed(0)
    batch = (torch.randn(8, 3), torch.arange(8) % 2)
    train = Batches(batch)
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    plain_loop.train(model, optimizer, train, [batch], [batch], 3, torch.device("cpu"), False)
    assert train.sampler.epochs == [0, 1, 2]


def test_plain_loop_tests_the_network_after_the_epochs_the_statistic_needs():
    torch.manual_seed(0)
    batch = (torch.randn(8, 3), torch.arange(8) % 2)
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    run = plain_loop.train(
        model, optimizer, Batches(batch), [batch], [batch], 4, torch.device("cpu"), False, {1, 4}
    )
    assert len(run.test_history) == 2  # after epochs 1 and 4, as EpochTests tests them
    assert run.test_history[-1] == plain_loop.evaluate(model, [batch], contextlib.nullcontext)[0]


def test_networks_trained_counts_sources_and_targets_but_not_reused_baseb():
    source_phase = {"source": {"trained": True, "cache_key": "a"}, "target": None}
    transfer = {"source": {"trained": False, "cache_key": "a"}, "target": {"test_acc": 0.9}}
    reused_baseb = {"source": {}, "target": {"trained": False, "cache_key": "b"}}
    trained_baseb = {"source": {}, "target": {"trained": True, "cache_key": "b"}}
    counts = [run_all.networks_trained(r) for r in (source_phase, transfer, reused_baseb)]
    assert counts == [1, 1, 0]
    assert run_all.networks_trained(trained_baseb) == 1


@pytest.mark.slow  # composes three jobs and reads a CIFAR-100 tree
def test_planning_row_times_each_job_of_the_grid_after_reading_its_data_once(tmp_path):
    grid = ["data.split_seed=0", "data.direction=AB", "transfer.arm=baseB,A1B,B1B"]
    row = run_all.planning(tmp_path, per_class=(5, 2), grid=grid)
    assert row["jobs"] == 3 and row["train_images"] == 500
    assert row["first_job_s"] > 0 and row["per_job_after_first_s"] > 0
    assert (tmp_path / "data" / "cifar-100-python" / "meta").is_file()
    assert not (tmp_path / "sweep").exists()  # planned, not run


def test_every_row_of_the_table_renders(capsys):
    epoch = {
        "case": "LeNet / Fashion-MNIST",
        "train_images": 27000,
        "val_images": 3000,
        "precision": "32-true",
        "transfer_lab_s_per_epoch": 20.0,
        "plain_s_per_epoch": 19.5,
        "ratio": 20 / 19.5,
        "test_acc": {"transfer_lab": 0.93, "plain": 0.93},
    }
    report = {
        "machine": "test",
        "note": "a note",
        "real_epoch": {
            **epoch,
            "test_acc": {"transfer_lab": 0.93, "plain": 0.93, "fast": 0.93},
            "fast": {"precision": "bf16-mixed", "s_per_epoch": 9.0, "ratio": 9 / 19.5},
        },
        "planning": {
            "experiment": "yosinski",
            "jobs": 116,
            "first_job_s": 3.0,
            "per_job_after_first_s": 0.05,
            "preflight_s_per_job": 0.3,
        },
        "user_sweep": {
            "experiment": "digits_yosinski",
            "split_seeds": [0, 1],
            "jobs": 34,
            "transfer_lab_wall_s": 45.0,
            "plain_wall_s": 30.0,
            "ratio": 1.5,
        },
        "user_sweep_untested": {
            "experiment": "digits_yosinski",
            "split_seeds": [0, 1],
            "jobs": 34,
            "transfer_lab_wall_s": 35.0,
            "plain_wall_s": 20.0,
            "ratio": 1.75,
        },
    }
    run_all.render(report)
    out = capsys.readouterr().out
    assert "Fashion-MNIST" in out and "planning the yosinski grid" in out and "1.50×" in out
    assert "without the per-epoch tests" in out and "1.75×" in out


@pytest.mark.slow  # three short fits on digits
def test_the_fast_path_row_runs_through_the_jobs_trainer_against_the_same_fp32_loop():
    row = run_all.epoch_case(
        "LeNet / digits", ["trainer=cpu"], None, 2, 1, fast=["trainer=cpu_fast"]
    )
    assert row["precision"] == "32-true" and row["fast"]["precision"] == "bf16-mixed"
    assert row["transfer_lab_s_per_epoch"] > 0 and row["fast"]["s_per_epoch"] > 0
    assert set(row["test_acc"]) == {"transfer_lab", "fast", "plain"}
    assert 0.5 < row["test_acc"]["fast"] <= 1  # bf16 still learns the digits
