"""Yosinski et al. (2014) Figure 2: target accuracy against the cut depth n for baseB, BnB,
BnB+, AnB and AnB+; each split seed a point, the mean a line."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from transfer_lab.report.collect import TREATMENT_COLUMNS, distinct
from transfer_lab.report.figures.anchor_panels import yosinski_panel
from transfer_lab.report.figures.plotting import (
    LEGEND_NOTE,
    SweepData,
    draw_series,
    facets,
    new_figure,
    of_family,
    save,
    style_for,
    values_of,
)
from transfer_lab.report.summary import missing
from transfer_lab.transfer.arms import BASE_B, FAMILY_WORDS, YOSINSKI_FAMILIES


def layers_figure(sweep: SweepData, out_dir: Path) -> list[Path]:
    """One figure per value of the columns that are not the network (e.g. per β)."""
    copied = [c for c in sweep.configs if c.values.get("family") in YOSINSKI_FAMILIES[1:]]
    base = [c for c in sweep.configs if c.values.get("family") == BASE_B]
    if not base or len(distinct(c.values.get("depth") for c in copied)) < 2:
        return []
    written = []
    for suffix, words, members in facets(sweep.configs, sweep.display, set(TREATMENT_COLUMNS)):
        figure, axes = new_figure(2 if sweep.anchors else 1)
        ax = axes[0]
        depths = sorted({int(c.values["depth"]) for c in members if not missing(c.values["depth"])})
        for index, family in enumerate(YOSINSKI_FAMILIES):
            chosen = of_family(members, family)
            if not chosen:
                continue
            xs = [0 if family == BASE_B else int(c.values["depth"]) for c in chosen]
            draw_series(
                ax,
                xs,
                [values_of(c, "target_test_acc") for c in chosen],
                style_for(index, family),
                FAMILY_WORDS[family],
                offset=(index - 2) * 0.07,
                band=False,
            )
            if family == BASE_B:
                level = 100 * np.mean(values_of(chosen[0], "target_test_acc"))
                ax.axhline(level, color="black", linestyle=":", linewidth=1)
        ax.set_xticks(sorted({0, *depths}))
        ax.set_xlabel("n: stages copied from the source network (0 = none)")
        ax.set_ylabel("target task B: test accuracy (%)")
        ax.set_title("Layer transferability on B" + (f" ({words})" if words else ""))
        ax.legend(fontsize=8, loc="best", title=LEGEND_NOTE.split(" · band")[0], title_fontsize=7)
        if sweep.anchors:
            yosinski_panel(axes[1])
        figure.suptitle(f"Yosinski-style Figure 2 · sweep {sweep.name}", fontsize=9)
        written += save(figure, out_dir, f"layers{suffix}")
    return written
