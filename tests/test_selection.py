"""Which validation metric selects a stage's checkpoint, and what a job records about it."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import pytorch_lightning as pl
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.conftest import compose
from tests.test_model import IMAGES, module, task
from transfer_lab.config.checks import validate
from transfer_lab.data.datamodule import TaskDataModule
from transfer_lab.errors import UserError
from transfer_lab.train.selection import Monitor, monitor_for
from transfer_lab.train.trainer import configured_callbacks


@pytest.mark.parametrize(
    "stage,beta,expected",
    [
        ({"monitor": "auto"}, 0.0, Monitor("val/acc", "max")),
        ({"monitor": "auto"}, 0.67, Monitor("val/acc", "max")),
        # β = 1: the classifier gets no loss, its accuracy means nothing; the trained loss does
        ({"monitor": "auto"}, 1.0, Monitor("val/loss", "min")),
        ({"monitor": "val/binary_acc"}, 1.0, Monitor("val/binary_acc", "max")),
        ({"monitor": "val/ce", "monitor_mode": "auto"}, 0.4, Monitor("val/ce", "min")),
        ({"monitor": "val/loss", "monitor_mode": "max"}, 0.4, Monitor("val/loss", "max")),
        ({}, 0.0, Monitor("val/acc", "max")),
    ],
)
def test_monitor_auto_resolves_by_beta_and_explicit_names_are_kept(stage, beta, expected):
    assert monitor_for(stage, beta, binary_heads=1) == expected


@pytest.mark.parametrize(
    "stage,heads,message",
    [
        ({"monitor": "test/acc"}, 1, "not a validation metric"),
        ({"monitor": "val/binary_acc"}, 0, "needs binary heads"),
        ({"monitor": "val/margin"}, 1, "set monitor_mode"),
        ({"monitor": "val/acc", "monitor_mode": "up"}, 1, "neither max nor min"),
    ],
)
def test_monitors_that_cannot_work_say_how_to_fix_them(stage, heads, message):
    with pytest.raises(UserError, match=message):
        monitor_for(stage, 0.0, heads)


def test_the_job_check_refuses_a_bad_monitor_and_lr_scale_under_phases_before_training():
    with pytest.raises(UserError, match="not a validation metric"):
        validate(compose(["source.monitor=train/acc"]))
    with pytest.raises(UserError, match="lr_scale=0.1 has no effect"):
        validate(compose(["schedule=cs6784_densenet", "transfer.lr_scale=0.1"]))
    validate(compose(["schedule=yosinski", "transfer.lr_scale=0.1"]))  # multistep: it scales


def test_objective_accuracy_weighs_classifier_and_heads_as_cs6784_selected(tmp_path):
    """train.py `test`: error = (1 − β)·classifier error + β/K·Σ head errors; its complement."""
    model, t = module(beta=0.4, heads=2)
    trainer = pl.Trainer(
        logger=pl.loggers.CSVLogger(tmp_path, name="", version=""),
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    (logged,) = trainer.validate(model, TaskDataModule(IMAGES, task(), batch_size=7), verbose=False)
    expected = 0.6 * logged["val/acc"] + 0.4 * logged["val/binary_acc"]
    assert logged["val/objective_acc"] == pytest.approx(expected, abs=1e-6)
    rows = pd.read_csv(tmp_path / "metrics.csv")  # per-head accuracies go to the loggers
    head0, head1 = (rows[f"val/binary{k}_acc"].dropna().iloc[-1] for k in (0, 1))
    assert logged["val/binary_acc"] == pytest.approx((head0 + head1) / 2, abs=1e-6)


def test_early_stopping_from_the_callbacks_group_watches_the_stages_monitor():
    cfg = compose(["model.beta=1", "callbacks=[early_stopping]"])
    for stage, beta, expected in ((cfg.source, 1.0, ("val/loss", "min")), (cfg.target, 0, None)):
        monitor = monitor_for(stage, beta, binary_heads=1)
        (stopping,) = configured_callbacks(cfg, stage, monitor)
        assert (stopping.monitor, stopping.mode) == (expected or ("val/acc", "max"))


@pytest.mark.slow
def test_beta_one_selects_on_the_trained_loss_and_records_rates_per_epoch(cli):
    cli(
        [
            "model.beta=1",
            "source.epochs=3",
            "target.epochs=3",
            "scheduler@source.scheduler=multistep",
            "source.scheduler.milestones=[2]",
            "scheduler@target.scheduler=phases",
            "+target.scheduler.phases=[{epoch: 1, new: 0.1, copied: 0.01}, {epoch: 3, new: 0.02, copied: 0.02}]",
            "trainer.enable_progress_bar=false",
        ]
    )
    (job,) = list((cli.cwd / "outputs").glob("*/*"))
    results = json.loads((job / "results.json").read_text())
    source, target = results["source"], results["target"]
    assert source["monitor"] == "val/loss" and source["monitor_value"] > 0
    assert 0 <= source["val_acc"] <= 1  # the classifier's accuracy of the selected weights
    assert target["monitor"] == "val/acc" and target["monitor_value"] == target["val_acc"]
    assert source["lr_history"] == {"new": pytest.approx([0.05, 0.005, 0.005])}
    assert target["lr_history"] == {
        "new": pytest.approx([0.1, 0.1, 0.02]),
        "copied": pytest.approx([0.01, 0.01, 0.02]),
    }
    curves = scalars(job, "target")
    lr = {tag.rsplit("/", 1)[-1]: values for tag, values in curves.items() if "lr-" in tag}
    assert lr == {
        "new": pytest.approx([0.1, 0.1, 0.02]),
        "copied": pytest.approx([0.01, 0.01, 0.02]),
    }
    # measuring the selected weights' val/acc adds no point to the source's curve
    assert len(scalars(job, "source")["source/val/acc"]) == 3


def scalars(job, stage: str) -> dict[str, list[float]]:
    """Every scalar curve TensorBoard holds for one stage of a job."""
    (run,) = {p.parent for p in job.rglob("events.out.tfevents.*") if p.parent.name == stage}
    logged = EventAccumulator(str(run), size_guidance={"scalars": 0})
    logged.Reload()
    return {t: [e.value for e in logged.Scalars(t)] for t in logged.Tags()["scalars"]}
