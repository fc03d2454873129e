"""Join every job's overrides and results.json into one table, one row per job.

Each job gets the same *design columns* whatever its overrides were: the values the job really
ran with, read from results.json (so `transfer.depth=all` becomes the number of stages, and
`transfer.treatment=scratch` becomes label baseB at depth 0). Settings a treatment does not use
are blanked (None): scratch trains no source, so its β, K, learning-rate scale and `source.*`
overrides mean nothing, and scratch jobs that differ only there are the same configuration.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from transfer_lab.report.curves import CURVE_METRICS, curve_columns
from transfer_lab.report.ours_or_paper import paper_value, paper_words
from transfer_lab.store.results import AXES, RESULTS_FILE, JobResults, PhaseResults, configured
from transfer_lab.transfer.arms import SELFFER

REPLICATE_KEYS = tuple(
    a.column for a in AXES if a.replicate
)  # what a configuration is averaged over
# ours (test_acc: the selected checkpoint, tested once) and the paper's (paper_acc, from the
# per-epoch tests; report/ours_or_paper.py), then validation
METRICS = (
    "target_test_acc",
    "target_val_acc",
    "source_test_acc",
    "source_val_acc",
    "target_paper_acc",
    "source_paper_acc",
)
# The job's source measured on B at the job's cut depth n (results.json source.measures).
MEASURE_METRICS = ("source_probe", "source_logme", "source_hscore", "source_transrate")
PER_STAGE = (
    "measures",
    "output_measures",
    "cka",
)  # per-stage values: report/measures_section.py reads them

# The design columns, from the study axes declared in store/results.py: an override key with
# a column of its own (read back from results.json), the arm's columns (label first), the
# columns that define a configuration, and the settings that only matter when a network is
# copied from a trained source.
OVERRIDE_COLUMNS = {axis.key: axis.column for axis in AXES if axis.key}
TREATMENT_COLUMNS = tuple(axis.column for axis in AXES if axis.arm)
BASE_COLUMNS = tuple(axis.column for axis in AXES if not axis.replicate)
SOURCE_ONLY = tuple(axis.column for axis in AXES if axis.copied)
# Overrides that say where or how a sweep ran, never what it measured.
IGNORED_PREFIXES = (
    "hydra.",
    "hydra/",
    "trainer.enable_progress_bar",
    "trainer.enable_model_summary",
    "trainer.log_every_n_steps",
    "paths.",
    "launcher",
)
IGNORED_KEYS = {"experiment"}
# JobResults fields a finished job reports as columns of its own.
RESULT_COLUMNS = (*(a.column for a in AXES if a.recorded and not a.replicate), "dataset", "seconds")


def parse_override(text: str) -> tuple[str, str]:
    key, _, value = str(text).partition("=")
    return key.lstrip("+~"), value


def is_design_override(key: str) -> bool:
    return key not in IGNORED_KEYS and not key.startswith(IGNORED_PREFIXES)


def job_dirs(sweep_dir: Path) -> list[Path]:
    """Job folders of a sweep (those Hydra made: they hold .hydra/), in job order."""
    found = [p.parent.parent for p in sweep_dir.glob("*/.hydra/overrides.yaml")]
    return sorted(found, key=lambda p: (len(p.name), p.name))


def plain_value(text: str) -> Any:
    """An override's text as Python: 0.4 → 0.4, 3 → 3, true → True, null → None."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return value if isinstance(value, str | int | float | bool) or value is None else text


def named_experiment(overrides: list[str]) -> str | None:
    """The experiment `+experiment=NAME` names among overrides (None when none does)."""
    return next((v for k, v in map(parse_override, overrides) if k == "experiment"), None)


def sweep_experiment(sweep_dir: Path) -> str | None:
    """The experiment the sweep's command named (Hydra's multirun.yaml), None when unknown."""
    try:
        saved = yaml.safe_load((sweep_dir / "multirun.yaml").read_text())
        return named_experiment(saved["hydra"]["overrides"]["task"])
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return None


def disagreement(results: JobResults, overrides: list[str], experiment: str | None) -> str | None:
    """Why a job's results.json is not this folder's record, or None when they agree: it names
    another experiment or other overrides than the folder's .hydra/overrides.yaml, or the folder
    is of another experiment than the sweep (a record or a folder copied in from elsewhere)."""
    asked = named_experiment(overrides)
    if asked is not None and results.experiment != asked:
        return (
            f"results.json is of experiment {results.experiment}, but the folder's "
            f".hydra/overrides.yaml asks for {asked}"
        )
    if experiment is not None and asked != experiment:
        return f"the job is of experiment {asked}, not of the sweep's {experiment}"
    recorded = sorted(o for o in results.overrides if not o.startswith("hydra."))
    if recorded and recorded != sorted(o for o in overrides if not o.startswith("hydra.")):
        return (
            f"results.json records the overrides {' '.join(results.overrides)}, but the "
            f"folder's .hydra/overrides.yaml holds {' '.join(overrides)}"
        )
    return None


