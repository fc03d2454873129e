"""The studies' figures, each drawn only when the sweep holds the data for it.

- layers: Yosinski et al. (2014) Figure 2: target accuracy against the cut depth n for baseB,
  BnB, BnB+, AnB, AnB+; each split seed a point, the mean a line.
- beta: source (A) and target (B) test error against β with 95% confidence bands, and the
  paired change in B's error against β = 0 on the same splits.
- budget: target accuracy against B's data budget for each treatment (transfer and scratch),
  and the paired gain of each treatment over scratch at each budget.
- depth: target accuracy against the depth n copied (frozen or fine-tuned), with bands and the
  paired difference against baseB.

Published numbers (anchors/) are drawn in a panel of their own, titled as such, when asked for:
they come from other datasets and networks, so they show the shape to expect, not the level.
Figures are drawn with matplotlib's object API on the Agg canvas: no pyplot, no global state.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure

from transfer_lab.report import anchors as published
from transfer_lab.report.collect import TREATMENT_COLUMNS, distinct
from transfer_lab.report.pairing import BASEB, BETA
from transfer_lab.report.statistics import paired, t_interval
from transfer_lab.report.summary import Configuration, format_value, missing

FAMILY_STYLE: dict[str, dict[str, Any]] = {
    "baseB": {"color": "black", "marker": "o", "facecolor": "white"},
    "BnB": {"color": "#1f4e9c", "marker": "s"},
    "BnB+": {"color": "#6fa8dc", "marker": "s", "facecolor": "white"},
    "AnB": {"color": "#c62828", "marker": "^"},
    "AnB+": {"color": "#e91e63", "marker": "D", "facecolor": "white"},
    "randomnB": {"color": "#777777", "marker": "x"},
}
FAMILY_WORDS = {
    "baseB": "baseB (scratch)",
    "BnB": "BnB (selffer, frozen)",
    "BnB+": "BnB+ (selffer, fine-tuned)",
    "AnB": "AnB (transfer, frozen)",
    "AnB+": "AnB+ (transfer, fine-tuned)",
    "randomnB": "random frozen",
}
CYCLE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
LEGEND_NOTE = "dots: single split seeds · line: mean · band: 95% CI (t, from 3 seeds)"


def percent(values) -> np.ndarray:
    return 100 * np.asarray(values, dtype=float)


def values_of(config: Configuration, metric: str) -> list[float]:
    return list(config.metric(metric).values())


def style_for(index: int, family: str | None = None) -> dict[str, Any]:
    if family in FAMILY_STYLE:
        return dict(FAMILY_STYLE[family])
    return {"color": CYCLE[index % len(CYCLE)], "marker": MARKERS[index % len(MARKERS)]}


def new_figure(panels: int, height: float = 4.2) -> tuple[Figure, list[Axes]]:
    """Panels side by side; four make a 2 × 2 grid, which fits a paper's page better."""
    rows, cols = (2, 2) if panels == 4 else (1, panels)
    figure = Figure(figsize=(5.4 * cols, height * rows), layout="constrained")
    axes = list(figure.subplots(rows, cols, squeeze=False).flat)
    for ax in axes:
        ax.grid(True, alpha=0.3)
    return figure, list(axes)


