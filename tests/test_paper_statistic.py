"""The paper's statistic beside ours: computed from the per-epoch tests, shown and named in the
report, and the published overlays drawn only beside figures in the same statistic."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.conftest import TINY
from transfer_lab.report.ours_or_paper import paper_value, paper_words

HISTORY = {"epoch": [1, 2, 3, 4], "acc": [0.5, 0.8, 0.6, 0.7], "loss": [1.0, 0.6, 0.8, 0.7]}


def test_last_is_the_test_at_the_last_epoch_or_at_the_paper_s_epoch():
    assert paper_value(HISTORY, {"statistic": "last"}, epochs=4) == 0.7
    assert paper_value(HISTORY, {"statistic": "last", "epoch": 2}, epochs=4) == 0.8
    # the paper's epoch is B's: a source on A is read at its own last epoch
    assert paper_value(HISTORY, {"statistic": "last", "epoch": 2}, epochs=4, on_b=False) == 0.7
    # a run shorter than the paper's epoch: its last epoch
    assert paper_value(HISTORY, {"statistic": "last", "epoch": 60}, epochs=4) == 0.7
    # an epoch that was not tested gives nothing rather than another epoch's number
    assert paper_value(HISTORY, {"statistic": "last"}, epochs=5) is None


def test_mean_best_is_the_mean_of_the_n_best_tests():
    assert paper_value(HISTORY, {"statistic": "mean_best", "best_n": 2}, 4) == pytest.approx(0.75)
    # fewer tests than n: all of them, as numpy's sort(vals)[-10:] in Yosinski's notebook
    assert paper_value(HISTORY, {"statistic": "mean_best", "best_n": 10}, 4) == pytest.approx(0.65)


def test_no_paper_or_no_tests_gives_nothing():
    assert paper_value(HISTORY, {"statistic": None}, 4) is None
    assert paper_value(None, {"statistic": "last"}, 4) is None
    assert paper_words({}) is None
    assert paper_words({"statistic": "mean_best", "best_n": 10}) == (
        "the mean of the 10 best per-epoch tests"
    )


@pytest.mark.slow
def test_a_digits_yosinski_report_shows_both_statistics_and_names_them(cli):
    """A tiny digits_yosinski sweep (3 arms, 2 split seeds, 3 epochs a stage)."""
    done = cli(
        [
            "+experiment=digits_yosinski",
            "sweep",
            "transfer.arm=baseB,A1B+,A2B+",
            "data.split_seed=0,1",
            *TINY,
            "source.epochs=3",
            "target.epochs=3",
            "measures.enabled=false",
        ]
    )
    (sweep,) = list((cli.cwd / "multirun").glob("*/*"))
    jobs = [json.loads(p.read_text()) for p in sorted(sweep.glob("*/results.json"))]
    assert len(jobs) == 6
    for job in jobs:  # every epoch tested, for the mean of the best
        assert job["target"]["test_history"]["epoch"] == [1, 2, 3]
    summary = pd.read_csv(sweep / "summary.csv")
    row = summary[summary["label"] == "A2B+"].iloc[0]
    expected = np.mean(
        [
            np.mean(sorted(j["target"]["test_history"]["acc"], reverse=True)[:10])
            for j in jobs
            if j["label"] == "A2B+"
        ]
    )
    assert row["target_paper_acc_mean"] == pytest.approx(expected)
    ours = np.mean([j["target"]["test_acc"] for j in jobs if j["label"] == "A2B+"])
    assert row["target_test_acc_mean"] == pytest.approx(ours)

    markdown = (sweep / "summary.md").read_text()
    assert "target test acc % (ours)" in markdown and "target test acc % (paper's)" in markdown
    assert "the checkpoint selected on validation, tested once" in markdown
    assert "the mean of the 10 best per-epoch tests" in markdown
    assert "(ours)" in done.stdout and "(paper's)" in done.stdout
    # ours without the published overlay, the paper's statistic with it
    figures = {p.name for p in (sweep / "figures").glob("*.png")}
    assert {"layers.png", "layers_paper.png"} <= figures

    again = cli(["report", str(sweep), "--statistic", "paper", "--no-figures"])
    assert "target test accuracy (the paper's statistic)" in again.stdout
