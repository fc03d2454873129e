"""The report of one sweep, start to end: collect the jobs, group them into configurations,
pair each with its baseline, then write the files, draw the figures and print the tables.

Writes into the sweep folder:
  jobs.csv      one row per job (design values, status, reason, metrics)
  summary.csv   one row per configuration: n, split seeds, mean/std/95% CI of each metric
  paired.csv    every configuration against its baseline on the same split seeds
  summary.md    the tables above for reading, the figures, and the jobs that did not finish
  figures/      PNG and SVG of each figure the sweep has data for
  measures.csv, agreement.csv   the sources' transferability measures beside the measured
                curve, when the jobs recorded them (report/measures_section.py)
  convergence.csv   per job and phase: how it stopped, whether it was still improving
                (report/convergence.py); summary.md also gets the sweep's provenance
"""

from __future__ import annotations

import logging
from pathlib import Path

from rich.console import Console

from transfer_lab.report import convergence, measures_section, provenance
from transfer_lab.report.collect import collect, design_columns, distinct
from transfer_lab.report.console import print_report
from transfer_lab.report.markdown import write_markdown
from transfer_lab.report.ours_or_paper import OURS, PAPER
from transfer_lab.report.pairing import comparisons, paired_table
from transfer_lab.report.summary import configurations, display_columns, summarise
from transfer_lab.report.tables import SweepTables, sweep_title
from transfer_lab.store.atomic import write_atomically

log = logging.getLogger(__name__)


def tables_of(sweep_dir: Path, statistic: str = OURS) -> SweepTables:
    """Every table of the report, computed from the sweep's job folders; `statistic` (ours or
    paper, report/ours_or_paper.py) is what the console tables and the figures show."""
    frame = collect(sweep_dir)
    columns = design_columns(frame)
    configs = configurations(frame, columns)
    display = display_columns(configs, columns)
    found = comparisons(configs, columns)
    return SweepTables(
        sweep_dir=sweep_dir,
        jobs=frame,
        columns=columns,
        configs=configs,
        display=display,
        summary=summarise(configs, columns),
        comparisons=found,
        paired=paired_table(found, display),
        statistic=statistic,
    )


def report_sweep(
    sweep_dir: Path,
    console: Console | None = None,
    anchors: bool = True,
    draw: bool = True,
    statistic: str = OURS,
) -> int:
    """Write the sweep's report files and print its tables; returns how many jobs are not ok.

    Figures in our statistic carry no published overlay, since the published numbers are in
    the paper's; where the jobs recorded the paper's statistic, each figure is drawn in it too
    (<name>_paper), with the overlay. `statistic="paper"` draws only those.
    """
    console = console or Console()
    sweep_dir = Path(sweep_dir)
    tables = tables_of(sweep_dir, statistic)
    if tables.jobs.empty:
        console.print(f"[yellow]no jobs found in {sweep_dir}[/yellow]")
        return 0
    for name, table in (
        ("jobs", tables.jobs),
        ("summary", tables.summary),
        ("paired", tables.paired),
    ):
        write_atomically(sweep_dir / f"{name}.csv", lambda tmp, t=table: t.to_csv(tmp, index=False))
    drawn, figure_errors = [], []
    if draw and tables.configs:
        from transfer_lab.report.figures import SweepData, draw_figures  # matplotlib: only here
        from transfer_lab.report.figures.budget import images_per_class

        kinds = [OURS] if statistic == OURS else []
        if statistic == PAPER or tables.has_paper:
            kinds.append(PAPER)
        for kind in kinds:
            data = SweepData(
                tables.configs,
                tables.display,
                tables.comparisons,
                sweep_title(sweep_dir, tables.jobs),
                anchors=anchors and kind == PAPER,  # like with like: both in the paper's
                statistic=kind,
                words=tables.statistic_words(kind),
                per_class=images_per_class(tables.jobs),
                data=", ".join(map(str, distinct(tables.jobs.get("dataset", [])))),
            )
            found, errors = draw_figures(data, sweep_dir / "figures")
            drawn, figure_errors = drawn + found, figure_errors + errors
    sections: list[str] = []
    try:  # transferability measures beside the measured curve, when the jobs recorded them
        sections, measure_figures = measures_section.report(sweep_dir, tables.jobs, draw)
        drawn += measure_figures
    except Exception as error:  # like a figure: never at the cost of the tables
        log.warning("measures section not written: %s", error, exc_info=True)
        figure_errors.append(f"the measures section failed: {type(error).__name__}: {error}")
    found: list[str] = []
    try:  # whether the networks finished learning, and what to raise where they did not
        found, convergence_figures = convergence.report(tables, draw)
        sections, drawn = [*found, *sections], drawn + convergence_figures
    except Exception as error:  # like a figure: never at the cost of the tables
        log.warning("convergence section not written: %s", error, exc_info=True)
        figure_errors.append(f"the convergence section failed: {type(error).__name__}: {error}")
    sections += provenance.section(sweep_dir)
    write_markdown(tables, drawn, figure_errors, sections)
    print_report(console, tables, drawn, figure_errors)
    for line in convergence.advice_lines(found):
        console.print(line, markup=False)
    return len(tables.problems)
