"""The published numbers the report overlays, read the way their study ran them."""

from __future__ import annotations

import numpy as np
import pytest

from transfer_lab.report import anchors as published
from transfer_lab.report.figures.anchor_panels import cs6784_paired_difference


def test_cs6784_paired_runs_are_averaged_within_their_split_before_pairing():
    """CS6784's paired table holds 9 runs on 6 CIFAR-100 splits: rows 3a–c and 14a–b repeat
    β = 0.4 against their split's one baseline. Averaged within a split first, 6 pairs remain."""
    runs = published.cs6784_paired()
    assert len(runs) == 9
    for repeats in (["3a", "3b", "3c"], ["14a", "14b"]):  # one baseline network per split
        shared = runs[runs["pair"].isin(repeats)]
        assert len(shared) == len(repeats)
        assert shared["target_error_baseline_pct"].nunique() == 1
        assert shared["source_error_baseline_pct"].nunique() == 1

    splits = published.cs6784_paired_by_split().set_index("split")
    assert splits.index.tolist() == ["1", "3", "v2.2", "v2.3", "14", "13"]
    assert splits.loc["3", "target_error_beta0.4_pct"] == pytest.approx((23.34 + 22.54 + 22.72) / 3)
    assert splits.loc["3", "target_error_baseline_pct"] == pytest.approx(22.82)
    assert splits.loc["14", "target_error_beta0.4_pct"] == pytest.approx((19.28 + 18.04) / 2)

    differences = [
        21.64 - 22.68,
        (23.34 + 22.54 + 22.72) / 3 - 22.82,
        19.12 - 19.52,
        20.48 - 19.90,
        (19.28 + 18.04) / 2 - 18.80,
        20.18 - 19.18,
    ]
    result = cs6784_paired_difference()
    assert result.n == 6
    assert result.diff_mean == pytest.approx(np.mean(differences))  # +0.01 points
    assert result.diff_std == pytest.approx(np.std(differences, ddof=1))
