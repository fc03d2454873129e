"""`python -m transfer_lab report [DIR]`: the command's arguments; the report itself is
`transfer_lab.report.sweep_report.report_sweep`."""

from __future__ import annotations

import sys
from pathlib import Path

from transfer_lab.cli.words import OneLineParser
from transfer_lab.report.collect import job_dirs
from transfer_lab.report.ours_or_paper import OURS, STATISTICS
from transfer_lab.report.sweep_report import report_sweep

__all__ = ["main", "newest_sweep", "report_sweep"]


def newest_sweep(root: Path = Path("multirun")) -> Path | None:
    """The most recent sweep folder under multirun/<date>/<time>."""
    sweeps = sorted(p.parent for p in root.glob("*/*/multirun.yaml"))
    return sweeps[-1] if sweeps else None


def main(args: list[str]) -> int:
    parser = OneLineParser(
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
    parser.add_argument(
        "--statistic",
        choices=STATISTICS,
        default=OURS,
        help="what the console tables and figures show: ours (default: the checkpoint selected "
        "on validation, tested once) or paper (the reproduced paper's statistic, e.g. the last "
        "epoch's test for CS6784, the mean of the 10 best tests for Yosinski); summary.md and "
        "the CSV files hold both",
    )
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
    if not job_dirs(sweep_dir):
        parser.exit(
            2,
            f"error: {sweep_dir} holds no sweep (no job folders with .hydra/overrides.yaml); "
            "give the folder a sweep wrote, multirun/<date>/<time>.\n",
        )
    try:
        report_sweep(
            sweep_dir,
            anchors=not options.no_anchors,
            draw=not options.no_figures,
            statistic=options.statistic,
        )
    except OSError as error:  # a read-only or full sweep folder
        from transfer_lab.config.folders import WRITE_ERRNOS, os_error_sentence

        if error.errno not in WRITE_ERRNOS:
            raise
        print(f"error: {os_error_sentence(error)}", file=sys.stderr)
        return 2
    return 0
