"""The CPU-sized Fashion-MNIST studies: each network trained until its validation stops
improving, and the papers' statistics set (docs/fidelity.md, "CPU-sized studies")."""

from __future__ import annotations

import pytest
import yaml

from tests.conftest import REPO, compose
from transfer_lab.config.checks import problems
from transfer_lab.report.ours_or_paper import paper_value
from transfer_lab.test_epochs import epochs_to_test

CPU_STUDIES = ["fashion_yosinski_cpu", "fashion_beta_cpu", "fashion_fraction_cpu"]


def grid(name: str) -> dict[str, list[str]]:
    text = (REPO / "conf" / "experiment" / f"{name}.yaml").read_text()
    params = yaml.safe_load(text)["hydra"]["sweeper"]["params"]
    return {key: str(value).split(",") for key, value in params.items()}


@pytest.mark.parametrize("name", CPU_STUDIES)
def test_every_cpu_study_passes_the_checks_and_stops_a_on_validation(name):
    cfg = compose([f"+experiment={name}"])
    assert problems(cfg) == []
    assert cfg.source.early_stopping and cfg.source.epochs > cfg.source.early_stopping


@pytest.mark.parametrize("name", ["fashion_yosinski_cpu", "fashion_beta_cpu"])
def test_yosinski_and_beta_cpu_stop_b_on_validation_under_a_cap(name):
    cfg = compose([f"+experiment={name}"])
    assert cfg.target.early_stopping >= 10 and cfg.target.epochs == 100


def test_fashion_yosinski_cpu_reports_yosinskis_statistic_from_a_final_snapshot():
    """Yosinski: the mean of each network's 10 best test evaluations (transfer_plots.ipynb),
    transfer from the final snapshot (convnet_transfer README line 123)."""
    cfg = compose(["+experiment=fashion_yosinski_cpu"])
    assert cfg.paper.statistic == "mean_best" and cfg.paper.best_n == 10
    assert cfg.source.select == "last"
    assert epochs_to_test(cfg.get("paper"), cfg.target, on_b=True) == list(range(1, 101))
    assert cfg.target.early_stopping >= cfg.paper.best_n  # ten tests to average, always


def test_fashion_beta_cpu_reports_the_last_epoch_trained_even_when_early_stopping_ends_it():
    """CS6784's statistic is B's test at its last epoch (data_extract.py); early stopping ends a
    phase before its cap, so every epoch is tested and the last one trained is read."""
    cfg = compose(["+experiment=fashion_beta_cpu"])
    assert cfg.paper.statistic == "last"
    assert epochs_to_test(cfg.get("paper"), cfg.target, on_b=True) == list(range(1, 101))
    history = {"epoch": [1, 2, 3, 4], "acc": [0.5, 0.6, 0.7, 0.65]}
    assert paper_value(history, cfg.paper, epochs=4) == 0.65


def test_fashion_fraction_cpu_runs_in_the_seeds_regime():
    """The seed: Adam 1e-4 for 100 epochs on B; its loss readings appeared near 5% and 25%."""
    cfg = compose(["+experiment=fashion_fraction_cpu"])
    assert cfg.target.optim.lr == 1e-4
    assert cfg.source.optim.lr == 1e-3 and cfg.source.early_stopping  # A: trained, cheaply
    assert cfg.target.epochs == 100 and cfg.target.early_stopping is None
    params = grid("fashion_fraction_cpu")
    assert {"0.05", "0.25"} <= set(params["data.fraction"])
    assert len(params["data.split_seed"]) >= 5
