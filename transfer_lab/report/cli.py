"""`python -m transfer_lab report [DIR]`: summary.csv, summary.md and a table on the console."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from transfer_lab.report.collect import METRICS, collect, config_keys
from transfer_lab.report.summary import mean_std, summarise
from transfer_lab.transfer.cache import write_atomically

METRIC_TITLES = {
    "target_test_acc": "target test acc %",
    "target_val_acc": "target val acc %",
    "source_val_acc": "source val acc %",
    "source_test_acc": "source test acc %",
}


def newest_sweep(root: Path = Path("multirun")) -> Path | None:
    """The most recent sweep folder under multirun/<date>/<time>."""
    sweeps = sorted(p.parent for p in root.glob("*/*/multirun.yaml"))
    return sweeps[-1] if sweeps else None


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def display_rows(summary: pd.DataFrame, keys: list[str]) -> tuple[list[str], list[list[str]]]:
    header = [*keys, "n", *(METRIC_TITLES[m] for m in METRICS[::-1])]
    rows = []
    for _, row in summary.iterrows():
        cells = [str(row[k]) for k in keys] + [str(int(row["n"]))]
        cells += [mean_std(row[f"{m}_mean"], row[f"{m}_std"]) for m in METRICS[::-1]]
        rows.append(cells)
    return header, rows


def problem_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["status"] != "ok"]


def report_sweep(sweep_dir: Path, console: Console | None = None) -> int:
    """Write the sweep's summary files and print its table; returns how many jobs failed."""
    console = console or Console()
    frame = collect(sweep_dir)
    if frame.empty:
        console.print(f"[yellow]no jobs found in {sweep_dir}[/yellow]")
        return 0
    keys = config_keys(frame)
    summary = summarise(frame, keys)
    problems = problem_rows(frame)

    write_atomically(sweep_dir / "jobs.csv", lambda tmp: frame.to_csv(tmp, index=False))
    write_atomically(sweep_dir / "summary.csv", lambda tmp: summary.to_csv(tmp, index=False))
    header, rows = display_rows(summary, keys)
    text = [f"# Sweep {sweep_dir}\n",
            "Accuracies in %, mean ± std over split seeds; n counts finished jobs.\n",
            markdown_table(header, rows)]
    if not problems.empty:
        text += ["\n## Jobs that did not finish\n",
                 markdown_table(["job", "status", "reason"],
                                [[str(r.job), str(r.status), str(r.reason)]
                                 for r in problems.itertuples()])]
    write_atomically(sweep_dir / "summary.md", lambda tmp: tmp.write_text("\n".join(text)))

    table = Table(title=f"{sweep_dir} — accuracy %, mean ± std over split seeds")
    for column in header:
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    for r in problems.itertuples():
        console.print(f"[red]job {r.job} {r.status}[/red]: {r.reason}")
    console.print(f"report: {sweep_dir / 'summary.md'} and {sweep_dir / 'summary.csv'}")
    return int((problems["status"] == "failed").sum())


def main(args: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m transfer_lab report",
        description="Summarise a sweep: one row per configuration, mean ± std over split seeds.",
    )
    parser.add_argument("sweep_dir", nargs="?", type=Path,
                        help="a sweep folder, multirun/<date>/<time> (default: the newest)")
    options = parser.parse_args(args)
    sweep_dir = options.sweep_dir or newest_sweep()
    if sweep_dir is None:
        parser.exit(2, "error: no sweep found under multirun/; run a sweep first or name its folder.\n")
    if not sweep_dir.is_dir():
        parser.exit(2, f"error: {sweep_dir} is not a folder; give a sweep folder such as "
                       f"multirun/<date>/<time>.\n")
    report_sweep(sweep_dir)
    return 0
