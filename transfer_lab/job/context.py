"""Where a job writes and how it introduces itself: set by the command line, read by every step."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class JobContext:
    job_dir: Path
    tensorboard_dir: Path
    name: str  # e.g. "3" in a sweep: the job's TensorBoard run name
    banner: str  # e.g. "job 4/16"
    experiment: str | None = None
    overrides: tuple[str, ...] = ()
