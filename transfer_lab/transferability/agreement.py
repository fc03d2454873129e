"""How well a measure ranks cut depths the way the measured accuracy does, over split seeds.

Within one split seed, the measure at each cut depth n is set against the measured accuracy of
the arm at n (e.g. AnB's test accuracy): Kendall's τ and Spearman's ρ over the depths say whether
the measure orders the depths as transfer did. The split seed is the replicate: the reported
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
CORRELATIONS = {"kendall": stats.kendalltau, "spearman": stats.spearmanr}


def per_seed_correlations(
    frame: pd.DataFrame, measure: str, accuracy: str, seed: str = "split_seed", over: str = "depth"
) -> pd.DataFrame:
    """One row per split seed: Kendall τ and Spearman ρ of `measure` against `accuracy` over depths."""
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
    """One row per measure: mean τ and ρ over split seeds with bootstrap intervals, and how many."""
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
