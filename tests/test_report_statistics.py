"""Paired statistics against values worked out by hand (closed forms of small t distributions)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from transfer_lab.report.statistics import paired, t_interval


def t2_two_sided_p(t: float) -> float:
    """Student t with 2 degrees of freedom: F(t) = 1/2 + t / (2·sqrt(2 + t²))."""
    return 1 - abs(t) / math.sqrt(2 + t * t)


def t3_two_sided_p(t: float) -> float:
    """Student t with 3 degrees of freedom: F(t) = 1/2 + (x/(1+x²) + atan x)/π, x = t/√3."""
    x = abs(t) / math.sqrt(3)
    return 1 - 2 / math.pi * (x / (1 + x * x) + math.atan(x))


def test_three_pairs_match_the_closed_form_of_t_with_two_degrees_of_freedom():
    # differences 0.01, 0.02, 0.06: mean 0.03, variance ((−.02)² + (−.01)² + .03²)/2 = 0.0007
    result = paired([0.81, 0.72, 0.96], [0.80, 0.70, 0.90])
    sd = math.sqrt(0.0007)
    t = 0.03 / (sd / math.sqrt(3))
    assert result.n == 3
    assert result.diff_mean == pytest.approx(0.03)
    assert result.diff_std == pytest.approx(sd)
    assert result.t == pytest.approx(t)
    assert result.p_t == pytest.approx(t2_two_sided_p(t))
    # t(0.975, 2) from F = 0.975: t/sqrt(2 + t²) = 0.95 → t² = 2·0.9025/0.0975
    quantile = math.sqrt(2 * 0.9025 / 0.0975)
    half = quantile * sd / math.sqrt(3)
    assert (result.ci_low, result.ci_high) == pytest.approx((0.03 - half, 0.03 + half))
    assert result.treatment_mean == pytest.approx(np.mean([0.81, 0.72, 0.96]))
    assert result.baseline_mean == pytest.approx(np.mean([0.80, 0.70, 0.90]))
    # all three differences positive: exact Wilcoxon p = 2 · P(W+ = 6) = 2/2³
    assert result.p_wilcoxon == pytest.approx(0.25)


def test_four_pairs_with_one_negative_difference():
    d = np.array([1.0, -2.0, 3.0, 4.0])
    result = paired(d, np.zeros(4))
    sd = math.sqrt(((1 - 1.5) ** 2 + (-2 - 1.5) ** 2 + (3 - 1.5) ** 2 + (4 - 1.5) ** 2) / 3)
    t = 1.5 / (sd / 2)
    assert result.diff_mean == pytest.approx(1.5)
    assert result.p_t == pytest.approx(t3_two_sided_p(t))
    # ranks 1..4, W− = 2; of the 16 sign patterns, W+ ≤ 2 happens 3 times: p = 2·3/16
    assert result.wilcoxon_w == pytest.approx(2.0)
    assert result.p_wilcoxon == pytest.approx(0.375)


def test_pairs_are_taken_in_order_not_sorted():
    # the same values, paired differently, give different differences
    assert paired([1.0, 2.0], [2.0, 1.0]).diff_std == pytest.approx(math.sqrt(2))
    assert paired([1.0, 2.0], [1.0, 2.0]).diff_mean == 0


def test_no_pairs_and_one_pair_are_reported_not_raised():
    empty = paired([], [])
    assert empty.n == 0 and math.isnan(empty.diff_mean) and empty.note
    one = paired([0.9], [0.8])
    assert one.n == 1 and one.diff_mean == pytest.approx(0.1)
    assert math.isnan(one.ci_low) and math.isnan(one.p_t) and math.isnan(one.p_wilcoxon)


def test_all_zero_differences_mean_no_evidence_of_a_difference():
    result = paired([0.9, 0.8, 0.7], [0.9, 0.8, 0.7])
    assert (result.diff_mean, result.ci_low, result.ci_high) == (0.0, 0.0, 0.0)
    assert result.p_t == 1.0 and result.p_wilcoxon == 1.0
    assert "zero" in result.note


def test_equal_nonzero_differences_leave_the_t_test_undefined():
    result = paired([0.9, 0.8, 0.7], [0.8, 0.7, 0.6])
    assert result.diff_mean == pytest.approx(0.1)
    assert math.isnan(result.p_t) and "undefined" in result.note
    assert result.p_wilcoxon == pytest.approx(0.25)


def test_missing_values_drop_their_pair():
    result = paired([0.9, float("nan"), 0.7], [0.8, 0.5, 0.6])
    assert result.n == 2


def test_unequal_lengths_are_refused():
    with pytest.raises(ValueError, match="same length"):
        paired([1.0, 2.0], [1.0])


def test_t_interval_of_fewer_than_two_values_is_nan():
    assert all(math.isnan(v) for v in t_interval(np.array([0.5])))
    low, high = t_interval(np.array([1.0, 3.0]))  # t(0.975, 1) = tan(0.475π) = 12.706
    assert (low, high) == pytest.approx(
        (2 - math.tan(0.475 * math.pi), 2 + math.tan(0.475 * math.pi))
    )
