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
warnings, Holm's step-down adjustment for a family of tests (scipy has only the FDR ones,
and statsmodels is not a dependency), and the smallest difference a comparison could detect
(its power, from scipy's noncentral t).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np
from scipy import optimize, stats

CONFIDENCE = 0.95
# Below this many pairs a comparison is a first look, not a finding: Wilcoxon's exact p cannot
# fall below 2/2ⁿ, which is 0.0625 at n = 5 (never significant at 5%), 0.031 at n = 6.
FEW_PAIRS = 6
# The detectable difference: what a two-sided paired t-test at level ALPHA finds with POWER.
ALPHA, POWER = 0.05, 0.80
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
    detectable: float = math.nan  # smallest true difference found with 80% power (see below)

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
        detectable=detectable_difference(sd, n),
    )


def t_test_power(effect: float, n: int, alpha: float = ALPHA) -> float:
    """The chance a two-sided one-sample (paired) t-test on n values rejects at `alpha` when
    the true mean is `effect` standard deviations from zero: the noncentral t's two tails
    beyond the critical values, noncentrality effect·√n on n − 1 degrees of freedom."""
    df = n - 1
    critical = stats.t.ppf(1 - alpha / 2, df)
    shift = effect * math.sqrt(n)
    # the lower tail as the upper one of the mirrored shift: scipy's cdf there can give NaN
    return float(stats.nct.sf(critical, df, shift) + stats.nct.sf(critical, df, -shift))


def detectable_difference(sd: float, n: int, alpha: float = ALPHA, power: float = POWER) -> float:
    """The smallest true mean difference a two-sided paired t-test on n pairs detects with
    `power` at level `alpha`, taking the observed SD of the differences as the true one; NaN
    below two pairs or without spread. A difference smaller than this can go unseen: a
    comparison that finds nothing has not shown there is nothing."""
    if n < 2 or not math.isfinite(sd) or sd <= 0:
        return math.nan
    high = 1.0
    while t_test_power(high, n, alpha) < power:  # bracket the effect size, then solve
        high *= 2
    effect = optimize.brentq(lambda e: t_test_power(e, n, alpha) - power, 0.0, high, xtol=1e-10)
    return float(effect * sd)


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
