"""The data-budget study: target accuracy against B's budget for each treatment (transfer and
scratch), and the paired gain of each treatment over scratch at each budget."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from transfer_lab.report.collect import distinct
from transfer_lab.report.figures.plotting import (
    SweepData,
    draw_paired,
    draw_series,
    fit_to_points,
    legend_note,
    new_figure,
    place_legend,
    save,
    series,
    style_for,
    values_of,
)
from transfer_lab.report.ours_or_paper import OURS
from transfer_lab.report.pairing import BASEB
from transfer_lab.report.statistics import paired
from transfer_lab.report.summary import Configuration, missing
from transfer_lab.transfer.arms import BASE_B, FAMILY_WORDS

BUDGET_COLUMNS = ("fraction", "per_class")


def budget_column(configs: list[Configuration]) -> str | None:
    """The budget setting the sweep varies: a fraction of B's images or images per class."""
    for column in BUDGET_COLUMNS:
        if len(distinct(c.values.get(column) for c in configs)) > 1:
            return column
    return None


def images_per_class(jobs: pd.DataFrame) -> dict[float, float]:
    """B's mean training images per class at each data.fraction the finished jobs ran."""
    if "target_train_per_class" not in jobs or "fraction" not in jobs:
        return {}
    done = jobs[(jobs["status"] == "ok") & jobs["fraction"].notna()]
    means = done.groupby("fraction")["target_train_per_class"].mean().dropna()
    return {float(f): float(n) for f, n in means.items()}


def budget_x(config: Configuration, column: str, per_class: dict[float, float]) -> float:
    """Where a configuration sits on the budget axis: B's training images per class (a
    fraction's as the jobs counted them), or % of B where the jobs did not record sizes."""
    value = float(config.values[column])
    if column == "fraction":
        return per_class.get(value, 100 * value) if per_class else 100 * value
    return value


def count_text(images: float) -> str:
    return f"{images:,.0f}" if images >= 10 else f"{images:.2g}"


def draw_budget_axis(
    axes: list, configs: list[Configuration], column: str, per_class: dict[float, float]
) -> None:
    """A log axis with a tick at every budget the sweep ran: images per class, with the
    fraction of B beneath for a fraction sweep."""
    fractions = sorted({float(c.values[column]) for c in configs})
    if column == "fraction" and per_class:
        ticks = [per_class.get(f, 100 * f) for f in fractions]
        labels = [f"{count_text(t)}\n{100 * f:g}%" for t, f in zip(ticks, fractions, strict=True)]
        what = "B's training images per class (mean over split seeds) / % of B"
    elif column == "fraction":
        ticks, labels = [100 * f for f in fractions], [f"{100 * f:g}" for f in fractions]
        what = "fraction of B's training set (%)"
    else:
        ticks, labels = fractions, [f"{f:g}" for f in fractions]
        what = "B's training images per class"
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xticks(ticks, labels)
        ax.minorticks_off()
        ax.set_xlabel(what)


