"""Whether the sweep's networks had finished learning when they stopped, per configuration.

Each phase of a job records its per-epoch losses (results.json `history`) and how it stopped;
the verdict "still improving" is recomputed here from them with train/convergence.py's rule
(torch-free), so a sweep run before a change of the rule reads by the current one. A
configuration with jobs still improving gets one line that says what to raise. A frozen arm
(AnB, BnB) whose validation accuracy sits far below a linear probe fitted to convergence on
the same frozen features and the same B images (the `probe` measure, where the sweep computed
it) is flagged too: its new top did not learn what those features allow.

Writes convergence.csv (one row per job and phase), a section of summary.md and
figures/convergence.png.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import pandas as pd

from transfer_lab.report.markdown import markdown_table
from transfer_lab.report.summary import missing
from transfer_lab.report.tables import SweepTables
from transfer_lab.store.atomic import write_atomically
from transfer_lab.store.results import JobResults, PhaseResults
from transfer_lab.train.convergence import EARLY_STOPPING, FALLING, convergence
from transfer_lab.transfer import arms

log = logging.getLogger(__name__)

# A frozen arm more than this far below its linear probe (validation accuracy) is flagged.
PROBE_MARGIN = 0.03
PHASES = ("source", "target")


def phase_verdict(phase: PhaseResults | None) -> dict[str, Any] | None:
    """A phase's convergence record, its verdict recomputed from its history; None when the
    job recorded none (older results)."""
    if phase is None or not phase.convergence:
        return None
    record = dict(phase.convergence)
    if phase.history and phase.history.get("epoch") and record.get("mode"):
        cap = phase.epoch_cap or record.get("epoch_cap") or len(phase.history["epoch"])
        record = convergence(
            phase.history, record["monitor"], record["mode"], record["selected_epoch"], cap
        )
    return record


def epochs_key(phase: str, treatment: str | None) -> str:
    """The setting that caps a phase: a selffer's source is baseB's target training."""
    return "target.epochs" if phase == "target" or treatment == arms.SELFFER else "source.epochs"


def job_rows(tables: SweepTables) -> pd.DataFrame:
    """One row per finished job and phase: how it stopped and whether it was still improving,
    and for a frozen arm its gap to the linear probe."""
    rows = []
    done = tables.jobs[tables.jobs["status"] == "ok"]
    for job in done.itertuples():
        try:
            results = JobResults.read(tables.sweep_dir / str(job.job))
        except (OSError, ValueError, TypeError):
            continue
        for phase in PHASES:
            record = phase_verdict(getattr(results, phase))
            if record is None or (phase == "source" and not results.has_source):
                continue
            row = {"job": str(job.job), "phase": phase, **record}
            row["raise"] = epochs_key(phase, results.treatment)
            if phase == "target":
                probe = getattr(job, "source_probe", None)
                val = getattr(job, "target_val_acc", None)
                if results.freeze and not missing(probe) and not missing(val):
                    row["probe_gap"] = float(probe) - float(val)
            rows.append(row)
    return pd.DataFrame(rows)


def per_configuration(tables: SweepTables, rows: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration and phase: jobs, still improving, stopped early, epochs."""
    found = []
    for config in tables.configs:
        mine = rows[rows["job"].isin(config.jobs)]
        for phase, these in mine.groupby("phase", sort=False):
            gaps = these.get("probe_gap", pd.Series(dtype=float)).dropna()
            found.append(
                {
                    "configuration": config.name(tables.display),
                    "phase": phase,
                    "jobs": len(these),
                    "still_improving": int(these["still_improving"].sum()),
                    "stopped_early": int((these["stopped_by"] == EARLY_STOPPING).sum()),
                    "epochs": median_text(these["last_epoch"]),
                    "best_epoch": median_text(these["best_epoch"]),
                    "epoch_cap": median_text(these["epoch_cap"]),
                    "below_probe": int((gaps > PROBE_MARGIN).sum()),
                    "probe_gap": float(gaps.mean()) if len(gaps) else math.nan,
                    "raise": these["raise"].iloc[0],
                    "members": list(these["job"]),
                }
            )
    return pd.DataFrame(found)


def median_text(values: pd.Series) -> str:
    values = pd.to_numeric(values, errors="coerce").dropna()
    if values.empty:
        return "–"
    low, high = int(values.min()), int(values.max())
    return str(low) if low == high else f"{int(values.median())} ({low}–{high})"


def rule_words(config: dict[str, Any], phase: str) -> str:
    """How a phase's training was stopped, from a job's config: early stopping or a fixed cap."""
    settings = config.get(phase) or {}
    epochs = settings.get("epochs")
    patience = settings.get("early_stopping")
    callback = (config.get("callbacks") or {}).get("early_stopping") or {}
    patience = patience or callback.get("patience")
    monitor = settings.get("monitor") or "auto"
    if patience:
        return (
            f"{phase}: early stopping on the selection monitor ({monitor}) after {patience} "
            f"epochs without improvement, at most {epochs} epochs"
        )
    return f"{phase}: a fixed {epochs} epochs (no early stopping)"


