"""What every figure shares: the sweep's data, styles, panels, series with bands, paired bars.

Figures are drawn with matplotlib's object API on the Agg canvas: no pyplot, no global state.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure

from transfer_lab.report.ours_or_paper import OURS, OURS_WORDS, metric
from transfer_lab.report.pairing import BASEB, Comparison, find
from transfer_lab.report.statistics import Paired, t_interval
from transfer_lab.report.summary import Configuration, format_value, missing
from transfer_lab.store.atomic import own_folder, write_atomically
from transfer_lab.transfer.arms import BASE_B

FAMILY_STYLE: dict[str, dict[str, Any]] = {
    BASE_B: {"color": "black", "marker": "o", "facecolor": "white"},
    "BnB": {"color": "#1f4e9c", "marker": "s"},
    "BnB+": {"color": "#6fa8dc", "marker": "s", "facecolor": "white"},
    "AnB": {"color": "#c62828", "marker": "^"},
    "AnB+": {"color": "#e91e63", "marker": "D", "facecolor": "white"},
    "randomnB": {"color": "#777777", "marker": "x"},
    "BnB+fk": {"color": "#6fa8dc", "marker": "v"},
    "AnB+fk": {"color": "#e91e63", "marker": "v"},
}  # one per family of transfer/arms.py (tests/test_arms.py checks)
CYCLE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
BAND_FROM = 3  # with two values t(0.975, 1) = 12.7 makes a band that hides everything


def n_words(counts) -> str:
    """How many replicates each point has: "8", or "3–8" where they differ."""
    found = sorted({int(n) for n in counts if n})
    if not found:
        return "0"
    return str(found[0]) if len(found) == 1 else f"{found[0]}–{found[-1]}"


def legend_note(banded) -> str:
    """The legend's title: what dots and lines are, and the band only where one was drawn,
    with the number of values it is computed from (`banded`: one count per band point)."""
    note = "dots: single split seeds · line: mean"
    if banded:
        note += f"\nband: 95% t-interval of the mean, n = {n_words(banded)}"
    return note


def place_legend(ax: Axes, title: str | None = None, below: bool = False, **options) -> None:
    """The legend outside the panel, to its right (or `below` it, under its axis label), so it
    never hides a point."""
    if not ax.get_legend_handles_labels()[0]:
        return
    where = {"loc": "upper left", "bbox_to_anchor": (1.02, 1.0)}
    if below:
        where = {"loc": "upper center", "bbox_to_anchor": (0.5, -0.2)}
    ax.legend(
        **where,
        borderaxespad=0.0,
        fontsize=8,
        title=title,
        title_fontsize=7,
        alignment="left",
        **options,
    )


@dataclass(frozen=True)
class SweepData:
    """What every figure reads from the report: configurations, the design columns that vary
    between them, the paired comparisons, the sweep's name for titles (its experiment and
    date, tables.sweep_title), the data its jobs trained on (`data`, so a study on another
    dataset is not taken for the experiment's default), whether to add the published numbers'
    panel, and which statistic to plot (`statistic`, with `words` for the titles;
    report/ours_or_paper.py).
    Figures in the paper's statistic are saved as <name>_paper, so both kinds can sit side by
    side. `per_class` maps each data.fraction to B's mean training images per class, for the
    budget axis."""

    configs: list[Configuration]
    display: list[str]
    comparisons: list[Comparison]
    name: str
    anchors: bool = True
    statistic: str = OURS
    words: str = OURS_WORDS
    per_class: dict[float, float] = field(default_factory=dict)
    data: str = ""

    def metric(self, phase: str) -> str:
        """The column a figure plots for a phase's test accuracy in this statistic."""
        return metric(phase, self.statistic)

    @property
    def suffix(self) -> str:
        return "" if self.statistic == OURS else "_paper"

    @property
    def title_note(self) -> str:
        """The statistic, for a figure's title: every figure says which one it shows."""
        return f"test accuracy: {self.words}"

    def suptitle(self, figure: Figure, what: str, configs=None, statistic: bool = True) -> None:
        """The figure's title: what it shows, on which data, the sweep (experiment and date), n,
        the statistic."""
        configs = self.configs if configs is None else configs
        counts = [len(c.metric(self.metric("target"))) for c in configs]
        on = f" on {self.data}" if self.data else ""
        first = f"{what}{on} · {self.name} · n = {n_words(counts)} split seeds per configuration"
        figure.suptitle(first + (f"\n{self.title_note}" if statistic else ""), fontsize=9)

    def paired_points(
        self, kind: str, members: list[Configuration], x_of: Callable[[Configuration], float]
    ) -> list[tuple[float, Paired]]:
        """(x, paired statistics) of each member that has a comparison of this kind."""
        points = []
        for config in members:
            comparison = find(self.comparisons, kind, config)
            result = comparison.stats(self.metric("target")) if comparison else None
            if result is not None:
                points.append((x_of(config), result))
        return points

    def has_pairs(self, kind: str) -> bool:
        """Whether any comparison of this kind has pairs to draw."""
        target = self.metric("target")
        return any(c.kind == kind and c.stats(target) is not None for c in self.comparisons)


def percent(values) -> np.ndarray:
    return 100 * np.asarray(values, dtype=float)


def values_of(config: Configuration, metric: str) -> list[float]:
    return list(config.metric(metric).values())


def of_family(configs: list[Configuration], family: str) -> list[Configuration]:
    """The configurations of one family, by cut depth."""
    return sorted(
        (c for c in configs if c.values.get("family") == family), key=lambda c: c.values["depth"]
    )


def style_for(index: int, family: str | None = None) -> dict[str, Any]:
    if family in FAMILY_STYLE:
        return dict(FAMILY_STYLE[family])
    return {"color": CYCLE[index % len(CYCLE)], "marker": MARKERS[index % len(MARKERS)]}


def new_figure(panels: int, height: float = 4.2, legends: float = 2.2) -> tuple[Figure, list[Axes]]:
    """Panels side by side; four make a 2 × 2 grid, which fits a paper's page better.
    `legends`: inches of width kept for the legends beside the panels (place_legend)."""
    rows, cols = (2, 2) if panels == 4 else (1, panels)
    figure = Figure(figsize=(5.4 * cols + legends, height * rows), layout="constrained")
    axes = list(figure.subplots(rows, cols, squeeze=False).flat)
    for ax in axes:
        ax.grid(True, alpha=0.3)
    return figure, list(axes)


def save(figure: Figure, out_dir: Path, stem: str) -> list[Path]:
    """The figure as png and svg, each whole or absent and never written through a link
    (store/atomic.py); a figures folder that is a link is refused."""
    own_folder(out_dir)
    paths = []
    for suffix in ("png", "svg"):
        path = out_dir / f"{stem}.{suffix}"
        dpi = 150 if suffix == "png" else None
        write_atomically(path, lambda tmp, s=suffix, d=dpi: figure.savefig(tmp, format=s, dpi=d))
        paths.append(path)
    return paths


def facets(
    configs: list[Configuration], display: list[str], used: set[str]
) -> Iterator[tuple[str, str, list[Configuration]]]:
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


def series(configs: list[Configuration], columns: list[str]) -> dict[tuple, list[Configuration]]:
    """Configurations grouped by their values in the given columns: one plotted line each."""
    groups: dict[tuple, list[Configuration]] = {}
    for config in configs:
        groups.setdefault(tuple(config.values.get(c) for c in columns), []).append(config)
    return groups


def draw_series(
    ax: Axes,
    xs: list[float],
    samples: list[list[float]],
    style: dict[str, Any],
    label: str,
    offset: float = 0.0,
    band: bool = True,
    as_percent: bool = True,
) -> list[int]:
    """Points for every replicate, the mean as a line, a 95% band where there are 3+ values;
    returns how many values each banded point has (none: no band drawn), for legend_note.

    Accuracies are drawn in %, as the tables show them; other values (losses) as they are,
    with `as_percent=False`."""
    scale = percent if as_percent else (lambda v: np.asarray(v, dtype=float))
    face = style.get("facecolor", style["color"])
    means, lows, highs = [], [], []
    banded: list[int] = []
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
        low, high = t_interval(values) if len(values) >= BAND_FROM else (math.nan, math.nan)
        lows.append(low)
        highs.append(high)
        if band and not math.isnan(low):
            banded.append(len(values))
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
        low_line, high_line = scale(lows), scale(highs)
        if as_percent:
            low_line, high_line = np.clip(low_line, 0, 100), np.clip(high_line, 0, 100)
        ax.fill_between(xs, low_line, high_line, color=style["color"], alpha=0.12, linewidth=0)
    return banded


def draw_pair_lines(
    ax: Axes, xs: list[float], members: list[Configuration], metric: str, style: dict[str, Any]
) -> None:
    """A thin line through each split seed's dots across the members, so the dots that a paired
    test compares read as pairs (with two β levels, one segment per split seed)."""
    replicates = sorted({key for config in members for key in config.metric(metric)})
    for key in replicates:
        joined = [
            (x, config.metric(metric)[key])
            for x, config in zip(xs, members, strict=True)
            if key in config.metric(metric)
        ]
        if len(joined) >= 2:
            ax.plot(
                [x for x, _ in joined],
                percent([v for _, v in joined]),
                color=style["color"],
                linewidth=0.7,
                alpha=0.35,
                zorder=2,
            )


def fit_to_points(ax: Axes) -> None:
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
    points: list[tuple[float, Paired]],
    style: dict[str, Any],
    label: str,
    offset: float = 0.0,
    annotate: bool = True,
    as_percent: bool = True,
) -> None:
    """Mean paired difference (points) at each x with its 95% CI, p-values written above;
    differences of accuracies in points, of other values (losses) as they are."""
    scale = percent if as_percent else (lambda v: np.asarray(v, dtype=float))
    xs = np.array([x for x, _ in points], dtype=float) + offset
    mean = scale([r.diff_mean for _, r in points])
    low = scale([r.ci_low for _, r in points])
    high = scale([r.ci_high for _, r in points])
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
    if annotate:
        tops = np.where(np.isnan(high), mean, high)
        for x, top, (_, result) in zip(xs, tops, points, strict=True):
            words = f"n={result.n}" if missing(result.p_t) else f"p={result.p_t:.2g}\nn={result.n}"
            ax.annotate(
                words,
                (x, top),
                textcoords="offset points",
                xytext=(0, 4),
                ha="center",
                fontsize=7,
                color=style["color"],
            )
    ax.axhline(0, color="black", linewidth=0.8)
    ax.margins(x=0.12, y=0.18)  # room for the p-values above the bars, the last one included


def draw_paired_by_depth(
    ax: Axes,
    sweep: SweepData,
    chosen: list[Configuration],
    style: dict[str, Any],
    label: str,
    index: int,
) -> None:
    """Each network's paired difference from baseB at its copied depth (the depth and the
    layers figures), offset by the family's place so families side by side stay apart."""
    points = sweep.paired_points(BASEB, chosen, lambda c: int(c.values["depth"]))
    if points:
        draw_paired(ax, points, style, label, offset=(index - 2) * 0.08, annotate=False)


def label_paired_by_depth(ax: Axes) -> None:
    """The title and axis of the panel draw_paired_by_depth fills."""
    ax.set_title(
        "Paired: network − baseB, same split seeds\nbars: 95% t-interval of the mean "
        "difference (n pairs in paired.csv)",
        fontsize=10,
    )
    ax.set_ylabel("difference from baseB (accuracy points)")
