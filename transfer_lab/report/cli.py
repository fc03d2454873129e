"""`python -m transfer_lab report [DIR]`: tables, paired statistics and figures of a sweep.

Writes into the sweep folder:
  jobs.csv      one row per job (design values, status, reason, metrics)
  summary.csv   one row per configuration: n, split seeds, mean/std/95% CI of each metric
  paired.csv    every configuration against its baseline on the same split seeds
  summary.md    the tables above for reading, the figures, and the jobs that did not finish
  figures/      PNG and SVG of each figure the sweep has data for
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pandas as pd
from rich import box
from rich.console import Console
from rich.table import Table

from transfer_lab.atomic import write_atomically
from transfer_lab.report import figures
from transfer_lab.report import measures as measure_section
from transfer_lab.report.collect import METRICS, TREATMENT_COLUMNS, collect, design_columns
from transfer_lab.report.pairing import BETA, KINDS, comparisons, paired_table
from transfer_lab.report.summary import (
    configurations,
    display_columns,
    format_value,
    mean_std,
    missing,
    summarise,
)

log = logging.getLogger(__name__)

METRIC_TITLES = {
    "target_test_acc": "target test acc %",
    "target_val_acc": "target val acc %",
    "source_test_acc": "source test acc %",
    "source_val_acc": "source val acc %",
}
COLUMN_TITLES = {
    "label": "network",
    "beta": "β",
    "binary_heads": "K",
    "depth": "n",
    "fraction": "B fraction",
    "per_class": "B per class",
    "lr_scale": "lr scale",
    "treatment": "treatment",
    "freeze": "frozen",
}
PAIRED_HEADER = [
    "comparison",
    "configuration",
    "baseline",
    "pairs",
    "diff (points)",
    "95% CI (points)",
    "t-test p",
    "Wilcoxon p",
]


def newest_sweep(root: Path = Path("multirun")) -> Path | None:
    """The most recent sweep folder under multirun/<date>/<time>."""
    sweeps = sorted(p.parent for p in root.glob("*/*/multirun.yaml"))
    return sweeps[-1] if sweeps else None


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    escape = lambda text: str(text).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(map(escape, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(escape, row)) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def summary_rows(
    summary: pd.DataFrame, display: list[str], metrics=METRICS, seeds: bool = True
) -> tuple[list[str], list[list[str]]]:
    metrics = [m for m in metrics if summary[f"{m}_mean"].notna().any()] or list(metrics[:1])
    header = [
        *(COLUMN_TITLES.get(c, c) for c in display),
        "n",
        *(["split seeds"] if seeds else []),
        *(METRIC_TITLES[m] for m in metrics),
    ]
    rows = []
    for _, row in summary.iterrows():
        cells = ["–" if missing(row[c]) else format_value(row[c]) for c in display]
        cells += [str(int(row["n"]))] + ([str(row["split_seeds"])] if seeds else [])
        cells += [mean_std(row[f"{m}_mean"], row[f"{m}_std"]) for m in metrics]
        rows.append(cells)
    return header, rows


def points(value: float, signed: bool = True) -> str:
    if missing(value):
        return "–"
    return f"{100 * value:+.2f}" if signed else f"{100 * value:.2f}"


def p_text(value: float) -> str:
    if missing(value):
        return "–"
    return f"{value:.3f}" if value >= 0.001 else f"{value:.1e}"


def paired_rows(table: pd.DataFrame, metric: str, notes: bool = False) -> list[list[str]]:
    """Rows of PAIRED_HEADER (and a note, if asked) for one metric."""
    if table.empty:
        return []
    rows = []
    chosen = table[table["metric"] == metric]
    for row in chosen.itertuples():
        interval = "–" if missing(row.ci_low) else f"[{points(row.ci_low)}, {points(row.ci_high)}]"
        cells = [
            row.comparison,
            row.config,
            row.baseline,
            str(row.pairs),
            points(row.diff_mean),
            interval,
            p_text(row.p_t),
            p_text(row.p_wilcoxon),
        ]
        rows.append([*cells, str(row.note or "")] if notes else cells)
    return rows


def fixed_settings(frame: pd.DataFrame, configs, columns: list[str], display: list[str]) -> str:
    """What every configuration shares, so the tables need not repeat it."""
    parts = []
    for column in columns:
        if column in display or (column in TREATMENT_COLUMNS[1:] and "label" in columns):
            continue
        values = {
            format_value(c.values.get(column)) for c in configs if not missing(c.values.get(column))
        }
        if len(values) == 1:
            parts.append(f"{COLUMN_TITLES.get(column, column)}={values.pop()}")
    return " · ".join(parts)


def job_counts(frame: pd.DataFrame) -> str:
    counts = frame["status"].value_counts()
    words = [f"{counts.get('ok', 0)} finished"]
    words += [f"{n} {status}" for status, n in counts.items() if status != "ok"]
    return f"{len(frame)} jobs: " + ", ".join(words)


def write_markdown(
    sweep_dir: Path,
    frame: pd.DataFrame,
    configs,
    columns,
    display,
    summary: pd.DataFrame,
    paired: pd.DataFrame,
    drawn: list[Path],
    figure_errors: list[str],
    sections: list[str] = (),
) -> None:
    experiments = sorted({str(e) for e in frame.get("experiment", pd.Series()).dropna()})
    header, rows = summary_rows(summary, display)
    text = [
        f"# Sweep report: {sweep_dir}\n",
        f"{'experiment ' + ', '.join(experiments) + ' · ' if experiments else ''}"
        f"{job_counts(frame)}\n",
    ]
    fixed = fixed_settings(frame, configs, columns, display)
    if fixed:
        text.append(f"Fixed in every configuration: {fixed}\n")
    text += [
        "## Accuracy by configuration\n",
        "Mean ± standard deviation over replicates, in %. A replicate is one split seed "
        "(the A/B class partition) with one training seed; n counts replicates, and jobs "
        "that repeat a replicate exactly are averaged first.\n",
        markdown_table(header, rows),
    ]
    if not paired.empty:
        text += [
            "## Paired comparisons\n",
            "Each configuration against its baseline on the same split seeds and training "
            "seed: difference = configuration − baseline in accuracy points (positive: the "
            "configuration is better), 95% t-interval of the mean difference, two-sided "
            "paired t-test and Wilcoxon signed-rank test (exact for small n; with n pairs "
            "its smallest possible p is 2/2ⁿ). Replicates that only one side finished are "
            "left out. Unpaired (Welch) p-values are in paired.csv for contrast.\n",
        ]
        for metric, title in (
            ("target_test_acc", "Target task B, test accuracy"),
            ("source_test_acc", "Source task A, test accuracy"),
        ):
            rows = paired_rows(paired, metric, notes=True)
            if rows:
                if any(row[-1] for row in rows):
                    table = markdown_table([*PAIRED_HEADER, "note"], rows)
                else:
                    table = markdown_table(PAIRED_HEADER, [row[:-1] for row in rows])
                text += [f"### {title}\n", table]
        kinds = [k for k in KINDS if k in set(paired["comparison"])]
        text.append("Comparisons: " + "; ".join(KIND_WORDS[k] for k in kinds) + ".\n")
    elif len(configs) > 1:
        text += [
            "## Paired comparisons\n",
            "None: no configuration has a baseline in this sweep (β = 0 for β > 0, baseB "
            "for a copied network, the selffer for a transferred one).\n",
        ]
    text += list(sections)
    if drawn or figure_errors:
        text.append("## Figures\n")
        for path in drawn:
            if path.suffix == ".png":
                text.append(f"![{path.stem}]({path.relative_to(sweep_dir).as_posix()})\n")
        text += [f"- {error}\n" for error in figure_errors]
    problems = frame[frame["status"] != "ok"]
    if not problems.empty:
        text += [
            "## Jobs that did not finish\n",
            "Left out of every table and comparison above.\n",
            markdown_table(
                ["job", "status", "overrides", "reason"],
                [
                    [str(r.job), str(r.status), f"`{r.overrides}`", str(r.reason)]
                    for r in problems.itertuples()
                ],
            ),
        ]
    write_atomically(sweep_dir / "summary.md", lambda tmp: tmp.write_text("\n".join(text)))


KIND_WORDS = {
    BETA: "β vs β=0: the same configuration trained on A without the binary-head loss",
    "vs baseB": "vs baseB: scratch training on B with the same budget and target settings",
    "AnB vs BnB": "AnB vs BnB: the transferred network against the selffer with the same n "
    "and freezing (Yosinski's specificity of A's features)",
}


def console_tables(console: Console, sweep_dir: Path, header, rows, paired: pd.DataFrame) -> None:
    table = Table(
        title=f"{sweep_dir}: test accuracy %, mean ± std over split seeds", box=box.SIMPLE_HEAD
    )
    for column in header:
        table.add_column(column, justify="right", no_wrap=column.endswith("%"))
    for row in rows:
        table.add_row(*row)
    console.print(table)
    chosen = paired_rows(paired, "target_test_acc")
    for kind in KINDS:  # one table per kind keeps the columns narrow enough for 80 characters
        rows = [row[1:] for row in chosen if row[0] == kind]
        if not rows:
            continue
        table = Table(
            title=f"paired, {kind}: target test accuracy, same split seeds",
            caption="Δ = config − baseline (accuracy points) · n pairs · p (t): paired "
            "t-test · p (W): Wilcoxon signed-rank",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
        )
        for index, column in enumerate(
            ["config", "baseline", "n", "Δ", "95% CI", "p (t)", "p (W)"]
        ):
            if index < 2:  # names may wrap, numbers never
                widest = max(len(column), *(len(row[index]) for row in rows))
                table.add_column(column, min_width=min(widest, 12), overflow="fold")
            else:
                table.add_column(column, justify="right", no_wrap=True)
        for row in rows:
            table.add_row(*row)
        console.print(table)


def report_sweep(
    sweep_dir: Path, console: Console | None = None, anchors: bool = True, draw: bool = True
) -> int:
    """Write the sweep's report files and print its tables; returns how many jobs are not ok."""
    console = console or Console()
    sweep_dir = Path(sweep_dir)
    frame = collect(sweep_dir)
    if frame.empty:
        console.print(f"[yellow]no jobs found in {sweep_dir}[/yellow]")
        return 0
    columns = design_columns(frame)
    configs = configurations(frame, columns)
    display = display_columns(configs, columns)
    summary = summarise(configs, columns)
    paired = paired_table(comparisons(configs, columns), display)

    write_atomically(sweep_dir / "jobs.csv", lambda tmp: frame.to_csv(tmp, index=False))
    write_atomically(sweep_dir / "summary.csv", lambda tmp: summary.to_csv(tmp, index=False))
    write_atomically(sweep_dir / "paired.csv", lambda tmp: paired.to_csv(tmp, index=False))
    drawn, figure_errors = [], []
    if draw and configs:
        for name, function in figures.FIGURES:
            try:
                drawn += function(
                    configs, display, paired, sweep_dir / "figures", sweep_dir.name, anchors
                )
            except Exception as error:  # a figure must never cost the tables
                log.warning("figure %s not drawn: %s", name, error, exc_info=True)
                figure_errors.append(
                    f"figure {name} could not be drawn: {type(error).__name__}: {error}"
                )
    sections: list[str] = []
    try:  # transferability measures beside the measured curve, when jobs recorded them
        sections, measure_figures = measure_section.report(sweep_dir, frame, draw)
        drawn += measure_figures
    except Exception as error:  # like a figure, never at the cost of the tables
        log.warning("measures section not written: %s", error, exc_info=True)
        figure_errors.append(f"the measures section failed: {type(error).__name__}: {error}")
    write_markdown(
        sweep_dir, frame, configs, columns, display, summary, paired, drawn, figure_errors, sections
    )

    # the console gets test accuracies only; validation accuracies are in summary.md and .csv
    header, rows = summary_rows(summary, display, ("target_test_acc", "source_test_acc"), False)
    console_tables(console, sweep_dir, header, rows, paired)
    problems = frame[frame["status"] != "ok"]
    for r in problems.itertuples():
        console.print(f"[red]job {r.job} {r.status}[/red] ({r.overrides}): {r.reason}")
    for error in figure_errors:
        console.print(f"[yellow]{error}[/yellow]")
    extra = ["measures.csv"] if (sweep_dir / "measures.csv").exists() and sections else []
    written = ", ".join(
        ["summary.md", "summary.csv", "paired.csv", "jobs.csv", *extra]
        + (["figures/"] if drawn else [])
    )
    console.print(f"report: {written} in {sweep_dir}")
    return len(problems)


def main(args: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m transfer_lab report",
        description="Summarise a sweep: one row per configuration (mean ± std over split seeds), "
        "paired comparisons against each baseline on the same split seeds, figures.",
    )
    parser.add_argument(
        "sweep_dir",
        nargs="?",
        type=Path,
        help="a sweep folder, multirun/<date>/<time> (default: the newest)",
    )
    parser.add_argument(
        "--no-anchors", action="store_true", help="leave the published numbers out of the figures"
    )
    parser.add_argument("--no-figures", action="store_true", help="write the tables only")
    options = parser.parse_args(args)
    sweep_dir = options.sweep_dir or newest_sweep()
    if sweep_dir is None:
        parser.exit(
            2, "error: no sweep found under multirun/; run a sweep first or name its folder.\n"
        )
    if not sweep_dir.is_dir():
        parser.exit(
            2,
            f"error: {sweep_dir} is not a folder; give a sweep folder such as "
            f"multirun/<date>/<time>.\n",
        )
    report_sweep(sweep_dir, anchors=not options.no_anchors, draw=not options.no_figures)
    return 0
