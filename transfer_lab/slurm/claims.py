"""Which SLURM job runs which sweep job: `.slurm/claims.json` in the sweep folder.

A sweep run again while its jobs still run (a second terminal, a driver restarted after the
login node rebooted) must not submit them twice. Before submitting, the driver takes the sweep's
lock, reads the claims, and adopts every job whose SLURM job is still alive instead of
submitting it; what it submits it claims before it lets the lock go. A claim whose job has
ended is simply replaced: the sweep's plan already skipped the jobs that finished.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path

from transfer_lab.store.atomic import open_lock, own_folder, write_json_atomically

FOLDER = ".slurm"
CLAIMS = "claims.json"


@contextlib.contextmanager
def locked(sweep_dir: Path) -> Iterator[None]:
    """The sweep's submission lock (fcntl: released when the process dies)."""
    folder = own_folder(Path(sweep_dir) / FOLDER)
    with os.fdopen(open_lock(folder / "lock"), "a") as handle:  # never through a link
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read(sweep_dir: Path) -> dict[str, str]:
    """job folder (relative to the sweep) → SLURM job id."""
    path = Path(sweep_dir) / FOLDER / CLAIMS
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def add(sweep_dir: Path, new: dict[str, str]) -> None:
    """Record claims; call it holding `locked(sweep_dir)`."""
    write_json_atomically(Path(sweep_dir) / FOLDER / CLAIMS, {**read(sweep_dir), **new})
