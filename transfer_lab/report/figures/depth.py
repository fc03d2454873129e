"""Copied depth: target accuracy against the depth n copied (frozen, or fine-tuned for +), with
bands, and the paired difference of each network against baseB. A Yosinski sweep (baseB and
its arms at every depth) gets layers.png instead, which holds the paired panel too: four bands
from few seeds over one another wash such a panel out."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from transfer_lab.report.collect import TREATMENT_COLUMNS, distinct
from transfer_lab.report.figures.layers import is_layers_sweep
from transfer_lab.report.figures.plotting import (
    SweepData,
    draw_paired_by_depth,
    draw_series,
    facets,
    fit_to_points,
    label_paired_by_depth,
    legend_note,
    new_figure,
    of_family,
    place_legend,
    save,
    style_for,
    values_of,
)
from transfer_lab.report.pairing import BASEB
from transfer_lab.report.statistics import t_interval
from transfer_lab.transfer import arms
from transfer_lab.transfer.arms import FAMILY_WORDS


def depth_figure(sweep: SweepData, out_dir: Path) -> list[Path]:
    """One figure per value of the columns that are not the network (e.g. per β)."""
    copied = [c for c in sweep.configs if c.values.get("treatment") not in (None, arms.SCRATCH)]
    if len(distinct(c.values.get("depth") for c in copied)) < 2 or is_layers_sweep(sweep):
        return []
    has_pairs = sweep.has_pairs(BASEB)
    written = []
    for suffix, words, members in facets(sweep.configs, sweep.display, set(TREATMENT_COLUMNS)):
        figure, axes = new_figure(2 if has_pairs else 1)
        families = [f for f in arms.FAMILIES if f != arms.BASE_B]
        banded: list[int] = []
        for index, family in enumerate(families):
            chosen = of_family(members, family)
            if not chosen:
                continue
            style = style_for(index, family)
            banded += draw_series(
                axes[0],
                [int(c.values["depth"]) for c in chosen],
                [values_of(c, sweep.metric("target")) for c in chosen],
                style,
                FAMILY_WORDS[family],
                offset=(index - 2) * 0.05,
            )
            if has_pairs:
                draw_paired_by_depth(axes[1], sweep, chosen, style, FAMILY_WORDS[family], index)
        for base in (c for c in members if c.values.get("family") == arms.BASE_B):
            values = values_of(base, sweep.metric("target"))
            level = 100 * float(np.mean(values))
            axes[0].axhline(
                level, color="black", linestyle="--", linewidth=1.2, label="baseB (scratch), mean"
            )
            low, high = t_interval(values)
            if len(values) >= 3 and not math.isnan(low):
                banded.append(len(values))
                axes[0].axhspan(
                    max(0, 100 * low), min(100, 100 * high), color="black", alpha=0.07, linewidth=0
                )
        fit_to_points(axes[0])
        depths = sorted(
            {int(c.values["depth"]) for c in members if c.values.get("family") != arms.BASE_B}
        )
        for ax in axes:
            ax.set_xticks(depths)
            ax.set_xlabel("n: stages copied (frozen, or fine-tuned for +)")
        axes[0].set_ylabel("target task B: test accuracy (%)")
        axes[0].set_title("Accuracy on B against copied depth" + (f" ({words})" if words else ""))
        place_legend(axes[0], legend_note(banded))
        if has_pairs:
            label_paired_by_depth(axes[1])
        sweep.suptitle(figure, "Copied depth", members)
        written += save(figure, out_dir, f"depth{suffix}{sweep.suffix}")
    return written
