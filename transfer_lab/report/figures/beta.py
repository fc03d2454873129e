"""CS6784's question: source (A) and target (B) test accuracy against β with 95% bands, each
split seed's dots joined across β, and the paired change in B's accuracy against β = 0 on the
same splits: the tables' metric and sign (Δ > 0: β helped)."""

from __future__ import annotations

from pathlib import Path

from transfer_lab.report.collect import distinct
from transfer_lab.report.figures.anchor_panels import cs6784_panel
from transfer_lab.report.figures.plotting import (
    SweepData,
    draw_pair_lines,
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
from transfer_lab.report.pairing import BETA
from transfer_lab.report.summary import missing


def beta_figure(sweep: SweepData, out_dir: Path) -> list[Path]:
    """One line per combination of the other varying columns (e.g. per K)."""
    with_source = [c for c in sweep.configs if not missing(c.values.get("beta"))]
    if len(distinct(c.values.get("beta") for c in with_source)) < 2:
        return []
    series_columns = [c for c in sweep.display if c != "beta"]
    groups = series(with_source, series_columns)
    has_pairs = sweep.has_pairs(BETA)
    figure, axes = new_figure(2 + has_pairs + bool(sweep.anchors))
    banded: list[int] = []
    for index, members in enumerate(groups.values()):
        members = sorted(members, key=lambda c: c.values["beta"])
        label = members[0].name(series_columns) if series_columns else "mean over split seeds"
        xs = [float(c.values["beta"]) for c in members]
        style = style_for(index)
        for ax, metric in zip(
            axes[:2], (sweep.metric("source"), sweep.metric("target")), strict=True
        ):
            banded += draw_series(ax, xs, [values_of(c, metric) for c in members], style, label)
            draw_pair_lines(ax, xs, members, metric, style)
        points = sweep.paired_points(BETA, members, lambda c: float(c.values["beta"]))
        if points:
            draw_paired(
                axes[2],
                points,
                style,
                label,
                offset=0.01 * index,
                annotate=len(groups) <= 2,
            )
    for ax, task in zip(axes[:2], ("source task A", "target task B"), strict=True):
        fit_to_points(ax)
        ax.set_xlabel("β: weight of the binary-head loss on A")
        ax.set_ylabel(f"{task}: test accuracy (%)")
        ax.set_title(f"Test accuracy on {task} against β")
    # one legend for every panel (the same lines), beside B's, outside the data
    place_legend(axes[1], legend_note(banded) + "\nthin lines: one split seed")
    low, high = axes[1].get_xlim()
    pad = 0.06 * (high - low)  # the last β's p-value fits inside the paired panel
    for ax in axes[: 2 + has_pairs]:
        ax.set_xlim(low - pad, high + pad)
    if has_pairs:
        ax = axes[2]
        ax.set_xlabel("β")
        ax.set_ylabel("Δ B test accuracy (points; > 0: β helped)")
        ax.set_title(
            "Paired: B accuracy(β) − B accuracy(β = 0), same split seeds\nbars: 95% t-interval "
            "of the mean difference; p: paired t-test, raw",
            fontsize=10,
        )
    if sweep.anchors:
        cs6784_panel(axes[-1])
    sweep.suptitle(figure, "Binary superclass heads (β)", with_source)
    return save(figure, out_dir, "beta" + sweep.suffix)
