"""Mean, standard deviation and count over replicates for each configuration."""

from __future__ import annotations

import pandas as pd

from transfer_lab.report.collect import METRICS


def numeric_or_text(value: str):
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def summarise(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """One row per configuration of the finished jobs: n, and mean/std of every metric."""
    done = frame[frame["status"] == "ok"].copy()
    if done.empty:
        return pd.DataFrame(columns=[*keys, "n"])
    for metric in METRICS:
        done[metric] = pd.to_numeric(done[metric], errors="coerce")
    grouped = done.groupby(keys, dropna=False, sort=False) if keys else [((), done)]
    rows = []
    for values, group in grouped:
        values = values if isinstance(values, tuple) else (values,)
        row = dict(zip(keys, values, strict=True))
        row["n"] = len(group)
        for metric in METRICS:
            row[f"{metric}_mean"] = group[metric].mean()
            row[f"{metric}_std"] = group[metric].std(ddof=1) if len(group) > 1 else float("nan")
        rows.append(row)
    table = pd.DataFrame(rows)
    if keys:
        order = table[keys].map(numeric_or_text) if hasattr(table, "map") else table[keys]
        table = table.iloc[sorted(range(len(table)), key=lambda i: tuple(
            (0, v) if isinstance(v, float) else (1, str(v)) for v in order.iloc[i]))]
    return table.reset_index(drop=True)


def mean_std(mean: float, std: float) -> str:
    if pd.isna(mean):
        return "–"
    text = f"{100 * mean:.2f}"
    return text if pd.isna(std) else f"{text} ± {100 * std:.2f}"
