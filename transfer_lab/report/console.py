"""What the report prints: test accuracies by configuration, one paired table per kind of
comparison, the jobs that did not finish, and where the files went. Validation accuracies
are in summary.md and the CSV files."""

from __future__ import annotations

from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table

from transfer_lab.report.ours_or_paper import OURS, OURS_WORDS, PAPER, metric
from transfer_lab.report.pairing import KINDS
from transfer_lab.report.tables import SweepTables, few_pairs_warning, paired_rows, summary_rows

PAIRED_COLUMNS = ["config", "baseline", "n", "Δ", "95% CI", "detect", "p (t)", "Holm p", "p (W)"]


def print_report(
    console: Console, tables: SweepTables, drawn: list[Path], figure_errors: list[str]
) -> None:
    print_tables(console, tables)
    for r in tables.problems.itertuples():
        console.print(f"[red]job {r.job} {r.status}[/red] ({r.overrides}): {r.reason}")
    for error in figure_errors:
        console.print(f"[yellow]{error}[/yellow]")
    written = ", ".join(
        ["summary.md", "summary.csv", "paired.csv", "jobs.csv"] + (["figures/"] if drawn else [])
    )
    console.print(f"report: {written} in {tables.sweep_dir}")


def print_tables(console: Console, tables: SweepTables) -> None:
    shown = [metric("target", tables.statistic), metric("source", tables.statistic)]
    if tables.statistic == OURS and tables.has_paper:  # both statistics, each named
        shown.insert(1, metric("target", PAPER))
    header, rows = summary_rows(tables.summary, tables.display, tuple(shown), seeds=False)
    caption = f"(ours) = {OURS_WORDS.removeprefix('ours: ')}"
    if tables.has_paper:
        caption += f" · (paper's) = {tables.paper_words}"
    table = Table(
        title=f"{tables.sweep_dir}: test accuracy %, mean ± std over split seeds",
        caption=caption,
        box=box.SIMPLE_HEAD,
    )
    for column in header:
        table.add_column(column, justify="right", no_wrap=column.endswith("%"))
    for row in rows:
        table.add_row(*row)
    console.print(table)
    target = metric("target", tables.statistic)
    chosen = paired_rows(tables.paired, target)
    words = "ours" if tables.statistic == OURS else "the paper's statistic"
    for kind in KINDS:  # one table per kind keeps the columns narrow enough for 80 characters
        rows = [row[1:] for row in chosen if row[0] == kind]
        if not rows:
            continue
        table = Table(
            title=f"paired, {kind}: target test accuracy ({words}), same split seeds",
            caption="Δ = config − baseline (accuracy points) · n pairs · detect: the smallest "
            "Δ found with 80% power · p (t): paired t-test · Holm p: p (t) adjusted over its "
            "family (an arm family's depths, a study's budgets) · p (W): Wilcoxon signed-rank",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
        )
        for index, column in enumerate(PAIRED_COLUMNS):
            if index < 2:  # names may wrap, numbers never
                widest = max(len(column), *(len(row[index]) for row in rows))
                table.add_column(column, min_width=min(widest, 12), overflow="fold")
            else:
                table.add_column(column, justify="right", no_wrap=True)
        for row in rows:
            table.add_row(*row)
        console.print(table)
        paired = tables.paired
        these = paired[(paired["metric"] == target) & (paired["comparison"] == kind)]
        warning = few_pairs_warning(these["pairs"])
        if warning:
            console.print(warning, style="yellow", markup=False)