def budget_figure(sweep: SweepData, out_dir: Path) -> list[Path]:
    """One line per treatment (and per value of any other varying column)."""
    column = budget_column(sweep.configs)
    if column is None:
        return []
    series_columns = [c for c in sweep.display if c not in BUDGET_COLUMNS]

    def to_x(config: Configuration) -> float:
        return budget_x(config, column, sweep.per_class)

    has_pairs = sweep.has_pairs(BASEB)
    figure, axes = new_figure(2 if has_pairs else 1)
    budgeted = [c for c in sweep.configs if not missing(c.values.get(column))]
    groups = series(budgeted, series_columns)
    banded: list[int] = []
    for index, members in enumerate(groups.values()):
        members = sorted(members, key=lambda c: float(c.values[column]))
        family = members[0].values.get("family") if "label" in series_columns else None
        label = members[0].name(series_columns) if series_columns else "target"
        if family in FAMILY_WORDS and series_columns == ["label"]:  # A4B+ (transfer, fine-tuned)
            label = f"{members[0].values['label']} {FAMILY_WORDS[family].split(' ', 1)[1]}"
        style = style_for(index, family)
        xs = [to_x(c) for c in members]
        banded += draw_series(
            axes[0], xs, [values_of(c, sweep.metric("target")) for c in members], style, label
        )
        points = sweep.paired_points(BASEB, members, to_x)
        if points:
            draw_paired(axes[1], points, style, label, annotate=len(groups) <= 3)
    draw_budget_axis(axes, budgeted, column, sweep.per_class)
    fit_to_points(axes[0])
    axes[0].set_ylabel("target task B: test accuracy (%)")
    axes[0].set_title("Accuracy on B against its data budget")
    place_legend(axes[0], legend_note(banded))  # the same lines in both panels
    if has_pairs:
        axes[1].set_ylabel("gain over scratch (accuracy points)")
        axes[1].set_title(
            "Paired: treatment − baseB (scratch), same split seeds\nbars: 95% t-interval of "
            "the mean difference; p: paired t-test, raw",
            fontsize=10,
        )
    sweep.suptitle(figure, "Data budget", budgeted)
    return save(figure, out_dir, "budget" + sweep.suffix)


LOSS_PANELS = (
    ("target_train_loss", "training loss, last epoch"),
    ("target_val_loss", "validation loss, last epoch"),
)


def budget_loss_figure(sweep: SweepData, out_dir: Path) -> list[Path]:
    """The seed's view of the budget study: B's training and validation loss at the last epoch
    against the budget for each treatment, and the paired difference of validation loss from
    scratch (below zero: the treatment generalises better). Drawn once, in our statistic's
    pass (losses are the same in either), when the jobs logged losses."""
    column = budget_column(sweep.configs)
    if sweep.statistic != OURS or column is None:
        return []
    if not any(c.metric("target_val_loss") for c in sweep.configs):
        return []
    budgeted = [c for c in sweep.configs if not missing(c.values.get(column))]
    groups = series(budgeted, [c for c in sweep.display if c not in BUDGET_COLUMNS])
    scratch = {float(c.values[column]): c for c in budgeted if c.values.get("family") == BASE_B}
    figure, axes = new_figure(3)
    banded: list[int] = []
    for index, members in enumerate(groups.values()):
        members = sorted(members, key=lambda c: float(c.values[column]))
        family = members[0].values.get("family")
        style = style_for(index, family)
        label = str(members[0].values.get("label") or family or "target")
        xs = [budget_x(c, column, sweep.per_class) for c in members]
        for ax, (metric, _) in zip(axes, LOSS_PANELS, strict=False):
            banded += draw_series(
                ax, xs, [values_of(c, metric) for c in members], style, label, as_percent=False
            )
        if family == BASE_B:
            continue
        diffs = []
        for x, config in zip(xs, members, strict=True):
            base = scratch.get(float(config.values[column]))
            keys = (
                sorted(set(config.metric("target_val_loss")) & set(base.metric("target_val_loss")))
                if base
                else []
            )
            if keys:
                result = paired(
                    [config.metric("target_val_loss")[k] for k in keys],
                    [base.metric("target_val_loss")[k] for k in keys],
                )
                diffs.append((x, result))
        if diffs:
            draw_paired(axes[2], diffs, style, f"{label} − baseB", annotate=False, as_percent=False)
    draw_budget_axis(axes, budgeted, column, sweep.per_class)
    for ax, (_, title) in zip(
        axes, [*LOSS_PANELS, (None, "paired: validation loss − baseB's")], strict=True
    ):
        ax.set_title(title, fontsize=10)
    place_legend(axes[1], legend_note(banded))
    place_legend(axes[2])
    axes[0].set_ylabel("cross-entropy on B")
    axes[2].set_ylabel("Δ validation loss (same split seeds; bars: 95% t-interval)")
    sweep.suptitle(figure, "Data budget, losses", budgeted, statistic=False)
    return save(figure, out_dir, "budget_loss")
