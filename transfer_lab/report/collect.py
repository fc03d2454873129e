"""Join every job's overrides and results.json into one table, one row per job."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

REPLICATE_KEYS = ("data.split_seed", "seed")  # what a configuration is averaged over
METRICS = ("source_val_acc", "source_test_acc", "target_val_acc", "target_test_acc")


def parse_override(text: str) -> tuple[str, str]:
    key, _, value = text.partition("=")
    return key.lstrip("+~"), value


def job_dirs(sweep_dir: Path) -> list[Path]:
    """Job folders of a sweep (those Hydra made: they hold .hydra/), in job order."""
    found = [p.parent.parent for p in sweep_dir.glob("*/.hydra/overrides.yaml")]
    return sorted(found, key=lambda p: (len(p.name), p.name))


def job_row(job_dir: Path) -> dict[str, Any]:
    overrides = yaml.safe_load((job_dir / ".hydra" / "overrides.yaml").read_text()) or []
    row: dict[str, Any] = {"job": job_dir.name}
    row.update(dict(parse_override(o) for o in overrides))
    results_path = job_dir / "results.json"
    if not results_path.exists():
        row.update(status="unfinished", reason="no results.json: the job did not finish")
        return row
    results = json.loads(results_path.read_text())
    row["status"] = results.get("status", "unknown")
    row["reason"] = results.get("reason")
    for key in ("experiment", "split_seed", "seed", "treatment", "label", "family", "depth",
                "freeze", "lr_scale", "beta", "binary_heads", "seconds"):
        if key in results:
            row[f"result.{key}"] = results[key]
    for stage in ("source", "target"):
        for field, value in (results.get(stage) or {}).items():
            if not isinstance(value, dict | list):
                row[f"{stage}_{field}"] = value
    return row


def collect(sweep_dir: str | Path) -> pd.DataFrame:
    """One row per job: its overrides as columns, status, and source/target metrics."""
    sweep_dir = Path(sweep_dir)
    rows = [job_row(d) for d in job_dirs(sweep_dir)]
    frame = pd.DataFrame(rows)
    for metric in METRICS:
        if metric not in frame:
            frame[metric] = float("nan")
    return frame


def config_keys(frame: pd.DataFrame) -> list[str]:
    """Override keys whose values differ between jobs, replicate keys excepted."""
    ignore = {"job", "status", "reason", *REPLICATE_KEYS}
    keys = []
    for column in frame.columns:
        if column in ignore or column.startswith(("result.", "source_", "target_")):
            continue
        if frame[column].astype(str).nunique() > 1:
            keys.append(column)
    return keys
