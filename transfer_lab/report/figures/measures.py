"""The measures figure: per group of the sweep, the measured curves against the cut depth, then
one panel per transferability measure against the source's stage.

It draws `report/measures_section.py`'s table (one row per split seed, training seed and depth), not
the sweep's configurations, so it is called from there rather than listed in FIGURES; that
module also says which measures to draw and their titles, so this one imports nothing back.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from transfer_lab.transfer.arms import COPIED_FAMILIES, FAMILY_WORDS


def measures_figure(
    table: pd.DataFrame,
    groups: list[str],
    out_dir: Path,
    sweep_name: str,
    titles: dict[str, str],
    data: str = "",
) -> list[Path]:
    """Per group: the measured curves against n, then one panel per measure against n
    (`titles`: each measure's column in `table` and its panel's title, in drawing order;
    `data`: the dataset the jobs trained on, for the title)."""
    from matplotlib.figure import Figure  # matplotlib only when drawing: the report starts fast

    from transfer_lab.report.figures.plotting import FAMILY_STYLE, place_legend, save

    names = list(titles)
    curves = [c for c in COPIED_FAMILIES if c in table and table[c].notna().any()]
    written: list[Path] = []
    for key, members in table.groupby(groups, dropna=False) if groups else [((), table)]:
        count = len(names) + (1 if curves else 0)
        columns = min(3, count)
        figure = Figure(
            figsize=(4.6 * columns, 3.6 * math.ceil(count / columns)), layout="constrained"
        )
        axes = list(figure.subplots(math.ceil(count / columns), columns, squeeze=False).flat)
        for ax in axes[count:]:
            ax.set_visible(False)
        axes = axes[:count]
        for ax in axes:
            ax.grid(True, alpha=0.3)
        panels = iter(axes)
        if curves:
            ax = next(panels)
            for family in curves:
                style = FAMILY_STYLE[family]
                mean = members.groupby("depth")[family].mean()
                ax.plot(
                    mean.index,
                    100 * mean.to_numpy(),
                    color=style["color"],
                    marker=style["marker"],
                    label=FAMILY_WORDS[family],
                )
                ax.scatter(members["depth"], 100 * members[family], color=style["color"], s=8)
            ax.set(title="measured: target test accuracy", ylabel="%")
            place_legend(ax, below=True)
        for name in names:
            ax = next(panels)
            for _, seed in members.groupby("split_seed"):
                ax.plot(seed["depth"], seed[name], color="#999999", lw=0.8, alpha=0.7)
            mean = members.groupby("depth")[name].mean()
            ax.plot(mean.index, mean.to_numpy(), color="#c62828", marker="o", lw=2)
            ax.set(title=titles[name])
        stages = members.drop_duplicates("depth").sort_values("depth")
        for ax in axes:  # the stage copied at cut depth n, by the backbone's name for it
            ax.set_xticks(stages["depth"].tolist(), stages["stage"].astype(str).tolist())
            ax.set_xlabel("source's stage (cut after it)")
        words = ", ".join(f"{g}={v}" for g, v in zip(groups, key if groups else (), strict=False))
        seeds = members["split_seed"].nunique()
        figure.suptitle(
            f"Transferability measures{f' on {data}' if data else ''} · {sweep_name} · "
            f"n = {seeds} split seeds\n"
            "the source on A measured on B's budget · grey: split seeds · red: mean"
            + (f" · {words}" if words else ""),
            fontsize=10,
        )
        suffix = "".join(f"_{g}-{v}" for g, v in zip(groups, key if groups else (), strict=False))
        written += save(figure, out_dir, f"measures{suffix}".replace("/", "-").replace(" ", ""))
    return written
