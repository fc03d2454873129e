"""Paired statistics of a treatment against its baseline on the same split seeds.

Everything here works on plain arrays of per-replicate values (one value per split seed and
training seed), so it can be checked by hand. Degenerate inputs never raise:

- no pairs: every statistic is NaN;
- one pair: the difference is reported, the spread, interval and tests are NaN;
- every difference zero: the interval is [0, 0] and both tests give p = 1 (nothing differs);
- every difference equal but not zero: the t-test is undefined (zero variance, p NaN), the
  interval collapses onto the difference, and the Wilcoxon test still applies.

The tests and intervals are scipy.stats' (ttest_rel, ttest_1samp, wilcoxon, ttest_ind); what
is written here is the handling of those degenerate inputs, which scipy answers with NaN and
warnings.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
# Differences this small are rounding, not measurement: accuracies are ratios of counts.
TOLERANCE = 1e-12


@dataclass(frozen=True)
class Paired:
    """Summary of treatment − baseline differences over n pairs."""

    n: int
    treatment_mean: float
    baseline_mean: float
    diff_mean: float
    diff_std: float
    ci_low: float
    ci_high: float
    t: float
    p_t: float
    wilcoxon_w: float
    p_wilcoxon: float
    p_unpaired: float  # Welch's t-test ignoring the pairing, for contrast only
    note: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def t_interval(values, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Two-sided t-based confidence interval for the mean; NaNs below two values."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return (math.nan, math.nan)
    mean = float(values.mean())
    if np.all(values == values[0]):  # no spread: scipy's interval would be NaN, the mean is sure
        return (mean, mean)
    low, high = stats.ttest_1samp(values, 0.0).confidence_interval(confidence)
    return (float(low), float(high))


def paired(treatment, baseline, confidence: float = CONFIDENCE) -> Paired:
    """Differences treatment − baseline, element by element (same split seed, same seed)."""
    a = np.asarray(treatment, dtype=float)
    b = np.asarray(baseline, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("paired() needs two 1-D arrays of the same length, one value per pair.")
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    d = a - b
    d[np.abs(d) < TOLERANCE] = 0.0
    n = len(d)
    nan = math.nan
    if n == 0:
        return Paired(0, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, "no pairs")
    mean_a, mean_b, mean_d = float(a.mean()), float(b.mean()), float(d.mean())
    if n == 1:
        return Paired(
            1,
            mean_a,
            mean_b,
            mean_d,
            nan,
            nan,
            nan,
            nan,
            nan,
            nan,
            nan,
            nan,
            "one pair: no spread, no test",
        )
    sd = float(d.std(ddof=1))
    p_unpaired = welch_p(a, b)
    if np.all(d == 0):
        return Paired(
            n,
            mean_a,
            mean_b,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            1.0,
            0.0,
            1.0,
            p_unpaired,
            "all differences zero",
        )
    w, p_w = wilcoxon(d)
    if sd < TOLERANCE:
        return Paired(
            n,
            mean_a,
            mean_b,
            mean_d,
            0.0,
            mean_d,
            mean_d,
            nan,
            nan,
            w,
            p_w,
            p_unpaired,
            "all differences equal: t-test undefined",
        )
    test = stats.ttest_rel(a, b)
    low, high = test.confidence_interval(confidence)
    return Paired(
        n,
        mean_a,
        mean_b,
        mean_d,
        sd,
        float(low),
        float(high),
        float(test.statistic),
        float(test.pvalue),
        w,
        p_w,
        p_unpaired,
    )


def wilcoxon(d: np.ndarray) -> tuple[float, float]:
    """Wilcoxon signed-rank statistic and two-sided p; zero differences are dropped."""
    nonzero = d[d != 0]
    if len(nonzero) == 0:
        return (0.0, 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small-sample and tie warnings: the p-value says enough
        result = stats.wilcoxon(nonzero)
    return (float(result.statistic), float(result.pvalue))


def welch_p(a: np.ndarray, b: np.ndarray) -> float:
    """Welch's two-sample t-test p, as an unpaired analysis would report it."""
    if len(a) < 2 or len(b) < 2 or (a.std(ddof=1) == 0 and b.std(ddof=1) == 0):
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # near-identical samples: scipy warns, the p stands
        return float(stats.ttest_ind(a, b, equal_var=False).pvalue)
