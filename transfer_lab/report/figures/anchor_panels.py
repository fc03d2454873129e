"""Panels of published numbers (anchors/), drawn beside a sweep's figure when asked for.

They come from other datasets and networks, so they show the shape to expect, not the level;
each panel's title says so, and which statistic the published numbers are: the paper's (the
mean of a network's 10 best tests for Yosinski, the last epoch's test for CS6784). The report
draws these panels only beside figures in the paper's statistic (<name>_paper), so the two
sides of a figure compare like with like.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.axes import Axes

from transfer_lab.report import anchors as published
from transfer_lab.report.figures.plotting import place_legend, style_for
from transfer_lab.report.statistics import Paired, paired, t_interval
from transfer_lab.transfer.arms import BASE_B, YOSINSKI_FAMILIES


def yosinski_panel(ax: Axes) -> None:
    table = published.yosinski_figure2()
    for index, family in enumerate(YOSINSKI_FAMILIES):
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
        if family == BASE_B:
            ax.axhline(
                100 * rows["top1_accuracy"].iloc[0], color="black", linestyle=":", linewidth=1
            )
    ax.set_xticks(range(0, 8))
    ax.set_xlabel("n: layers copied (AlexNet-style, 8 layers)")
    ax.set_ylabel("top-1 accuracy on ImageNet's validation set (%)")
    ax.set_title(
        "Published overlay: Yosinski et al. 2014, ImageNet 500/500\n(other data and network; "
        "mean of each network's 10 best tests)",
        fontsize=9,
    )
    place_legend(ax)


def cs6784_paired_difference(pairs: pd.DataFrame | None = None) -> Paired:
    """β = 0.4 − baseline in B's test error (points), one pair per split (not per run)."""
    pairs = published.cs6784_paired_by_split() if pairs is None else pairs
    return paired(pairs["target_error_beta0.4_pct"], pairs["target_error_baseline_pct"])


def cs6784_panel(ax: Axes) -> None:
    """CS6784's published B results, as accuracy (100 − their error), so the panel reads like
    the tables and the figure beside it: up is better, a paired difference > 0 favours β."""
    unpaired = published.cs6784_unpaired()
    for index, (heads, rows) in enumerate(unpaired.groupby("binary_heads")):
        rows = rows.sort_values("beta")
        style = style_for(index)
        words = "baseline (β = 0)" if heads == 0 else f"K={heads}"
        ax.plot(
            rows["beta"],
            100 - rows["target_test_error_pct"],
            color=style["color"],
            marker=style["marker"],
            linestyle="-" if len(rows) > 1 else "none",
            label=f"unpaired, {words}: one split each",
        )
    pairs = published.cs6784_paired_by_split()
    result = cs6784_paired_difference(pairs)
    for x, column in ((0.0, "target_error_baseline_pct"), (0.4, "target_error_beta0.4_pct")):
        low, high = t_interval(100 - pairs[column].to_numpy())
        mean = 100 - pairs[column].mean()
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
        f"paired difference in accuracy: {-result.diff_mean:+.2f} points\n"
        f"95% CI [{-result.ci_high:+.2f}, {-result.ci_low:+.2f}], p={result.p_t:.2f}",
        (0.98, 0.97),
        xycoords="axes fraction",
        ha="right",
        va="top",
        fontsize=8,
    )
    ax.set_xlabel("β")
    ax.set_ylabel("target task B: test accuracy (%)")
    ax.set_title(
        "Published overlay: CS6784 (CIFAR-100 50/50, DenseNet-BC;\nother data and network; "
        "100 − test error at the last epoch)",
        fontsize=9,
    )
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
