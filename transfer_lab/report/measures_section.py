"""Transferability measures beside the measured curve.

Every job whose source was trained on A records that source's measures on B at each stage
(results.json source.measures), and a measure-only job also its linear CKA with baseB. Here
they are set beside what transfer measured: the measure at stage n against the accuracy of
AnB and AnB+ at cut depth n, on the same split seeds.

- measures.csv: one row per split seed, training seed and depth: every measure and, where the
  sweep trained them, the measured accuracies of BnB, BnB+, AnB and AnB+.
- agreement.csv: per measure and curve, Kendall's τ, Spearman's ρ and the weighted τ over depths
  within a split seed, averaged over split seeds, with a bootstrap interval; beside the measures,
  the depth-only baselines every measure must beat (transferability/agreement.py).
- figures/measures*.png: the measured curves, then each measure against n.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from transfer_lab.report.collect import (
    SOURCE_ONLY,
    TREATMENT_COLUMNS,
    design_columns,
    distinct,
)
from transfer_lab.report.markdown import markdown_table
from transfer_lab.transfer import arms
from transfer_lab.transfer.arms import COPIED_FAMILIES
from transfer_lab.transferability.agreement import (
    BASELINES,
    beats_baseline,
    rank_agreement,
    with_depth_baselines,
)
from transfer_lab.transferability.registry import CKA_BASEB, PER_STAGE

# The per-stage measures' columns and titles, and CKA with baseB where the jobs measured it.
MEASURE_TITLES = {m.name: m.title for m in (*PER_STAGE, CKA_BASEB)}
AGREEMENT_TITLES = {**MEASURE_TITLES, **BASELINES}
KEYS = ["split_seed", "seed", "depth"]
TRAINED_ON_A = "trained on A"  # a source's origin when it was not pretrained (source.origin)


def group_columns(frame: pd.DataFrame) -> list[str]:
    """Design columns besides the arm that vary among finished jobs (β, budget, direction …)."""
    done = frame[frame["status"] == "ok"]
    skip = {*TREATMENT_COLUMNS, *SOURCE_ONLY}
    return [
        c
        for c in design_columns(done)
        if c not in skip and c in done and done[c].dropna().astype(str).nunique() > 1
    ]


def source_rows(sweep_dir: Path, frame: pd.DataFrame, groups: list[str]) -> pd.DataFrame:
    """One row per source trained on A, split seed, training seed and stage: its measures on B."""
    rows = []
    done = frame[(frame["status"] == "ok") & (frame["treatment"] == arms.TRANSFER)]
    for job in done.itertuples():
        try:
            results = json.loads((Path(sweep_dir) / str(job.job) / "results.json").read_text())
        except (OSError, ValueError):
            continue
        source = results.get("source") or {}
        measures = source.get("measures") or {}
        cka = (source.get("cka") or {}).get(arms.BASE_B)
        for index, stage in enumerate(results.get("stages") or []):
            row = {g: getattr(job, g, None) for g in groups}
            row.update(split_seed=job.split_seed, seed=job.seed, depth=index + 1, stage=stage)
            row["origin"] = source.get("origin") or TRAINED_ON_A
            row.update({name: values[index] for name, values in measures.items()})
            if cka:
                row[CKA_BASEB.name] = cka[index]
            rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    # Every arm of one split copies the same source onto the same B: keep one row of each.
    return table.drop_duplicates([*groups, *KEYS]).reset_index(drop=True)


def measured_rows(frame: pd.DataFrame, groups: list[str]) -> pd.DataFrame:
    """Target test accuracy per split seed, training seed and depth, one column per family."""
    done = frame[(frame["status"] == "ok") & frame["family"].isin(COPIED_FAMILIES)]
    if done.empty or done["target_test_acc"].isna().all():
        return pd.DataFrame(columns=[*groups, *KEYS])
    table = done.pivot_table(
        index=[*groups, *KEYS], columns="family", values="target_test_acc", aggfunc="mean"
    )
    return table.reset_index().rename_axis(columns=None)


def measure_names(table: pd.DataFrame) -> list[str]:
    return [m for m in MEASURE_TITLES if m in table and table[m].notna().any()]


def agreement(table: pd.DataFrame, groups: list[str]) -> pd.DataFrame:
    """Rank agreement of every measure with every measured curve, per group of the sweep."""
    names = measure_names(table)
    parts = []
    for key, members in table.groupby(groups, dropna=False) if groups else [((), table)]:
        # training seeds of one split are averaged first: the split seed is the replicate
        by_split = members.groupby(["split_seed", "depth"]).mean(numeric_only=True).reset_index()
        for curve in arms.CURVES:
            if curve not in by_split or by_split[curve].isna().all():
                continue
            found = rank_agreement(with_depth_baselines(by_split), [*names, *BASELINES], curve)
            found.insert(0, "curve", curve)
            for column, value in zip(groups, key if groups else (), strict=False):
                found.insert(0, column, value)
            parts.append(found)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def interval(mean: float, low: float, high: float) -> str:
    if math.isnan(mean):
        return "–"
    return f"{mean:+.2f}" + ("" if math.isnan(low) else f" [{low:+.2f}, {high:+.2f}]")


def table_lines(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table whose cells (stage and measure names come from records) are escaped."""
    return markdown_table(header, rows)