def save(figure: Figure, out_dir: Path, stem: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix in ("png", "svg"):
        path = out_dir / f"{stem}.{suffix}"
        figure.savefig(path, dpi=150 if suffix == "png" else None)
        paths.append(path)
    return paths


def facets(configs: list[Configuration], display: list[str], used: set[str]):
    """(file suffix, title words, configurations) for each value of the columns not plotted."""
    rest = [c for c in display if c not in used]
    if not rest:
        yield "", "", configs
        return
    combos: dict[tuple, list[Configuration]] = {}
    for config in configs:
        combos.setdefault(tuple(config.values.get(c) for c in rest), []).append(config)
    for key, members in combos.items():
        words = ", ".join(
            f"{c}={format_value(v)}" for c, v in zip(rest, key, strict=True) if not missing(v)
        )
        suffix = "_" + "_".join(f"{c}-{format_value(v)}" for c, v in zip(rest, key, strict=True))
        yield suffix.replace("/", "-").replace(" ", ""), words, members


def draw_series(
    ax: Axes,
    xs: list[float],
    samples: list[list[float]],
    style: dict[str, Any],
    label: str,
    offset: float = 0.0,
    band: bool = True,
    error: bool = False,
) -> None:
    """Points for every replicate, the mean as a line, a 95% band where there are 2+ values."""
    scale = (lambda v: 100 - percent(v)) if error else percent
    face = style.get("facecolor", style["color"])
    means, lows, highs = [], [], []
    for x, values in zip(xs, samples, strict=True):
        if values:
            ax.scatter(
                np.full(len(values), x + offset),
                scale(values),
                s=18,
                alpha=0.55,
                marker=style["marker"],
                facecolors=face,
                edgecolors=style["color"],
                linewidths=0.8,
                zorder=3,
            )
        means.append(float(np.mean(values)) if values else math.nan)
        # with two seeds t(0.975, 1) = 12.7 makes a band that hides everything: draw from 3
        low, high = (
            t_interval(np.asarray(values, dtype=float))
            if len(values) >= 3
            else (math.nan, math.nan)
        )
        lows.append(low)
        highs.append(high)
    ax.plot(
        xs,
        scale(means),
        color=style["color"],
        marker=style["marker"],
        markersize=6,
        markerfacecolor=face,
        linewidth=1.8,
        label=label,
        zorder=4,
    )
    if band and any(not math.isnan(v) for v in lows):
        low_line, high_line = np.clip(scale(lows), 0, 100), np.clip(scale(highs), 0, 100)
        if error:
            low_line, high_line = high_line, low_line
        ax.fill_between(xs, low_line, high_line, color=style["color"], alpha=0.12, linewidth=0)


def fit_to_points(ax: Axes, error: bool = False) -> None:
    """y-limits from the plotted points and means, so wide bands from few seeds do not squash them."""
    scatters = [c for c in ax.collections if isinstance(c, PathCollection)]  # not the bands
    values = [
        v
        for collection in scatters
        for v in np.asarray(collection.get_offsets())[:, 1:].ravel()
        if np.isfinite(v)
    ]
    values += [
        v
        for line in ax.lines
        for v in np.asarray(line.get_ydata(), dtype=float).ravel()
        if np.isfinite(v)
    ]
    if values:
        low, high = min(values), max(values)
        pad = max(1.0, 0.08 * (high - low))
        ax.set_ylim(max(0.0, low - pad), min(100.0, high + pad))


def draw_paired(
    ax: Axes,
    rows: pd.DataFrame,
    x_of,
    style: dict[str, Any],
    label: str,
    offset: float = 0.0,
    negate: bool = False,
    annotate: bool = True,
) -> None:
    """Mean paired difference (points) with its 95% CI, p-values written above."""
    sign = -1 if negate else 1
    xs = np.array([x_of(r) for r in rows.itertuples()], dtype=float) + offset
    mean = sign * percent(rows["diff_mean"])
    low, high = sign * percent(rows["ci_low"]), sign * percent(rows["ci_high"])
    if negate:
        low, high = high, low
    err = np.vstack(
        [mean - np.where(np.isnan(low), mean, low), np.where(np.isnan(high), mean, high) - mean]
    )
    ax.errorbar(
        xs,
        mean,
        yerr=err,
        fmt=style["marker"],
        color=style["color"],
        capsize=4,
        markerfacecolor=style.get("facecolor", style["color"]),
        label=label,
        zorder=4,
    )
    for x, hi, p, n in zip(
        xs, np.where(np.isnan(high), mean, high), rows["p_t"], rows["pairs"], strict=True
    ):
        if not annotate:
            break
        text = f"n={n}" if missing(p) else f"p={p:.2g}\nn={n}"
        ax.annotate(
            text,
            (x, hi),
            textcoords="offset points",
            xytext=(0, 4),
            ha="center",
            fontsize=7,
            color=style["color"],
        )
    ax.axhline(0, color="black", linewidth=0.8)
    ax.margins(y=0.18)  # room for the p-values above the bars


# ---------------------------------------------------------------------------------------------
# layers (Yosinski Figure 2)


def layers_figure(configs, display, paired_rows, out_dir, sweep_name, anchors=True) -> list[Path]:
    tl = [c for c in configs if c.values.get("family") in ("BnB", "BnB+", "AnB", "AnB+")]
    base = [c for c in configs if c.values.get("family") == "baseB"]
    if not base or len(distinct(c.values.get("depth") for c in tl)) < 2:
        return []
    written = []
    for suffix, words, members in facets(configs, display, set(TREATMENT_COLUMNS)):
        figure, axes = new_figure(2 if anchors else 1)
        ax = axes[0]
        depths = sorted({int(c.values["depth"]) for c in members if not missing(c.values["depth"])})
        for index, family in enumerate(("baseB", "BnB", "BnB+", "AnB", "AnB+")):
            chosen = sorted(
                (c for c in members if c.values.get("family") == family),
                key=lambda c: c.values["depth"],
            )
            if not chosen:
                continue
            offset = (index - 2) * 0.07
            xs = [0 if family == "baseB" else int(c.values["depth"]) for c in chosen]
            draw_series(
                ax,
                xs,
                [values_of(c, "target_test_acc") for c in chosen],
                style_for(index, family),
                FAMILY_WORDS[family],
                offset,
                band=False,
            )
            if family == "baseB":
                level = 100 * np.mean(values_of(chosen[0], "target_test_acc"))
                ax.axhline(level, color="black", linestyle=":", linewidth=1)
        ax.set_xticks(sorted({0, *depths}))
        ax.set_xlabel("n: stages copied from the source network (0 = none)")
        ax.set_ylabel("target task B: test accuracy (%)")
        ax.set_title("Layer transferability on B" + (f" ({words})" if words else ""))
        ax.legend(fontsize=8, loc="best", title=LEGEND_NOTE.split(" · band")[0], title_fontsize=7)
        if anchors:
            yosinski_panel(axes[1])
        figure.suptitle(f"Yosinski-style Figure 2 · sweep {sweep_name}", fontsize=9)
        written += save(figure, out_dir, f"layers{suffix}")
    return written


def yosinski_panel(ax: Axes) -> None:
    table = published.yosinski_figure2()
    for index, family in enumerate(("baseB", "BnB", "BnB+", "AnB", "AnB+")):
        rows = table[table["treatment"] == family].sort_values("n")
        if rows.empty:
            continue
        style = style_for(index, family)
        ax.plot(
            rows["n"],
            100 * rows["top1_accuracy"],
            color=style["color"],
            marker=style["marker"],
            markerfacecolor=style.get("facecolor", style["color"]),
            label=family,
        )
        if family == "baseB":
            ax.axhline(
                100 * rows["top1_accuracy"].iloc[0], color="black", linestyle=":", linewidth=1
            )
    ax.set_xticks(range(0, 8))
    ax.set_xlabel("n: layers copied (AlexNet-style, 8 layers)")
    ax.set_ylabel("top-1 validation accuracy (%)")
    ax.set_title(
        "Published overlay: Yosinski et al. 2014\nImageNet 500/500 (other data and network)",
        fontsize=9,
    )
    ax.legend(fontsize=8, loc="lower left")


# ---------------------------------------------------------------------------------------------
# beta (CS6784)


def beta_figure(configs, display, paired_rows, out_dir, sweep_name, anchors=True) -> list[Path]:
    with_source = [c for c in configs if not missing(c.values.get("beta"))]
    if len(distinct(c.values.get("beta") for c in with_source)) < 2:
        return []
    series_columns = [c for c in display if c != "beta"]
    groups: dict[tuple, list[Configuration]] = {}
    for config in with_source:
        groups.setdefault(tuple(config.values.get(c) for c in series_columns), []).append(config)
    beta_rows = (
        paired_rows[
            (paired_rows["comparison"] == BETA) & (paired_rows["metric"] == "target_test_acc")
        ]
        if not paired_rows.empty
        else paired_rows
    )
    panels = 2 + (not beta_rows.empty) + bool(anchors)
    figure, axes = new_figure(panels)
    for index, members in enumerate(groups.values()):
        members = sorted(members, key=lambda c: c.values["beta"])
        label = members[0].name(series_columns) if series_columns else "mean over split seeds"
        xs = [float(c.values["beta"]) for c in members]
        style = style_for(index)
        for ax, metric in zip(axes[:2], ("source_test_acc", "target_test_acc"), strict=True):
            draw_series(ax, xs, [values_of(c, metric) for c in members], style, label, error=True)
        if not beta_rows.empty:
            names = {c.name(display) for c in members}
            rows = beta_rows[beta_rows["config"].isin(names)]
            if not rows.empty:
                by_name = {c.name(display): float(c.values["beta"]) for c in members}
                draw_paired(
                    axes[2],
                    rows,
                    lambda r, by_name=by_name: by_name[r.config],
                    style,
                    label,
                    offset=0.01 * index,
                    negate=True,
                    annotate=len(groups) <= 2,
                )
    for ax, task in zip(axes[:2], ("source task A", "target task B"), strict=True):
        fit_to_points(ax)
        ax.set_xlabel("β: weight of the binary-head loss on A")
        ax.set_ylabel(f"{task}: test error (%)")
        ax.set_title(f"Test error on {task} against β")
        ax.legend(fontsize=8, title=LEGEND_NOTE, title_fontsize=7)
    if not beta_rows.empty:
        ax = axes[2]
        ax.set_xlim(axes[1].get_xlim())
        ax.set_xlabel("β")
        ax.set_ylabel("change in B test error (points)")
        ax.set_title(
            "Paired: B error(β) − B error(β = 0)\nsame split seeds; bars: 95% CI", fontsize=10
        )
        ax.legend(fontsize=8)
    if anchors:
        cs6784_panel(axes[-1])
    figure.suptitle(f"Binary superclass heads (β) · sweep {sweep_name}", fontsize=9)
    return save(figure, out_dir, "beta")


def cs6784_panel(ax: Axes) -> None:
    unpaired = published.cs6784_unpaired()
    for index, (heads, rows) in enumerate(unpaired.groupby("binary_heads")):
        rows = rows.sort_values("beta")
        style = style_for(index)
        words = "baseline (β = 0)" if heads == 0 else f"K={heads}"
        ax.plot(
            rows["beta"],
            rows["target_test_error_pct"],
            color=style["color"],
            marker=style["marker"],
            linestyle="-" if len(rows) > 1 else "none",
            label=f"unpaired, {words}: one split each",
        )
    pairs = published.cs6784_paired()
    result = paired(pairs["target_error_beta0.4_pct"], pairs["target_error_baseline_pct"])
    for x, column in ((0.0, "target_error_baseline_pct"), (0.4, "target_error_beta0.4_pct")):
        low, high = t_interval(pairs[column].to_numpy())
        mean = pairs[column].mean()
        ax.errorbar(
            [x + 0.02],
            [mean],
            yerr=[[mean - low], [high - mean]],
            fmt="o",
            color="black",
            markerfacecolor="white",
            capsize=4,
            label=f"paired, same {result.n} splits (mean, 95% CI)" if x == 0 else None,
        )
    ax.annotate(
        f"paired difference: {result.diff_mean:+.2f} points\n"
        f"95% CI [{result.ci_low:+.2f}, {result.ci_high:+.2f}], p={result.p_t:.2f}",
        (0.98, 0.97),
        xycoords="axes fraction",
        ha="right",
        va="top",
        fontsize=8,
    )
    ax.set_xlabel("β")
    ax.set_ylabel("target task B: test error (%)")
    ax.set_title(
        "Published overlay: CS6784 (CIFAR-100 50/50,\nDenseNet-BC; other data and network)",
        fontsize=9,
    )
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)


