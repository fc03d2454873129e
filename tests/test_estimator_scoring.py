"""The k-NN readout, the weighted Kendall τ and the depth-only baselines, pinned to values
worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from transfer_lab.transferability.agreement import (
    BASELINES,
    beats_baseline,
    rank_agreement,
    weighted_kendall,
    with_depth_baselines,
)
from transfer_lab.transferability.knn import knn_accuracy
from transfer_lab.transferability.registry import PER_STAGE

TRAIN_X = np.array([[0.0], [1.0], [2.0], [10.0], [11.0]])
TRAIN_Y = np.array([0, 0, 1, 1, 1])


def test_knn_votes_by_hand():
    """k = 3: 0.4's neighbours 0, 1, 2 vote 0, 0, 1 → 0; 9's are 10, 11, 2 → 1: both right.
    (Standardising one feature moves no neighbour.)"""
    val_x, val_y = np.array([[0.4], [9.0]]), np.array([0, 1])
    assert knn_accuracy(TRAIN_X, TRAIN_Y, val_x, val_y, k=3) == 1.0
    assert knn_accuracy(TRAIN_X, TRAIN_Y, val_x, np.array([1, 1]), k=3) == 0.5


def test_knn_tie_goes_to_the_nearest_tied_neighbour():
    """k = 2: 1.4's neighbours are 1 (label 0, distance 0.4) and 2 (label 1, distance 0.6): a
    tie, won by the nearer one, label 0; so labelling 1.4 as 1 scores 0 on that image."""
    assert knn_accuracy(TRAIN_X, TRAIN_Y, np.array([[1.4]]), np.array([0]), k=2) == 1.0
    assert knn_accuracy(TRAIN_X, TRAIN_Y, np.array([[1.4]]), np.array([1]), k=2) == 0.0


def test_knn_standardises_features_with_the_training_statistics():
    """Feature 2 is in thousands and pure noise: unscaled it would decide every neighbour; after
    standardising, feature 1 (which separates the classes) counts as much, and 1-NN is right."""
    x = np.array([[0.0, 0.0], [0.1, 3000.0], [1.0, 1000.0], [1.1, 2000.0]])
    y = np.array([0, 0, 1, 1])
    val = np.array([[0.05, 1100.0], [1.05, 2900.0]])
    assert knn_accuracy(x[:, 1:], y, val[:, 1:], np.array([0, 1]), k=1) == 0.0
    assert knn_accuracy(x, y, val, np.array([0, 1]), k=1) == 1.0


def test_knn_is_a_registered_per_stage_measure_scored_on_held_out_images():
    knn = next(m for m in PER_STAGE if m.name == "knn")
    assert knn.reads == "probe" and "5-NN" in knn.title


def test_weighted_tau_by_hand():
    """x = 1, 2, 3 and y = 1, 3, 2. Ranked by x (weights 1, 1/2, 1/3 from the top), the pairs
    weigh 5/6 (concordant), 4/3 (concordant) and 3/2 (discordant): τ = (5/6 + 4/3 − 3/2) /
    (5/6 + 4/3 + 3/2) = 2/11; ranked by y the same 2/11; their mean is 2/11 (Kendall's τ: 1/3)."""
    assert weighted_kendall(np.array([1, 2, 3]), np.array([1, 3, 2]))[0] == pytest.approx(2 / 11)


def test_weighted_tau_counts_a_swap_at_the_top_more_than_one_at_the_bottom():
    x = np.array([1, 2, 3, 4])
    bottom = weighted_kendall(x, np.array([2, 1, 3, 4]))[0]
    top = weighted_kendall(x, np.array([1, 2, 4, 3]))[0]
    assert top < bottom < 1


def curve_frame() -> pd.DataFrame:
    """Two split seeds, accuracy rising with depth; `good` follows it, `flat_wrong` does not."""
    rows = []
    for seed in (0, 1):
        for depth, acc, good, wrong in ((1, 0.5, 1.0, 3.0), (2, 0.6, 2.0, 1.0), (3, 0.8, 3.0, 2.0)):
            rows.append(dict(split_seed=seed, depth=depth, acc=acc, good=good, wrong=wrong))
    return pd.DataFrame(rows)


def test_depth_baselines_are_n_and_minus_n_and_score_plus_and_minus_one():
    frame = with_depth_baselines(curve_frame())
    assert frame["depth_deeper"].tolist() == frame["depth"].tolist()
    assert frame["depth_shallower"].tolist() == (-frame["depth"]).tolist()
    agreed = rank_agreement(frame, ["good", "wrong", *BASELINES], "acc").set_index("measure")
    assert agreed.loc["depth_deeper", "kendall"] == pytest.approx(1.0)
    assert agreed.loc["depth_shallower", "kendall"] == pytest.approx(-1.0)
    # wrong: pairs (1,2) and (1,3) discordant, (2,3) concordant: τ = −1/3
    assert agreed.loc["wrong", "kendall"] == pytest.approx(-1 / 3)
    assert "weighted_kendall" in agreed.columns


def test_a_measure_beats_the_baseline_only_when_strictly_above_the_better_one():
    """Accuracy peaks in the middle (0.5, 0.8, 0.6): depth alone scores τ = 1/3 (deeper) and
    −1/3 (shallower); a measure that peaks there too (τ = 1) beats it, one that follows depth
    (τ = 1/3) only ties it, one that falls with depth (τ = −1/3) loses."""
    frame = curve_frame().assign(
        acc=lambda f: f["depth"].map({1: 0.5, 2: 0.8, 3: 0.6}),
        peak=lambda f: f["depth"].map({1: 0.0, 2: 2.0, 3: 1.0}),
        falls=lambda f: -f["depth"] * 1.0,
    )
    names = ["peak", "good", "falls", *BASELINES]
    agreed = rank_agreement(with_depth_baselines(frame), names, "acc").assign(curve="AnB")
    verdict = beats_baseline(agreed, ["curve"]).set_index("measure")
    assert verdict["baseline"].tolist() == pytest.approx([1 / 3] * 3)
    assert verdict["beats"].to_dict() == {"peak": True, "good": False, "falls": False}


def test_report_sets_every_measure_beside_the_depth_baselines_and_says_which_beat_them(tmp_path):
    """AnB falls with depth: shallower-is-better scores τ = 1 and no measure can beat it;
    the table has weighted τ beside τ and ρ, and the source's origin is named."""
    from tests.test_report import report
    from tests.test_report_measures import measured_sweep

    sweep = measured_sweep(tmp_path)
    assert report(sweep)[0] == 0
    agreed = pd.read_csv(sweep / "agreement.csv").set_index(["curve", "measure"])
    assert agreed.loc[("AnB", "depth_shallower"), "kendall"] == pytest.approx(1.0)
    assert agreed.loc[("AnB", "depth_deeper"), "kendall"] == pytest.approx(-1.0)
    assert agreed.loc[("AnB", "probe"), "weighted_kendall"] == pytest.approx(1.0)
    text = (sweep / "summary.md").read_text()
    assert "weighted τ [95% CI]" in text and "depth alone: shallower is better" in text
    assert (
        "- AnB, Kendall's τ: the better depth-only baseline scores +1.00; no measure beats it"
        in text
    )
    assert "- AnB+, Kendall's τ: the better depth-only baseline scores +1.00; no measure" in text
    assert "The source network: trained on A." in text
