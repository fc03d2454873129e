"""How well a measure ranks cut depths the way the measured accuracy does, over split seeds.

Within one split seed, the measure at each cut depth n is set against the measured accuracy of
the arm at n (e.g. AnB's test accuracy): Kendall's τ and Spearman's ρ over the depths say whether
the measure orders the depths as transfer did; the weighted τ (scipy.stats.weightedtau) weighs the
top of the order more, as the estimator literature scores. Every measure must beat the trivial
depth-only baselines (`BASELINES`: n, and −n). The split seed is the replicate: the reported
value is the mean of the per-seed correlations, with a percentile bootstrap interval from
resampling split seeds. Degenerate inputs never raise: a seed whose measure or accuracy is
constant over depths has no correlation and is left out; fewer than two seeds give no interval.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

CONFIDENCE = 0.95
RESAMPLES = 2000


def weighted_kendall(x: np.ndarray, y: np.ndarray) -> tuple[float]:
    """scipy's weighted τ (Vigna 2015): swaps among the top ranks weigh more (weight 1/(r + 1)),
    averaged over ranking by x and by y; the transferability-estimation literature scores
    estimators with it, since picking the best cut matters more than ordering the worst ones."""
    return (float(stats.weightedtau(x, y).statistic),)


CORRELATIONS = {
    "kendall": stats.kendalltau,
    "spearman": stats.spearmanr,
    "weighted_kendall": weighted_kendall,
}
# The trivial baselines every measure must beat: the cut depth alone, either way round.
BASELINES = {
    "depth_deeper": "depth alone: deeper is better",
    "depth_shallower": "depth alone: shallower is better",
}


def with_depth_baselines(frame: pd.DataFrame, over: str = "depth") -> pd.DataFrame:
    """`frame` with the two depth-only baselines as measure columns (n and −n)."""
    return frame.assign(
        depth_deeper=frame[over].astype(float), depth_shallower=-frame[over].astype(float)
    )


def beats_baseline(agreed: pd.DataFrame, by: list[str], statistic: str = "kendall") -> pd.DataFrame:
    """Per group of `by` (e.g. curve): the better depth-only baseline's `statistic` and, for
    each other measure, whether its mean `statistic` is above it (NaN measures never beat it)."""
    rows = []
    for key, group in agreed.groupby(by, dropna=False) if by else [((), agreed)]:
        base = group[group["measure"].isin(BASELINES)][statistic]
        best = float(base.max()) if base.notna().any() else math.nan
        for row in group[~group["measure"].isin(BASELINES)].itertuples():
            value = getattr(row, statistic)
            beats = bool(not math.isnan(best) and not math.isnan(value) and value > best)
            record = dict(zip(by, key if isinstance(key, tuple) else (key,), strict=True))
            record.update(measure=row.measure, value=value, baseline=best, beats=beats)
            rows.append(record)
    return pd.DataFrame(rows, columns=[*by, "measure", "value", "baseline", "beats"])


def per_seed_correlations(
    frame: pd.DataFrame, measure: str, accuracy: str, seed: str = "split_seed", over: str = "depth"
) -> pd.DataFrame:
    """One row per split seed: Kendall τ, Spearman ρ and weighted τ of `measure` against `accuracy`
    over depths."""
    rows = []
    for value, group in frame.dropna(subset=[measure, accuracy]).groupby(seed):
        group = group.sort_values(over)
        x, y = group[measure].to_numpy(float), group[accuracy].to_numpy(float)
        row = {seed: value, "points": len(group)}
        for name, correlate in CORRELATIONS.items():
            constant = len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0
            row[name] = math.nan if constant else float(correlate(x, y)[0])
        rows.append(row)
    return pd.DataFrame(rows, columns=[seed, "points", *CORRELATIONS])


def bootstrap_mean(values: Sequence[float], seed: int = 0) -> tuple[float, float, float]:
    """(mean, low, high): the mean and its percentile bootstrap interval over the replicates."""
    values = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    if len(values) == 0:
        return math.nan, math.nan, math.nan
    mean = float(values.mean())
    if len(values) < 2 or np.ptp(values) == 0:
        return (mean, math.nan, math.nan) if len(values) < 2 else (mean, mean, mean)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # few replicates: scipy warns, the interval stands
        result = stats.bootstrap(
            (values,),
            np.mean,
            confidence_level=CONFIDENCE,
            n_resamples=RESAMPLES,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
    return mean, float(result.confidence_interval.low), float(result.confidence_interval.high)


def rank_agreement(
    frame: pd.DataFrame,
    measures: Sequence[str],
    accuracy: str,
    seed: str = "split_seed",
    over: str = "depth",
) -> pd.DataFrame:
    """One row per measure: mean τ, ρ and weighted τ over split seeds with bootstrap intervals,
    and how many seeds."""
    rows = []
    for measure in measures:
        if measure not in frame:
            continue
        per_seed = per_seed_correlations(frame, measure, accuracy, seed, over)
        row: dict = {"measure": measure}
        for name in CORRELATIONS:
            mean, low, high = bootstrap_mean(per_seed[name].tolist())
            row.update({name: mean, f"{name}_low": low, f"{name}_high": high})
        row["seeds"] = int(per_seed["kendall"].notna().sum())
        rows.append(row)
    columns = ["measure"]
    for name in CORRELATIONS:
        columns += [name, f"{name}_low", f"{name}_high"]
    return pd.DataFrame(rows, columns=[*columns, "seeds"])