# ---------------------------------------------------------------------------------------------
# data budget


def budget_column(configs: list[Configuration]) -> str | None:
    for column in ("fraction", "per_class"):
        if len(distinct(c.values.get(column) for c in configs)) > 1:
            return column
    return None


def budget_figure(configs, display, paired_rows, out_dir, sweep_name, anchors=True) -> list[Path]:
    column = budget_column(configs)
    if column is None:
        return []
    series_columns = [c for c in display if c not in ("fraction", "per_class")]
    to_x = (lambda v: 100 * float(v)) if column == "fraction" else float
    gain_rows = (
        paired_rows[
            (paired_rows["comparison"] == BASEB) & (paired_rows["metric"] == "target_test_acc")
        ]
        if not paired_rows.empty
        else paired_rows
    )
    figure, axes = new_figure(2 if not gain_rows.empty else 1)
    groups: dict[tuple, list[Configuration]] = {}
    for config in configs:
        if missing(config.values.get(column)):
            continue
        groups.setdefault(tuple(config.values.get(c) for c in series_columns), []).append(config)
    budgets = sorted({to_x(c.values[column]) for m in groups.values() for c in m})
    for index, members in enumerate(groups.values()):
        members = sorted(members, key=lambda c: float(c.values[column]))
        family = members[0].values.get("family") if "label" in series_columns else None
        label = members[0].name(series_columns) if series_columns else "target"
        if family in FAMILY_WORDS and series_columns == ["label"]:  # A4B+ (transfer, fine-tuned)
            label = f"{members[0].values['label']} {FAMILY_WORDS[family].split(' ', 1)[1]}"
        style = style_for(index, family)
        xs = [to_x(c.values[column]) for c in members]
        draw_series(axes[0], xs, [values_of(c, "target_test_acc") for c in members], style, label)
        if not gain_rows.empty:
            names = {c.name(display): to_x(c.values[column]) for c in members}
            rows = gain_rows[gain_rows["config"].isin(names)]
            if not rows.empty:
                draw_paired(
                    axes[1],
                    rows,
                    lambda r, names=names: names[r.config],
                    style,
                    label,
                    annotate=len(groups) <= 3,
                )
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
    if not gain_rows.empty:
        axes[1].set_ylabel("gain over scratch (accuracy points)")
        axes[1].set_title(
            "Paired: treatment − baseB (scratch)\nsame split seeds; bars: 95% CI", fontsize=10
        )
        axes[1].legend(fontsize=8)
    figure.suptitle(f"Data budget · sweep {sweep_name}", fontsize=9)
    return save(figure, out_dir, "budget")