def per_stage_lines(table: pd.DataFrame, groups: list[str]) -> str:
    """Mean of every measure (and measured curve) at each depth, over split seeds."""
    names = measure_names(table)
    curves = [c for c in COPIED_FAMILIES if c in table and table[c].notna().any()]
    means = table.groupby([*groups, "depth", "stage"], dropna=False)[[*curves, *names]].mean()
    header = [*groups, "n", "stage", *(f"{c} %" for c in curves), *names]
    rows = []
    for key, row in means.iterrows():
        cells = [str(k) for k in key]
        cells += [f"{100 * row[c]:.1f}" for c in curves]
        cells += [f"{row[m]:.3g}" for m in names]
        rows.append(cells)
    return table_lines(header, rows)


def markdown(table: pd.DataFrame, agreed: pd.DataFrame, groups: list[str]) -> list[str]:
    """The measures section of summary.md: per-stage means, then the agreement table."""
    origins = sorted(table["origin"].dropna().unique()) if "origin" in table else []
    where = "; ".join(o if o == TRAINED_ON_A else f"pretrained, {o}" for o in origins)
    text = [
        "## Transferability measures of the source\n",
        f"The source network: {where or TRAINED_ON_A}.\n",
        "Each measure is computed on the source network (its A is the task its weights learnt), "
        "at the output of stage n, "
        "on B's training budget (the linear probe is scored on B's validation images); CKA "
        "compares the source with baseB (trained on B) on B's validation images. Mean over "
        f"split seeds ({table['split_seed'].nunique()}); per-seed values in measures.csv.\n",
        per_stage_lines(table, groups),
    ]
    if agreed.empty:
        return text
    rows = []
    for row in agreed.itertuples():
        cells = [str(getattr(row, g)) for g in groups]
        cells += [
            row.curve,
            AGREEMENT_TITLES.get(row.measure, row.measure),
            interval(row.kendall, row.kendall_low, row.kendall_high),
            interval(row.weighted_kendall, row.weighted_kendall_low, row.weighted_kendall_high),
            interval(row.spearman, row.spearman_low, row.spearman_high),
            str(row.seeds),
        ]
        rows.append(cells)
    header = [*groups, "curve", "measure", "Kendall τ [95% CI]", "weighted τ [95% CI]"]
    header += ["Spearman ρ [95% CI]", "seeds"]
    return text + [
        "### Do the measures rank the cut depths as transfer did?\n",
        "Within a split seed, Kendall's τ and Spearman's ρ over the cut depths say whether the "
        "measure orders the depths as the curve's measured test accuracy does (+1: same order, "
        "−1: reversed). The table gives their mean over split seeds with a 95% percentile "
        "bootstrap interval from resampling split seeds (none from one seed; few seeds and few "
        "depths give wide, coarse intervals). The weighted τ (scipy.stats.weightedtau, "
        "hyperbolic weights) counts a swap among the best depths more than one among the worst, "
        "as the transferability-estimation literature scores. The two depth-only rows are the "
        "trivial baselines a measure must beat to say more than the cut depth does. In "
        "agreement.csv.\n",
        table_lines(header, rows),
        *verdict_lines(agreed, groups),
    ]


def verdict_lines(agreed: pd.DataFrame, groups: list[str]) -> list[str]:
    """Plain sentences: which measures beat the better depth-only baseline, per curve."""
    lines = []
    for statistic, title in (("kendall", "Kendall's τ"), ("weighted_kendall", "weighted τ")):
        verdict = beats_baseline(agreed, [*groups, "curve"], statistic)
        for key, group in verdict.groupby([*groups, "curve"], dropna=False):
            key = key if isinstance(key, tuple) else (key,)
            where = ", ".join(f"{g}={v}" for g, v in zip(groups, key, strict=False))
            curve = key[-1]
            base = group["baseline"].iloc[0]
            if math.isnan(base):
                continue
            won = [AGREEMENT_TITLES.get(m, m) for m in group[group["beats"]]["measure"]]
            lost = [AGREEMENT_TITLES.get(m, m) for m in group[~group["beats"]]["measure"]]
            lines.append(
                f"- {curve}{f' ({where})' if where else ''}, {title}: the better depth-only "
                f"baseline scores {base:+.2f}; "
                + (f"beaten by {', '.join(won)}" if won else "no measure beats it")
                + (f"; not beaten by {', '.join(lost)}." if lost else ".")
            )
    if not lines:
        return []
    return [
        "**Which measures beat the depth-only baseline on this sweep** (mean over split seeds):\n",
        "\n".join(lines) + "\n",
    ]


def report(sweep_dir: Path, frame: pd.DataFrame, draw_figures: bool = True):
    """(markdown lines, figure files) of the measures section; writes measures/agreement.csv.

    Sweeps without measures get nothing (and no files).
    """
    from transfer_lab.store.atomic import write_atomically

    if "treatment" not in frame:
        return [], []
    groups = group_columns(frame)
    sources = source_rows(sweep_dir, frame, groups)
    if sources.empty or not measure_names(sources):
        return [], []
    measured = measured_rows(frame, groups)
    table = sources.merge(measured, on=[*groups, *KEYS], how="left")
    agreed = agreement(table, groups)
    write_atomically(sweep_dir / "measures.csv", lambda tmp: table.to_csv(tmp, index=False))
    if not agreed.empty:
        write_atomically(sweep_dir / "agreement.csv", lambda tmp: agreed.to_csv(tmp, index=False))
    drawn = []
    if draw_figures:
        from transfer_lab.report.figures.measures import measures_figure
        from transfer_lab.report.tables import sweep_title

        titles = {name: MEASURE_TITLES[name] for name in measure_names(table)}
        title = sweep_title(sweep_dir, frame)
        data = ", ".join(map(str, distinct(frame.get("dataset", []))))
        drawn = measures_figure(table, groups, sweep_dir / "figures", title, titles, data)
    return markdown(table, agreed, groups), drawn
