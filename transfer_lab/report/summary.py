"""Configurations and their replicates: mean, std and count over split seeds.

A *configuration* is one combination of design-column values. Its *replicates* are the
(split seed, training seed) pairs it ran with; jobs that repeat a replicate exactly (a grid
that sweeps a setting scratch ignores, say) are averaged into one replicate, so n never
counts the same split twice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from transfer_lab.report.collect import (
    CURVE_METRICS,
    MEASURE_METRICS,
    METRICS,
    REPLICATE_KEYS,
    TREATMENT_COLUMNS,
    distinct,
)
from transfer_lab.report.statistics import t_interval
from transfer_lab.store.results import AXES
from transfer_lab.transfer.arms import FAMILIES

SHORT_NAMES = {axis.column: axis.name for axis in AXES}  # β=0.4 · K=1 · n=3


def missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def clean(value: Any) -> Any:
    """numpy scalars → Python, NaN → None, whole floats stay floats."""
    if missing(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass
class Configuration:
    """One configuration: its design values and its replicates' metric values."""

    values: dict[str, Any]
    jobs: list[str] = field(default_factory=list)
    # (split_seed, seed) -> metric -> value (mean over jobs that repeat that replicate)
    replicates: dict[tuple, dict[str, float]] = field(default_factory=dict)

    def metric(self, name: str) -> dict[tuple, float]:
        return {k: v[name] for k, v in self.replicates.items() if not math.isnan(v[name])}

    def name(self, columns: list[str]) -> str:
        """Short readable name from the given columns, e.g. "A3B+ · β=0.4"."""
        parts = []
        for column in columns:
            value = self.values.get(column)
            if missing(value):
                continue
            if column == "label":
                parts.insert(0, str(value))
            else:
                parts.append(f"{SHORT_NAMES.get(column, column)}={format_value(value)}")
        return " · ".join(parts) or "all jobs"


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def sort_key(values: dict[str, Any], columns: list[str]) -> tuple:
    """baseB first, then BnB, BnB+, AnB, AnB+ by depth; numbers numerically."""
    key: list[tuple] = []
    for column in columns:
        value = values.get(column)
        if column == "family":
            key.append((FAMILIES.index(value) if value in FAMILIES else 99, str(value)))
        elif missing(value):
            key.append((0, 0.0, ""))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            key.append((1, float(value), ""))
        else:
            key.append((2, 0.0, str(value)))
    return tuple(key)


def configurations(frame: pd.DataFrame, columns: list[str]) -> list[Configuration]:
    """Group the finished jobs into configurations, in reading order."""
    done = frame[frame["status"] == "ok"]
    metrics = [*METRICS, *MEASURE_METRICS, *CURVE_METRICS]
    found = []
    for _, jobs in done.groupby(list(columns), dropna=False, sort=False):
        replicates = jobs.groupby(list(REPLICATE_KEYS), dropna=False, sort=False)[metrics]
        found.append(
            Configuration(
                values={c: clean(jobs[c].iloc[0]) for c in columns},
                jobs=[str(job) for job in jobs["job"]],
                replicates={
                    tuple(clean(k) for k in key): {m: float(row[m]) for m in metrics}
                    for key, row in replicates.mean().iterrows()
                },
            )
        )
    order = ["family", "depth", *[c for c in columns if c not in ("family", "depth")]]
    return sorted(found, key=lambda c: sort_key(c.values, order))


def display_columns(configs: list[Configuration], columns: list[str]) -> list[str]:
    """The design columns worth showing: those that vary, label standing for treatment/n/freeze."""
    varying = [c for c in columns if len(distinct([cfg.values.get(c) for cfg in configs])) > 1]
    if any(c in varying for c in TREATMENT_COLUMNS):
        varying = ["label", *[c for c in varying if c not in TREATMENT_COLUMNS]]
    return varying


def summarise(configs: list[Configuration], columns: list[str]) -> pd.DataFrame:
    """One row per configuration: design values, n, split seeds, mean/std/95% CI per metric
    (the accuracies' t-intervals clipped to [0, 1]: from few seeds they can pass 100%).

    The source's transferability measures at the configuration's depth are columns too, when
    the sweep recorded them.
    """
    measured = [m for m in MEASURE_METRICS if any(c.metric(m) for c in configs)]
    metrics = [*METRICS, *measured]
    rows = []
    for config in configs:
        row: dict[str, Any] = dict(config.values)
        row["n"] = len(config.replicates)
        row["jobs"] = len(config.jobs)
        row["split_seeds"] = " ".join(str(s) for s in sorted({r[0] for r in config.replicates}))
        for metric in metrics:
            values = np.array(list(config.metric(metric).values()), dtype=float)
            row[f"{metric}_mean"] = float(values.mean()) if len(values) else math.nan
            row[f"{metric}_std"] = float(values.std(ddof=1)) if len(values) > 1 else math.nan
            low, high = t_interval(values, bounds=(0.0, 1.0) if metric in METRICS else None)
            row[f"{metric}_ci_low"], row[f"{metric}_ci_high"] = low, high
        rows.append(row)
    return pd.DataFrame(
        rows,
        columns=[
            *columns,
            "n",
            "jobs",
            "split_seeds",
            *[f"{m}_{s}" for m in metrics for s in ("mean", "std", "ci_low", "ci_high")],
        ],
    )


def mean_std(mean: float, std: float, scale: float = 100.0) -> str:
    if missing(mean):
        return "–"
    text = f"{scale * mean:.2f}"
    return text if missing(std) else f"{text} ± {scale * std:.2f}"
