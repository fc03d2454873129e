"""Paired statistics against values worked out by hand (closed forms of small t distributions)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from transfer_lab.report.statistics import holm, paired, t_interval, wilcoxon_floor


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


def test_holm_matches_the_step_down_definition_on_a_worked_family():
    # Holm (1979): sort the m = 4 p-values, multiply the i-th smallest by m − i + 1, and keep
    # each adjusted p at least as large as the one before: 0.005·4, 0.01·3, 0.03·2, 0.04·1 →
    # 0.02, 0.03, 0.06, max(0.06, 0.04); given back in the family's own order.
    adjusted = holm([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_caps_at_one_leaves_untested_comparisons_out_and_keeps_a_single_test():
    adjusted = holm([0.5, float("nan"), 0.02])
    # m = 2 tested: 0.02·2 = 0.04, then max(0.04, 0.5·1) = 0.5; NaN stays NaN and does not count
    assert adjusted[0] == pytest.approx(0.5) and adjusted[2] == pytest.approx(0.04)
    assert math.isnan(adjusted[1])
    assert holm([0.6, 0.7]) == pytest.approx([1.0, 1.0])
    assert holm([0.015]) == pytest.approx([0.015])  # a family of one is not adjusted


def test_holm_multiplies_the_smallest_of_three_by_three_and_keeps_the_order():
    # three β values against β = 0 (the demo's family): the smallest raw p counts three times
    assert holm([0.015, 0.4, 0.7])[0] == pytest.approx(0.045)
    assert holm([0.02, 0.03, 0.7]) == pytest.approx([0.06, 0.06, 0.7])


def test_accuracy_intervals_are_clipped_to_what_an_accuracy_can_be():
    values = [1.0, 0.99, 0.97]  # mean 0.987, t(0.975, 2) = 4.30: the interval passes 100%
    low, high = t_interval(values)
    assert high > 1.0
    clipped = t_interval(values, bounds=(0.0, 1.0))
    assert clipped == pytest.approx((low, 1.0))
    assert t_interval([0.01, 0.0, 0.05], bounds=(0.0, 1.0))[0] == 0.0


def test_wilcoxon_floor_is_the_exact_tests_smallest_p():
    assert [wilcoxon_floor(n) for n in (3, 4, 5)] == [0.25, 0.125, 0.0625]
    # every difference positive is the most extreme sign pattern: scipy's exact p hits the floor
    assert paired([0.9, 0.8, 0.7, 0.6], [0.8, 0.6, 0.4, 0.2]).p_wilcoxon == pytest.approx(0.125)


def test_power_at_no_difference_is_the_tests_level():
    from transfer_lab.report.statistics import t_test_power

    for n in (2, 3, 6, 20):
        assert t_test_power(0.0, n) == pytest.approx(0.05, abs=1e-9)


def test_detectable_difference_meets_the_normal_closed_form_for_many_pairs():
    """With n → ∞ the paired t-test is a z-test: δ = (z₀.₉₇₅ + z₀.₈) · sd / √n, the closed form
    1.959964 + 0.841621 = 2.801585 (the far tail adds under 1e-9)."""
    from transfer_lab.report.statistics import detectable_difference

    n, sd = 40_000, 0.03
    assert detectable_difference(sd, n) == pytest.approx(2.801585 * sd / math.sqrt(n), rel=2e-4)


def test_detectable_difference_with_few_pairs_is_wider_than_the_normal_one_and_has_80_percent_power():
    """At n = 6 the t's heavier tails ask for more than the z closed form (2.8016·sd/√6 =
    1.1437·sd); a simulated paired t-test at the returned difference rejects 80% of the time."""
    from scipy import stats

    from transfer_lab.report.statistics import detectable_difference

    n, sd = 6, 0.02
    effect = detectable_difference(sd, n)
    assert effect > 2.801585 * sd / math.sqrt(n) * 1.2
    rng = np.random.default_rng(0)
    draws = rng.normal(effect, sd, size=(40_000, n))
    p = stats.ttest_1samp(draws, 0.0, axis=1).pvalue
    assert (p < 0.05).mean() == pytest.approx(0.80, abs=0.01)


def test_detectable_difference_needs_two_pairs_and_a_spread():
    from transfer_lab.report.statistics import detectable_difference

    assert math.isnan(detectable_difference(0.02, 1))
    assert math.isnan(detectable_difference(0.0, 5))
    assert math.isnan(paired([0.8], [0.7]).detectable)
    assert paired([0.81, 0.72, 0.96], [0.80, 0.70, 0.90]).detectable > 0