def job_row(job_dir: Path, experiment: str | None = None) -> dict[str, Any]:
    """One job's row; an ok results.json that does not agree with its folder and `experiment`
    (the sweep's) is "unreadable", with the reason, and gives no metrics."""
    overrides = [
        str(o) for o in yaml.safe_load((job_dir / ".hydra" / "overrides.yaml").read_text()) or []
    ]
    pairs = [parse_override(o) for o in overrides]
    row: dict[str, Any] = {"job": job_dir.name, "overrides": " ".join(map(str, overrides))}
    extra = {
        k: plain_value(v) for k, v in pairs if is_design_override(k) and k not in OVERRIDE_COLUMNS
    }
    for key, value in pairs:  # what was asked for, kept for jobs that never wrote results
        if key in OVERRIDE_COLUMNS:
            row[OVERRIDE_COLUMNS[key]] = plain_value(value)
    if not (job_dir / RESULTS_FILE).exists():
        row.update(status="unfinished", reason="no results.json: the job did not finish")
        return {**row, **extra}
    try:
        results = JobResults.read(job_dir)
    except (OSError, ValueError, TypeError, AttributeError) as error:
        row.update(status="unreadable", reason=f"results.json cannot be read: {error}")
        return {**row, **extra}
    why = disagreement(results, overrides, experiment) if results.ok else None
    if why is not None:  # a failed record gives no metrics: it is listed as it is
        row.update(status="unreadable", reason=why)
        return {**row, **extra}
    row["status"] = results.status
    row["reason"] = results.reason
    row["experiment"] = results.experiment
    for column in REPLICATE_KEYS:
        if getattr(results, column) is not None:
            row[column] = getattr(results, column)
    if not results.ok:
        return {**row, **extra}
    for key in RESULT_COLUMNS:
        row[key] = getattr(results, key)
    for axis in AXES:  # the axes read back from the job's saved config
        if not axis.recorded:
            row[axis.column] = configured(results.config, axis.key, row.get(axis.column))
    row["target_labelled"] = (results.sizes or {}).get("target_labelled")  # train + val
    if (results.sizes or {}).get("target_train") and results.target_classes:  # budget figures
        row["target_train_per_class"] = results.sizes["target_train"] / len(results.target_classes)
    for phase in ("source", "target"):
        row.update(phase_columns(phase, getattr(results, phase)))
    row.update(curve_columns(job_dir))
    paper = (results.config or {}).get("paper") or {}
    row["paper_statistic"] = paper_words(paper)
    for phase in ("source", "target"):
        found = getattr(results, phase)
        if found is not None:
            on_b = phase == "target" or results.treatment == SELFFER  # BnB's source is baseB
            row[f"{phase}_paper_acc"] = paper_value(found.test_history, paper, found.epochs, on_b)
    depth = results.depth
    if results.source.measures and isinstance(depth, int) and depth >= 1:
        for name, values in results.source.measures.items():  # at the stage the job cut after
            if len(values) >= depth:
                row[f"source_{name}"] = values[depth - 1]
    if not results.has_source:  # no source network: blank its settings
        for key in SOURCE_ONLY:
            row[key] = None
        extra = {
            k: (None if k.startswith(("source.", "transfer.")) else v) for k, v in extra.items()
        }
    return {**row, **extra}


def phase_columns(phase: str, results: PhaseResults | None) -> dict[str, Any]:
    """`source_val_acc`, `target_test_acc`, … : a phase's scalar fields, one column each."""
    if results is None:
        return {}
    return {
        f"{phase}_{f.name}": getattr(results, f.name)
        for f in dataclasses.fields(results)
        if not isinstance(getattr(results, f.name), dict | list) and f.name not in PER_STAGE
    }


def collect(sweep_dir: str | Path) -> pd.DataFrame:
    """One row per job: design columns, status, reason, and source/target metrics."""
    sweep_dir = Path(sweep_dir)
    experiment = sweep_experiment(sweep_dir)
    rows = [job_row(d, experiment) for d in job_dirs(sweep_dir)]
    frame = pd.DataFrame(rows)
    for column in ("status", "reason", "split_seed", "seed", *BASE_COLUMNS, *METRICS):
        if column not in frame:
            frame[column] = None
    for metric in METRICS:
        frame[metric] = pd.to_numeric(frame[metric], errors="coerce")
    for metric in (*MEASURE_METRICS, *CURVE_METRICS):
        frame[metric] = pd.to_numeric(frame.get(metric), errors="coerce")
    return frame


def design_columns(frame: pd.DataFrame) -> list[str]:
    """Columns that define a configuration: the base ones, then any other swept override."""
    fixed = {
        "job",
        "overrides",
        "status",
        "reason",
        "experiment",
        "dataset",
        "seconds",
        "paper_statistic",
        *REPLICATE_KEYS,
    }
    extra = [
        c
        for c in frame.columns
        if c not in fixed and c not in BASE_COLUMNS and not c.startswith(("source_", "target_"))
    ]
    return [*BASE_COLUMNS, *extra]


def distinct(values) -> list[Any]:
    """Distinct non-missing values, in first-seen order."""
    seen: list[Any] = []
    for value in values:
        if value is None or (isinstance(value, float) and pd.isna(value)):
            continue
        if value not in seen:
            seen.append(value)
    return seen