# ---------------------------------------------------------------------------------------------
# freeze depth


def depth_figure(configs, display, paired_rows, out_dir, sweep_name, anchors=True) -> list[Path]:
    copied = [c for c in configs if c.values.get("treatment") not in (None, "scratch")]
    if len(distinct(c.values.get("depth") for c in copied)) < 2:
        return []
    gain_rows = (
        paired_rows[
            (paired_rows["comparison"] == BASEB) & (paired_rows["metric"] == "target_test_acc")
        ]
        if not paired_rows.empty
        else paired_rows
    )
    written = []
    for suffix, words, members in facets(configs, display, set(TREATMENT_COLUMNS)):
        figure, axes = new_figure(2 if not gain_rows.empty else 1)
        families = [f for f in FAMILY_STYLE if f != "baseB"]
        for index, family in enumerate(families):
            chosen = sorted(
                (c for c in members if c.values.get("family") == family),
                key=lambda c: c.values["depth"],
            )
            if not chosen:
                continue
            style = style_for(index, family)
            xs = [int(c.values["depth"]) for c in chosen]
            draw_series(
                axes[0],
                xs,
                [values_of(c, "target_test_acc") for c in chosen],
                style,
                FAMILY_WORDS[family],
                offset=(index - 2) * 0.05,
            )
            if not gain_rows.empty:
                names = {c.name(display): int(c.values["depth"]) for c in chosen}
                rows = gain_rows[gain_rows["config"].isin(names)]
                if not rows.empty:
                    draw_paired(
                        axes[1],
                        rows,
                        lambda r, names=names: names[r.config],
                        style,
                        FAMILY_WORDS[family],
                        offset=(index - 2) * 0.08,
                        annotate=False,
                    )
        for base in (c for c in members if c.values.get("family") == "baseB"):
            values = values_of(base, "target_test_acc")
            level = 100 * float(np.mean(values))
            axes[0].axhline(
                level, color="black", linestyle="--", linewidth=1.2, label="baseB (scratch), mean"
            )
            low, high = t_interval(np.asarray(values))
            if len(values) >= 3 and not math.isnan(low):
                axes[0].axhspan(
                    max(0, 100 * low), min(100, 100 * high), color="black", alpha=0.07, linewidth=0
                )
        fit_to_points(axes[0])
        depths = sorted(
            {int(c.values["depth"]) for c in members if c.values.get("family") != "baseB"}
        )
        for ax in axes:
            ax.set_xticks(depths)
            ax.set_xlabel("n: stages copied (frozen, or fine-tuned for +)")
        if not gain_rows.empty:
            axes[1].set_title(
                "Paired: treatment − baseB (n pairs in paired.csv)\nsame split seeds; bars: 95% CI",
                fontsize=10,
            )
        axes[0].set_ylabel("target task B: test accuracy (%)")
        axes[0].set_title("Accuracy on B against copied depth" + (f" ({words})" if words else ""))
        axes[0].legend(fontsize=8, title=LEGEND_NOTE, title_fontsize=7)
        if not gain_rows.empty:
            axes[1].set_ylabel("difference from baseB (accuracy points)")
            if axes[1].get_legend_handles_labels()[0]:
                axes[1].legend(fontsize=8)
        figure.suptitle(f"Freeze depth · sweep {sweep_name}", fontsize=9)
        written += save(figure, out_dir, f"depth{suffix}")
    return written


FIGURES = (
    ("layers", layers_figure),
    ("beta", beta_figure),
    ("budget", budget_figure),
    ("depth", depth_figure),
)


def draw_all(
    configs: list[Configuration],
    display: list[str],
    paired_rows: pd.DataFrame,
    out_dir: Path,
    sweep_name: str,
    anchors: bool = True,
) -> list[Path]:
    """Every figure the sweep has data for; returns the files written (PNG and SVG)."""
    written: list[Path] = []
    for _, draw in FIGURES:
        written += draw(configs, display, paired_rows, out_dir, sweep_name, anchors)
    return written
