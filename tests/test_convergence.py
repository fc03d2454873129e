"""Convergence: each phase records its per-epoch curves and whether it was still improving when
it stopped; the report counts such trainings per configuration and says what to raise."""

from __future__ import annotations

import json

import pytest

from tests.conftest import TINY
from tests.test_report import make_job, ok_results, report
from transfer_lab.train.convergence import EARLY_STOPPING, EPOCH_CAP, convergence, window


def history(val_loss: list[float], val_acc: list[float] | None = None) -> dict[str, list]:
    epochs = len(val_loss)
    return {
        "epoch": list(range(1, epochs + 1)),
        "train_loss": [v + 0.1 for v in val_loss],
        "train_acc": [0.5] * epochs,
        "val_loss": val_loss,
        "val_acc": val_acc or [1 - v / 4 for v in val_loss],
    }


def test_a_phase_cut_short_while_its_validation_loss_falls_is_still_improving():
    found = convergence(history([2.0, 1.5, 1.2]), "val/acc", "max", 3, epoch_cap=3)
    assert found["stopped_by"] == EPOCH_CAP and found["best_epoch"] == 3
    assert found["still_improving"] and found["val_loss_slope"] < 0


def test_a_phase_that_levelled_off_long_before_its_cap_is_not():
    flat = [2.0, 1.0, 0.6, 0.5] + [0.5, 0.51, 0.49, 0.5, 0.52, 0.5, 0.5, 0.51] * 2
    found = convergence(history(flat), "val/acc", "max", 4, epoch_cap=len(flat))
    assert window(len(flat)) == 4 and not found["still_improving"]


def test_a_phase_early_stopping_ended_is_not_still_improving():
    found = convergence(history([2.0, 1.5, 1.2]), "val/acc", "max", 3, epoch_cap=10)
    assert found["stopped_by"] == EARLY_STOPPING and not found["still_improving"]


def test_a_falling_loss_whose_best_epoch_lies_early_is_not_still_improving():
    """Validation loss can drift down while the monitor (accuracy) peaked long before."""
    loss = [1.0 - 0.02 * e for e in range(10)]
    acc = [0.9, 0.95, *[0.9] * 8]
    found = convergence(history(loss, acc), "val/acc", "max", 2, epoch_cap=10)
    assert found["best_epoch"] == 2 and not found["still_improving"]


def test_a_job_records_each_epochs_losses_accuracies_and_its_convergence(cli):
    folder = cli.cwd / "job"
    cli(["transfer.arm=A1B", *TINY, "target.epochs=3", f"hydra.run.dir={folder}"])
    results = json.loads((folder / "results.json").read_text())
    for phase, epochs in (("source", 2), ("target", 3)):
        record = results[phase]
        assert record["history"]["epoch"] == list(range(1, epochs + 1))
        for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
            assert len(record["history"][key]) == epochs
            assert all(isinstance(v, float) for v in record["history"][key])
        selected = record["convergence"]["selected_epoch"]
        assert record["history"]["val_acc"][selected - 1] == pytest.approx(record["val_acc"])
        assert record["epoch_cap"] == epochs and record["convergence"]["last_epoch"] == epochs
        assert record["cpu_seconds"] > 0
    assert results["cpu_seconds"] > 0
    assert results["provenance"]["threads"] >= 1 and results["provenance"]["torch"]


def converged_job(target: float, split_seed: int, epochs: int, cap: int, falling: bool) -> dict:
    """A finished job whose target phase trained `epochs` of at most `cap`, its validation loss
    still falling at the end or long flat."""
    results = ok_results(target, split_seed=split_seed)
    loss = [1.0 - 0.05 * e for e in range(epochs)] if falling else [0.5] * epochs
    curve = history(loss)
    results["config"]["target"] = {"epochs": cap, "early_stopping": None}
    results["target"].update(
        epoch_cap=cap,
        history=curve,
        convergence=convergence(curve, "val/acc", "max", epochs, cap),
    )
    return results


@pytest.mark.parametrize(
    "falling,expected", [(True, "raise `target.epochs` (now 4)"), (False, "None of the")]
)
def test_the_report_counts_trainings_still_improving_and_says_what_to_raise(
    tmp_path, falling, expected
):
    sweep = tmp_path / f"sweep{falling}"
    for seed in range(3):
        make_job(sweep, seed, [f"data.split_seed={seed}"], converged_job(0.8, seed, 4, 4, falling))
    report(sweep, draw=True)
    text = (sweep / "summary.md").read_text()
    assert "## Convergence" in text and expected in text
    assert "target: a fixed 4 epochs (no early stopping)" in text
    if falling:
        assert "**3 of 3** trainings" in text
    assert (sweep / "figures" / "convergence.png").exists()
    assert (sweep / "convergence.csv").exists()


def test_a_frozen_arm_far_below_its_linear_probe_is_flagged(tmp_path):
    sweep = tmp_path / "probe"
    for seed in range(2):
        results = converged_job(0.6, seed, 4, 4, falling=False)
        results.update(label="A4B", family="AnB", freeze=True)
        results["source"]["measures"] = {"probe": [0.9, 0.9, 0.9, 0.85]}  # val 0.61 at n = 4
        make_job(sweep, seed, ["transfer.arm=A4B", f"data.split_seed={seed}"], results)
    report(sweep, draw=False)
    text = (sweep / "summary.md").read_text()
    assert "**2** frozen-arm jobs sit more than 3 points below a linear probe" in text
    assert "| +24.0 | **2** |" in text
