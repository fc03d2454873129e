"""Whether each configuration's networks had finished learning: the share of its jobs still
improving when they stopped (left), and each job's fall of validation loss over its last
epochs against the threshold that calls it still falling (right)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from transfer_lab.report.figures.plotting import new_figure, save
from transfer_lab.report.tables import SweepTables, sweep_title
from transfer_lab.train.convergence import FALLING


def convergence_figure(
    summary: pd.DataFrame, rows: pd.DataFrame, tables: SweepTables, out_dir: Path
) -> list[Path]:
    """figures/convergence.png and .svg; [] when no job recorded its convergence."""
    if summary.empty:
        return []
    labels = [f"{r.configuration} · {r.phase}" for r in summary.itertuples()]
    y = np.arange(len(labels))[::-1]
    figure, (share, fall) = new_figure(2, height=max(3.0, 0.28 * len(labels) + 1.6), legends=0)
    improving = (summary["still_improving"] / summary["jobs"]).to_numpy()
    colours = ["#c62828" if v > 0 else "#9e9e9e" for v in improving]
    share.barh(y, 100 * improving, color=colours)
    share.set_yticks(y, labels, fontsize=7)
    share.set_xlim(0, 100)
    share.set_xlabel("jobs still improving when they stopped (%)")
    share.set_title("still improving at the epoch cap", fontsize=9)
    for position, (_, row) in zip(y, summary.iterrows(), strict=True):
        mine = rows[rows["job"].isin(row.members) & (rows["phase"] == row.phase)]
        drop = -100 * mine["val_loss_slope"].astype(float) * (mine["window"] - 1)
        colour = np.where(mine["still_improving"], "#c62828", "#616161")
        fall.scatter(drop, np.full(len(drop), position), s=12, c=colour, alpha=0.8)
    fall.axvline(100 * FALLING, color="black", linestyle="--", linewidth=0.8)
    fall.set_yticks(y, [""] * len(y))
    fall.set_xlabel("fall of validation loss over the last epochs (% of its mean)")
    fall.set_title(f"dashed: {100 * FALLING:.0f}%, above it still falling", fontsize=9)
    figure.suptitle(f"Convergence · {sweep_title(tables.sweep_dir, tables.jobs)}", fontsize=10)
    return save(figure, out_dir, "convergence")
