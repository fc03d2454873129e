"""The report's tables as rows of text, shared by the markdown file and the console: titles,
number formats, the summary rows and the paired rows."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from transfer_lab.report.collect import METRICS, TREATMENT_COLUMNS, distinct
from transfer_lab.report.ours_or_paper import OURS, OURS_WORDS
from transfer_lab.report.pairing import BETA, Comparison
from transfer_lab.report.statistics import FEW_PAIRS, wilcoxon_floor
from transfer_lab.report.summary import Configuration, format_value, mean_std, missing
from transfer_lab.store.results import AXES

METRIC_TITLES = {
    "target_test_acc": "target test acc % (ours)",
    "target_val_acc": "target val acc %",
    "source_test_acc": "source test acc % (ours)",
    "source_val_acc": "source val acc %",
    "target_paper_acc": "target test acc % (paper's)",
    "source_paper_acc": "source test acc % (paper's)",
}
COLUMN_TITLES = {axis.column: axis.header for axis in AXES}  # store/results.py declares them
PAIRED_HEADER = [
    "comparison",
    "configuration",
    "baseline",
    "pairs",
    "diff (points)",
    "95% CI (points)",
    "detectable (points)",
    "t-test p",
    "Holm p",
    "Wilcoxon p",
]
KIND_WORDS = {
    BETA: "β vs β=0: the same configuration trained on A without the binary-head loss",
    "vs baseB": "vs baseB: scratch training on B with the same budget and target settings",
    "AnB vs BnB": "AnB vs BnB: the transferred network against the selffer with the same n "
    "and freezing (Yosinski's specificity of A's features)",
}


@dataclass(frozen=True)
class SweepTables:
    """What the report computed from one sweep, for the files and the console to show."""

    sweep_dir: Path
    jobs: pd.DataFrame  # one row per job (jobs.csv)
    columns: list[str]  # the design columns
    configs: list[Configuration]
    display: list[str]  # the design columns that vary: the tables' first columns
    summary: pd.DataFrame  # one row per configuration (summary.csv)
    comparisons: list[Comparison]
    paired: pd.DataFrame  # one row per comparison and metric (paired.csv)
    statistic: str = OURS  # what the console tables and the figures show: ours | paper

    @property
    def paper_words(self) -> str | None:
        """How the sweep's paper scored a network (report/ours_or_paper.py), or None."""
        found = distinct(self.jobs.get("paper_statistic", pd.Series(dtype=object)))
        return "; ".join(map(str, found)) or None

    @property
    def has_paper(self) -> bool:
        """Whether any finished job recorded the paper's statistic."""
        return any(c.metric("target_paper_acc") for c in self.configs)

    def statistic_words(self, statistic: str | None = None) -> str:
        """What a table in this statistic shows, for its title or caption."""
        if (statistic or self.statistic) == OURS:
            return OURS_WORDS
        return f"the paper's: {self.paper_words or 'none recorded'}"

    @property
    def problems(self) -> pd.DataFrame:
        """The jobs that did not finish: failed, unfinished or unreadable."""
        return self.jobs[self.jobs["status"] != "ok"]


def summary_rows(
    summary: pd.DataFrame, display: list[str], metrics=METRICS, seeds: bool = True
) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the per-configuration table (metrics without values left out)."""
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
    """A fraction as accuracy points: 0.0233 → +2.33."""
    if missing(value):
        return "–"
    return f"{100 * value:+.2f}" if signed else f"{100 * value:.2f}"


def p_text(value: float) -> str:
    if missing(value):
        return "–"
    return f"{value:.3f}" if value >= 0.001 else f"{value:.1e}"


HOLM_WORDS = (
    "Holm p: the t-test's p adjusted by Holm's step-down method over its family (every "
    "comparison a figure reads at once: one kind and arm family, all its depths, all the "
    "study's budgets, all β against β = 0; paired.csv names it in holm_family), the one to "
    "read when several were made. Detectable: the smallest true difference the comparison "
    "finds with 80% power at α = 0.05 (two-sided paired t, the noncentral t, with the "
    "observed SD of its differences); a difference smaller than that may be there unseen"
)


def pairs_text(n: int) -> str:
    """The number of pairs, marked when it is too few for the tests to say much."""
    return f"{n}*" if n < FEW_PAIRS else str(n)


def few_pairs_warning(pairs) -> str:
    """A sentence for the rows marked by pairs_text, or "" when every row has enough pairs."""
    few = sorted({int(n) for n in pairs if 0 < int(n) < FEW_PAIRS})
    if not few:
        return ""
    floors = ", ".join(f"{wilcoxon_floor(n):.3g} at n = {n}" for n in few)
    return (
        f"* first look, not a finding: fewer than {FEW_PAIRS} pairs, so the t-interval is wide "
        f"and Wilcoxon's p cannot fall below 2/2ⁿ ({floors}); run more split seeds to decide."
    )


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
            pairs_text(row.pairs),
            points(row.diff_mean),
            interval,
            points(row.detectable, signed=False),
            p_text(row.p_t),
            p_text(row.p_t_holm),
            p_text(row.p_wilcoxon),
        ]
        rows.append([*cells, str(row.note or "")] if notes else cells)
    return rows


def fixed_settings(configs: list[Configuration], columns: list[str], display: list[str]) -> str:
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


def sweep_title(sweep_dir: Path, jobs: pd.DataFrame) -> str:
    """The sweep as figures name it: its experiment and its date, e.g. "digits_beta · sweep
    2026-12-02 01:13:26" (Hydra's multirun/<date>/<time>), else its folder's name."""
    experiments = distinct(jobs.get("experiment", pd.Series(dtype=object)))
    when = sweep_dir.name
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", sweep_dir.parent.name):
        when = f"{sweep_dir.parent.name} {when.replace('-', ':')}"
    return " · ".join([*map(str, experiments), f"sweep {when}"])


def job_counts(frame: pd.DataFrame) -> str:
    """ "9 jobs: 7 finished, 1 failed, 1 unfinished"."""
    counts = frame["status"].value_counts()
    words = [f"{counts.get('ok', 0)} finished"]
    words += [f"{n} {status}" for status, n in counts.items() if status != "ok"]
    return f"{len(frame)} jobs: " + ", ".join(words)
