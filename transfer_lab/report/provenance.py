"""The provenance block of summary.md: which code, versions, threads, precision and host made
the sweep's numbers, and its wall and CPU time, from the jobs' results.json (each job records
its own: train/provenance.py) and those of the sources trained in the sweep's first round
(sources/<key>/). Torch-free: versions are read, not imported."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from transfer_lab.report.collect import job_dirs
from transfer_lab.store.results import RESULTS_FILE


def records(sweep_dir: Path) -> list[dict[str, Any]]:
    """Every finished record of the sweep: its jobs', then its first round's sources'."""
    folders = [*job_dirs(sweep_dir), *sorted((sweep_dir / "sources").glob("*/"))]
    found = []
    for folder in folders:
        try:
            data = json.loads((folder / RESULTS_FILE).read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("status") == "ok":
            found.append(data)
    return found


def distinct_words(values) -> str:
    found = sorted({str(v) for v in values if v is not None})
    return ", ".join(found) if found else "not recorded"


def hours(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours_, minutes = divmod(minutes, 60)
    return f"{hours_} h {minutes:02d} min {secs:02d} s" if hours_ else f"{minutes} min {secs:02d} s"


def section(sweep_dir: Path) -> list[str]:
    """The summary.md lines; [] when no record holds provenance (written before it existed)."""
    found = records(Path(sweep_dir))
    marks = [r.get("provenance") or {} for r in found]
    if not any(marks):
        return []
    commits = sorted(
        {
            f"{m['commit']}{' (with uncommitted changes)' if m.get('dirty') else ''}"
            for m in marks
            if m.get("commit")
        }
    )
    starts = [m["started"] for m in marks if m.get("started")]
    ends = [m["finished"] for m in marks if m.get("finished")]
    cpu = [r["cpu_seconds"] for r in found if isinstance(r.get("cpu_seconds"), int | float)]
    wall = hours(max(ends) - min(starts)) if starts and ends else "not recorded"
    lines = [
        "## Provenance\n",
        f"- commit: {', '.join(commits) or 'not recorded (not run from a git checkout)'}",
        f"- torch {distinct_words(m.get('torch') for m in marks)}, Lightning "
        f"{distinct_words(m.get('lightning') for m in marks)}, Python "
        f"{distinct_words(m.get('python') for m in marks)}",
        f"- CPU threads per job: {distinct_words(m.get('threads') for m in marks)}; precision: "
        f"{distinct_words(m.get('precision') for m in marks)}; host: "
        f"{distinct_words(m.get('host') for m in marks)}",
        f"- wall time: {wall}, from the first job's start to the last one's end "
        f"({len(found)} records, sources trained in the first round included)",
        f"- CPU time: {hours(sum(cpu))}, summed over those records (each job's process and "
        "the processes it waited for)\n",
    ]
    return ["\n".join(lines)]
