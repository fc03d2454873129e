"""A sweep's saved command and `sweep --resume`: the newest unfinished sweep, run again with the
arguments it was started with (its plan then skips what finished)."""

from __future__ import annotations

import json
from pathlib import Path

from transfer_lab.errors import UserError
from transfer_lab.store.atomic import write_json_atomically
from transfer_lab.sweep.plan import JOBS_FILE, finished

COMMAND_FILE = "command.json"  # a sweep's arguments, for `sweep --resume`


def write_command(sweep_dir: Path, args: list[str]) -> None:
    if not (sweep_dir / COMMAND_FILE).exists():
        write_json_atomically(sweep_dir / COMMAND_FILE, list(args))


def unfinished_sweeps(root: Path) -> list[Path]:
    """Sweep folders under root, newest first, whose grid has a job without an ok results.json."""
    found = []
    for jobs_file in root.rglob(JOBS_FILE):  # multirun/<date>/<time> and named folders alike
        folder, jobs = jobs_file.parent, json.loads(jobs_file.read_text())
        done = all(finished(folder / str(n), job) for n, job in enumerate(jobs))
        if (folder / COMMAND_FILE).exists() and not done:
            found.append(folder)
    return sorted(found, key=lambda folder: folder.stat().st_mtime, reverse=True)


def resume_arguments(root: Path, args: list[str]) -> tuple[Path, list[str]]:
    """`sweep --resume`: the newest unfinished sweep's folder, and its arguments unless given."""
    sweeps = unfinished_sweeps(root)
    if not sweeps:
        raise UserError(f"there is no unfinished sweep under {root}/ to resume; start one.")
    folder = sweeps[0]
    given = args or json.loads((folder / COMMAND_FILE).read_text())
    kept = [a for a in given if not a.startswith("hydra.sweep.dir=")]
    print(f"resuming {folder}", flush=True)
    return folder, [*kept, f"hydra.sweep.dir={folder}"]
