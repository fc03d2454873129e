"""Where a phase's files go: the job's folder and its TensorBoard run.

The one thing train/ needs from the job it runs in; job/context.JobContext hands it over as
this small value, so train/ imports nothing from job/ (arrows point down, docs/architecture.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunFolders:
    job_dir: Path  # checkpoints/ and Lightning's own files go under it
    tensorboard_dir: Path  # the loggers' save_dir
    run: str  # the TensorBoard run, e.g. "007-A3B+-beta0.4-split1" (job/context.run_name)
