"""Rank agreement of a measure with measured accuracy over depths, per split seed."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from transfer_lab.transferability.agreement import bootstrap_mean, rank_agreement


def curve(seed: int, measure: list[float], accuracy: list[float]) -> pd.DataFrame:
    depths = range(1, len(measure) + 1)
    return pd.DataFrame({"split_seed": seed, "depth": list(depths), "m": measure, "acc": accuracy})


def test_a_measure_in_the_accuracy_order_agrees_fully_and_a_reversed_one_disagrees():
    frame = pd.concat(
        [curve(s, [1, 2, 3, 4], [0.5 + s / 100, 0.6, 0.7, 0.8]) for s in range(3)]
    ).assign(rev=lambda f: -f["m"])
    table = rank_agreement(frame, ["m", "rev"], "acc").set_index("measure")
    assert table.loc["m", ["kendall", "spearman"]].tolist() == pytest.approx([1, 1])
    assert table.loc["rev", ["kendall", "spearman"]].tolist() == pytest.approx([-1, -1])
    assert table.loc["m", ["kendall_low", "kendall_high"]].tolist() == pytest.approx([1, 1])
    assert table.loc["m", "seeds"] == 3


def test_one_swap_in_four_depths_gives_the_hand_computed_tau_and_rho():
    frame = curve(0, [1, 2, 3, 4], [0.1, 0.3, 0.2, 0.4])
    row = rank_agreement(frame, ["m"], "acc").iloc[0]
    # 5 concordant and 1 discordant pair: τ = 4/6; Σd² = 2: ρ = 1 − 6·2/(4·15) = 0.8.
    assert row["kendall"] == pytest.approx(2 / 3)
    assert row["spearman"] == pytest.approx(0.8)
    assert math.isnan(row["kendall_low"])  # one split seed: no interval


def test_constant_measure_has_no_correlation_and_counts_no_seeds():
    frame = curve(0, [2, 2, 2, 2], [0.1, 0.3, 0.2, 0.4])
    row = rank_agreement(frame, ["m", "absent"], "acc").iloc[0]
    assert math.isnan(row["kendall"]) and row["seeds"] == 0
    assert len(rank_agreement(frame, ["m", "absent"], "acc")) == 1  # unknown columns skipped


def test_bootstrap_interval_lies_within_the_replicates_and_holds_the_mean():
    mean, low, high = bootstrap_mean([0.2, 0.6, 1.0, 0.4, float("nan")])
    assert mean == pytest.approx(0.55)
    assert 0.2 <= low <= mean <= high <= 1.0