def rules(tables: SweepTables) -> list[str]:
    """The stopping rules the sweep's jobs ran with, each once."""
    found: list[str] = []
    done = tables.jobs[tables.jobs["status"] == "ok"]
    for job in done.itertuples():
        try:
            config = JobResults.read(tables.sweep_dir / str(job.job)).config
        except (OSError, ValueError, TypeError):
            continue
        for phase in PHASES:
            words = rule_words(config, phase)
            if words not in found:
                found.append(words)
    return found


def advice(summary: pd.DataFrame, rows: pd.DataFrame) -> list[str]:
    """One line per setting that caps a phase: how many of the trainings it caps were still
    improving and, where any were, what to raise; one more for frozen arms below their probe."""
    lines = []
    for key, these in summary.groupby("raise", sort=False):
        improving = int(these["still_improving"].sum())
        total = int(these["jobs"].sum())
        if not improving:
            lines.append(
                f"None of the {total} trainings that `{key}` caps was still improving when it "
                "stopped: each had levelled off (validation loss no longer falling, or its "
                "best epoch well before its last) or early stopping ended it."
            )
            continue
        configs = these.loc[these["still_improving"] > 0, "configuration"].nunique()
        caps = sorted({int(c) for c in rows.loc[rows["raise"] == key, "epoch_cap"]})
        lines.append(
            f"**{improving} of {total}** trainings that `{key}` caps were still improving when "
            f"they reached it ({configs} configurations): raise `{key}` (now "
            f"{', '.join(map(str, caps))}) so they can finish learning."
        )
    below = int(summary["below_probe"].sum())
    if below:
        lines.append(
            f"**{below}** frozen-arm jobs sit more than {100 * PROBE_MARGIN:.0f} points below "
            "a linear probe on the same features (validation accuracy): their new top is "
            "under-trained; raise `target.epochs` (or stop on validation with "
            "`target.early_stopping`)."
        )
    return lines


def section(tables: SweepTables, summary: pd.DataFrame, rows: pd.DataFrame, figures) -> list[str]:
    """The summary.md section: the rule that ran, what to raise, the table."""
    text = ["## Convergence\n"]
    text.append(
        "Whether each network had finished learning when it stopped. A phase is *still "
        "improving* when it reached its epoch cap while its validation loss was still falling "
        f"(by more than {100 * FALLING:.0f}% over its last epochs, a fifth of them and at "
        "least three) and its best epoch was among those last epochs. Stopping rule: "
        + "; ".join(rules(tables))
        + ".\n"
    )
    text += [f"- {line}\n" for line in advice(summary, rows)]
    header = ["configuration", "phase", "jobs", "still improving", "stopped early"]
    header += ["epochs trained", "best epoch", "epoch cap"]
    probes = summary["probe_gap"].notna().any()
    if probes:
        header += ["probe − val acc (points)", "below probe"]
    table = []
    for row in summary.itertuples():
        cells = [row.configuration, row.phase, str(row.jobs)]
        flag = f"**{row.still_improving}**" if row.still_improving else "0"
        cells += [flag, str(row.stopped_early), row.epochs, row.best_epoch, row.epoch_cap]
        if probes:
            gap = "–" if missing(row.probe_gap) else f"{100 * row.probe_gap:+.1f}"
            cells += [gap, f"**{row.below_probe}**" if row.below_probe else "0"]
        table.append(cells)
    text.append(markdown_table(header, table))
    text.append(
        "Per job and phase in convergence.csv, with the slopes of validation and training "
        "loss over the last epochs; each epoch's losses and accuracies are in results.json "
        "(`history`).\n"
    )
    text += [f"![{p.stem}]({p.relative_to(tables.sweep_dir).as_posix()})\n" for p in figures]
    return text


def report(tables: SweepTables, draw: bool = True) -> tuple[list[str], list[Path]]:
    """convergence.csv, the summary.md section and its figure; nothing when no job recorded
    its convergence."""
    rows = job_rows(tables)
    if rows.empty:
        return [], []
    path = tables.sweep_dir / "convergence.csv"
    write_atomically(path, lambda tmp: rows.to_csv(tmp, index=False))
    summary = per_configuration(tables, rows)
    figures: list[Path] = []
    if draw:
        from transfer_lab.report.figures.convergence import convergence_figure  # matplotlib

        figures = convergence_figure(summary, rows, tables, tables.sweep_dir / "figures")
    return section(tables, summary, rows, [p for p in figures if p.suffix == ".png"]), figures


def advice_lines(section_lines: list[str]) -> list[str]:
    """The section's lines on what to raise, as plain text for the console."""
    return [
        "convergence: " + line[2:].strip().replace("**", "").replace("`", "")
        for line in section_lines
        if line.startswith("- ")
    ]
