"""The data-budget study: target accuracy against B's budget for each treatment (transfer and
scratch), and the paired gain of each treatment over scratch at each budget."""

from __future__ import annotations

from pathlib import Path

from transfer_lab.report.collect import distinct
from transfer_lab.report.figures.plotting import (
    LEGEND_NOTE,
    SweepData,
    draw_paired,
    draw_series,
    fit_to_points,
    new_figure,
    save,
    series,
    style_for,
    values_of,
)
from transfer_lab.report.pairing import BASEB
from transfer_lab.report.summary import Configuration, missing
from transfer_lab.transfer.arms import FAMILY_WORDS

BUDGET_COLUMNS = ("fraction", "per_class")


def budget_column(configs: list[Configuration]) -> str | None:
    """The budget setting the sweep varies: a fraction of B's images or images per class."""
    for column in BUDGET_COLUMNS:
        if len(distinct(c.values.get(column) for c in configs)) > 1:
            return column
    return None


def budget_figure(sweep: SweepData, out_dir: Path) -> list[Path]:
    """One line per treatment (and per value of any other varying column)."""
    column = budget_column(sweep.configs)
    if column is None:
        return []
    series_columns = [c for c in sweep.display if c not in BUDGET_COLUMNS]

    def to_x(config: Configuration) -> float:
        value = float(config.values[column])
        return 100 * value if column == "fraction" else value

    has_pairs = sweep.has_pairs(BASEB)
    figure, axes = new_figure(2 if has_pairs else 1)
    budgeted = [c for c in sweep.configs if not missing(c.values.get(column))]
    groups = series(budgeted, series_columns)
    budgets = sorted({to_x(c) for c in budgeted})
    for index, members in enumerate(groups.values()):
        members = sorted(members, key=lambda c: float(c.values[column]))
        family = members[0].values.get("family") if "label" in series_columns else None
        label = members[0].name(series_columns) if series_columns else "target"
        if family in FAMILY_WORDS and series_columns == ["label"]:  # A4B+ (transfer, fine-tuned)
            label = f"{members[0].values['label']} {FAMILY_WORDS[family].split(' ', 1)[1]}"
        style = style_for(index, family)
        xs = [to_x(c) for c in members]
        draw_series(axes[0], xs, [values_of(c, "target_test_acc") for c in members], style, label)
        points = sweep.paired_points(BASEB, members, to_x)
        if points:
            draw_paired(axes[1], points, style, label, annotate=len(groups) <= 3)
    what = (
        "fraction of B's training set (%)"
        if column == "fraction"
        else "B training images per class"
    )
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xticks(budgets, [f"{b:g}" for b in budgets])
        ax.minorticks_off()
        ax.set_xlabel(what)
    fit_to_points(axes[0])
    axes[0].set_ylabel("target task B: test accuracy (%)")
    axes[0].set_title("Accuracy on B against its data budget")
    axes[0].legend(fontsize=8, title=LEGEND_NOTE, title_fontsize=7)
    if has_pairs:
        axes[1].set_ylabel("gain over scratch (accuracy points)")
        axes[1].set_title(
            "Paired: treatment − baseB (scratch)\nsame split seeds; bars: 95% CI", fontsize=10
        )
        axes[1].legend(fontsize=8)
    figure.suptitle(f"Data budget · sweep {sweep.name}", fontsize=9)
    return save(figure, out_dir, "budget")
