"""summary.md: the sweep's tables, comparisons, figures and unfinished jobs, for reading."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from transfer_lab.report.ours_or_paper import OURS_WORDS
from transfer_lab.report.pairing import KINDS
from transfer_lab.report.tables import (
    HOLM_WORDS,
    KIND_WORDS,
    PAIRED_HEADER,
    SweepTables,
    few_pairs_warning,
    fixed_settings,
    job_counts,
    paired_rows,
    summary_rows,
)
from transfer_lab.store.atomic import write_atomically

PAIRED_TABLES = (
    ("target_test_acc", "Target task B, test accuracy (ours)"),
    ("source_test_acc", "Source task A, test accuracy (ours)"),
    ("target_paper_acc", "Target task B, test accuracy (the paper's statistic)"),
    ("source_paper_acc", "Source task A, test accuracy (the paper's statistic)"),
)


class Code(str):
    """A table cell shown as code (an override): fenced, not escaped."""


def escaped(text: object) -> str:
    """Text from a record (results.json, overrides, folder names) as Markdown shows it, letter
    for letter: one line, no HTML, no link or image, no code span, no table cell break.

    A colleague can write any text into a record; summary.md is read in browsers and editors
    that render it, so none of that text may become markup.
    """
    line = " ".join(str(text).splitlines())  # a new line could start a heading or a block
    line = line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    line = re.sub(r"([\\`|])", r"\\\1", line)  # no code span, no cell break
    return re.sub(r"\]([(\[])", r"]\\\1", line)  # a link or an image needs ]( or ][


def code_span(text: object) -> str:
    """Text as one inline code span: nothing in it is markup, whatever backticks it holds."""
    line = " ".join(str(text).splitlines()).replace("|", "\\|")  # GFM splits cells first
    longest = max((len(run) for run in re.findall("`+", line)), default=0)
    fence = "`" * (longest + 1)
    return f"{fence} {line} {fence}" if longest else f"`{line}`"


def cell(value: object) -> str:
    return code_span(value) if isinstance(value, Code) else escaped(value)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(map(cell, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(cell, row)) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_markdown(
    tables: SweepTables, drawn: list[Path], figure_errors: list[str], sections: Sequence[str] = ()
) -> None:
    """Write summary.md into the sweep folder, whole or not at all; `sections` (markdown lines)
    go before the figures."""
    sweep_dir, frame = tables.sweep_dir, tables.jobs
    experiments = sorted({str(e) for e in frame.get("experiment", pd.Series()).dropna()})
    header, rows = summary_rows(tables.summary, tables.display)
    text = [
        f"# Sweep report: {escaped(sweep_dir)}\n",
        f"{'experiment ' + escaped(', '.join(experiments)) + ' · ' if experiments else ''}"
        f"{job_counts(frame)}\n",
    ]
    fixed = fixed_settings(tables.configs, tables.columns, tables.display)
    if fixed:
        text.append(f"Fixed in every configuration: {escaped(fixed)}\n")
    text += [
        "## Accuracy by configuration\n",
        "Mean ± standard deviation over replicates, in %. A replicate is one split seed "
        "(the A/B class partition) with one training seed; n counts replicates, and jobs "
        "that repeat a replicate exactly are averaged first. summary.csv also gives each "
        "mean's 95% t-interval, clipped to [0, 100]%, which few replicates would pass.\n",
        statistics_note(tables),
        markdown_table(header, rows),
    ]
    text += paired_section(tables)
    text += list(sections)
    if drawn or figure_errors:
        text.append("## Figures\n")
        for path in drawn:
            if path.suffix == ".png":
                where = quote(path.relative_to(sweep_dir).as_posix())  # a local file, always
                text.append(f"![{escaped(path.stem)}]({where})\n")
        text += [f"- {escaped(error)}\n" for error in figure_errors]
    problems = tables.problems
    if not problems.empty:
        text += [
            "## Jobs that did not finish\n",
            "Left out of every table and comparison above.\n",
            markdown_table(
                ["job", "status", "overrides", "reason"],
                [
                    [str(r.job), str(r.status), Code(r.overrides), str(r.reason)]
                    for r in problems.itertuples()
                ],
            ),
        ]
    write_atomically(sweep_dir / "summary.md", lambda tmp: tmp.write_text("\n".join(text)))


def statistics_note(tables: SweepTables) -> str:
    """Which statistic each test column is, and where the published numbers fit."""
    note = f"Test accuracy (ours) is {OURS_WORDS.removeprefix('ours: ')}: no test data chose it."
    if tables.has_paper:
        note += (
            f" Test accuracy (paper's) is the statistic the reproduced paper reports, "
            f"{tables.paper_words}, from the tests each job made at the end of those epochs "
            "(selection never reads them). The published numbers are in the "
            "paper's statistic: compare them with that column and with the figures named "
            "*_paper.png, which carry the published overlays."
        )
    else:
        note += (
            " No job recorded the paper's statistic (per-epoch tests), so the published "
            "numbers, which are in the paper's statistic, are not overlaid."
        )
    return note + "\n"


def paired_section(tables: SweepTables) -> list[str]:
    """The paired comparisons, or why there are none."""
    paired = tables.paired
    if paired.empty:
        if len(tables.configs) <= 1:
            return []
        return [
            "## Paired comparisons\n",
            "None: no configuration has a baseline in this sweep (β = 0 for β > 0, baseB "
            "for a copied network, the selffer for a transferred one).\n",
        ]
    text = [
        "## Paired comparisons\n",
        "Each configuration against its baseline on the same split seeds and training "
        "seed: difference = configuration − baseline in accuracy points (positive: the "
        "configuration is better), 95% t-interval of the mean difference, two-sided "
        "paired t-test and Wilcoxon signed-rank test (exact for small n; with n pairs "
        "its smallest possible p is 2/2ⁿ). "
        f"{HOLM_WORDS}; paired.csv also has Wilcoxon's p Holm-adjusted. The interval is "
        "clipped to ±100 points. Replicates that only one side finished are left out. "
        "Unpaired (Welch) p-values are in paired.csv for contrast.\n",
    ]
    for metric, title in PAIRED_TABLES:
        rows = paired_rows(paired, metric, notes=True)
        if rows:
            if any(row[-1] for row in rows):
                table = markdown_table([*PAIRED_HEADER, "note"], rows)
            else:
                table = markdown_table(PAIRED_HEADER, [row[:-1] for row in rows])
            text += [f"### {title}\n", table]
            warning = few_pairs_warning(paired.loc[paired["metric"] == metric, "pairs"])
            if warning:
                escaped = warning.replace("*", "\\*", 1)  # the mark, not emphasis
                text.append(f"> **Warning:** {escaped}\n")
    kinds = [k for k in KINDS if k in set(paired["comparison"])]
    text.append("Comparisons: " + "; ".join(KIND_WORDS[k] for k in kinds) + ".\n")
    return text
