"""Where and with what a job ran, for its results.json: the commit (and whether the tree had
uncommitted changes), torch and Lightning versions, CPU threads, precision, host, start and
end. The report reads them back without importing torch and names them in summary.md, so a
sweep's numbers can be traced to the code and machine that made them."""

from __future__ import annotations

import functools
import os
import platform
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from transfer_lab.train.trainer import precision_for


def cpu_time() -> float:
    """Processor seconds of this process and of the children it has waited for (spawned
    ranks), user and system."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


@dataclass(frozen=True)
class Started:
    """When a job started, on the wall clock and in processor time."""

    wall: float
    cpu: float

    @classmethod
    def now(cls) -> Started:
        return cls(time.time(), cpu_time())


@functools.cache
def commit() -> tuple[str | None, bool | None]:
    """The package's git commit and whether tracked files differ from it; (None, None) outside
    a git checkout (an installed wheel)."""
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None, None
    return head or None, bool(status)


def provenance(precision: Any, started: Started) -> dict[str, Any]:
    """The job's provenance record (results.json `provenance`)."""
    head, dirty = commit()
    return {
        "commit": head,
        "dirty": dirty,
        "torch": torch.__version__,
        "lightning": pl.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "precision": str(precision_for(precision)),
        "host": socket.gethostname(),
        "started": round(started.wall, 3),
        "finished": round(time.time(), 3),
    }
