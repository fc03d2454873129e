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
warnings, and Holm's step-down adjustment for a family of tests (scipy has only the FDR ones,
and statsmodels is not a dependency).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
# Below this many pairs the t-interval is wide and Wilcoxon's exact p cannot fall below 2/2ⁿ.
FEW_PAIRS = 5
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


def t_interval(
    values, confidence: float = CONFIDENCE, bounds: tuple[float, float] | None = None
) -> tuple[float, float]:
    """Two-sided t-based confidence interval for the mean; NaNs below two values.

    `bounds` clips the interval to the values' possible range (accuracies: (0, 1)), since with
    few values the t-interval of a mean near a bound passes it."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return (math.nan, math.nan)
    mean = float(values.mean())
    if np.all(values == values[0]):  # no spread: scipy's interval would be NaN, the mean is sure
        return (mean, mean)
    low, high = stats.ttest_1samp(values, 0.0).confidence_interval(confidence)
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return (float(low), float(high))


def holm(p_values) -> np.ndarray:
    """Holm's (1979) step-down adjusted p-values for one family of tests, in the given order.

    The i-th smallest of m p-values is multiplied by m − i + 1, capped at 1, and made no
    smaller than the adjusted p before it; rejecting where the adjusted p ≤ α keeps the chance
    of any false rejection in the family at most α. NaN p-values (no test) stay NaN and do not
    count in m."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(p.shape, math.nan)
    tested = np.flatnonzero(~np.isnan(p))
    order = tested[np.argsort(p[tested], kind="stable")]
    m = len(order)
    running = 0.0
    for i, index in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[index]))
        adjusted[index] = running
    return adjusted


def wilcoxon_floor(n: int) -> float:
    """The smallest two-sided p the exact Wilcoxon signed-rank test can give with n pairs."""
    return 2.0 / 2**n if n >= 1 else math.nan


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
