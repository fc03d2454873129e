"""Yosinski et al. (2014) Figure 2: target accuracy against the cut depth n for baseB, BnB,
BnB+, AnB and AnB+; each split seed a point, the mean a line; beside it, where the sweep paired
them, each network's difference from baseB on the same split seeds (the clearest view)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from transfer_lab.report.collect import TREATMENT_COLUMNS, distinct
from transfer_lab.report.figures.anchor_panels import yosinski_panel
from transfer_lab.report.figures.plotting import (
    SweepData,
    draw_paired_by_depth,
    draw_series,
    facets,
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
from transfer_lab.report.summary import missing
from transfer_lab.transfer.arms import BASE_B, FAMILY_WORDS, YOSINSKI_FAMILIES


def is_layers_sweep(sweep: SweepData) -> bool:
    """Whether the sweep holds Yosinski's figure: baseB and copied networks at 2+ depths."""
    copied = [c for c in sweep.configs if c.values.get("family") in YOSINSKI_FAMILIES[1:]]
    base = [c for c in sweep.configs if c.values.get("family") == BASE_B]
    return bool(base) and len(distinct(c.values.get("depth") for c in copied)) >= 2


def layers_figure(sweep: SweepData, out_dir: Path) -> list[Path]:
    """One figure per value of the columns that are not the network (e.g. per β)."""
    if not is_layers_sweep(sweep):
        return []
    has_pairs = sweep.has_pairs(BASEB)
    written = []
    for suffix, words, members in facets(sweep.configs, sweep.display, set(TREATMENT_COLUMNS)):
        figure, axes = new_figure(1 + has_pairs + bool(sweep.anchors))
        ax = axes[0]
        depths = sorted(
            {
                int(c.values["depth"])
                for c in members
                if c.values.get("family") != BASE_B and not missing(c.values["depth"])
            }
        )
        for index, family in enumerate(YOSINSKI_FAMILIES):
            chosen = of_family(members, family)
            if not chosen:
                continue
            style = style_for(index, family)
            xs = [0 if family == BASE_B else int(c.values["depth"]) for c in chosen]
            draw_series(
                ax,
                xs,
                [values_of(c, sweep.metric("target")) for c in chosen],
                style,
                FAMILY_WORDS[family],
                offset=(index - 2) * 0.07,
                band=False,
            )
            if family == BASE_B:
                level = 100 * np.mean(values_of(chosen[0], sweep.metric("target")))
                ax.axhline(level, color="black", linestyle=":", linewidth=1)
            if has_pairs:
                draw_paired_by_depth(axes[1], sweep, chosen, style, FAMILY_WORDS[family], index)
        for panel in axes[: 1 + has_pairs]:
            panel.set_xticks(sorted({0, *depths}) if panel is ax else depths)
            panel.set_xlabel("n: stages copied from the source network (0 = none)")
        ax.set_ylabel("target task B: test accuracy (%)")
        ax.set_title("Layer transferability on B" + (f" ({words})" if words else ""))
        place_legend(ax, legend_note([]))
        if has_pairs:
            label_paired_by_depth(axes[1])
        if sweep.anchors:
            yosinski_panel(axes[-1])
        sweep.suptitle(figure, "Yosinski-style Figure 2", members)
        written += save(figure, out_dir, f"layers{suffix}{sweep.suffix}")
    return written
