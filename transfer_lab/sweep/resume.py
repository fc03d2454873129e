"""A sweep goes on where it stopped: the same command resumes its newest folder (`--new` starts
afresh), `sweep --resume` the newest unfinished sweep, and a sweep that ends with failures
names the command that retries them. The saved command (command.json) is what they compare."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from transfer_lab.errors import UserError
from transfer_lab.store.atomic import write_json_atomically
from transfer_lab.sweep.lock import sweep_lock
from transfer_lab.sweep.plan import JOBS_FILE, finished

COMMAND_FILE = "command.json"  # a sweep's arguments, for `sweep --resume` and the same command
NEW = "--new"  # the word that starts a sweep afresh in a new folder


def write_command(sweep_dir: Path, args: list[str]) -> None:
    if not (sweep_dir / COMMAND_FILE).exists():
        write_json_atomically(sweep_dir / COMMAND_FILE, list(args))


def _finished_jobs(folder: Path) -> tuple[int, int]:
    """(finished, all) jobs of a sweep folder's grid."""
    jobs = json.loads((folder / JOBS_FILE).read_text())
    return sum(finished(folder / str(n), job) for n, job in enumerate(jobs)), len(jobs)


def _command(args: list[str]) -> list[str]:
    return [a for a in args if not a.startswith("hydra.sweep.dir=")]


def same_command_sweep(root: Path, args: list[str]) -> Path | None:
    """The newest sweep folder root/<date>/<time> that this same command started and planned
    (finished or not), or None. Its grid is compared again when the sweep plans."""
    found = []
    for saved in root.glob(f"*/*/{COMMAND_FILE}"):
        folder = saved.parent
        try:
            same = _command(json.loads(saved.read_text())) == _command(args)
        except (OSError, ValueError):
            continue
        if same and (folder / JOBS_FILE).is_file():
            found.append(folder)
    return max(found, key=lambda f: (f.parent.name, f.name), default=None)


def going_on_line(folder: Path) -> str:
    """The first line of a sweep that goes on in its folder: where, and how far it had got."""
    try:
        done, total = _finished_jobs(folder)
    except (OSError, ValueError):
        done, total = 0, "?"
    if done == total:
        state = f"all {total} jobs finished, nothing to train"
    else:
        state = f"{done} of {total} jobs finished"
    return f"going on with the sweep in {folder} ({state}; `sweep {NEW}` starts afresh)"


def folder_to_go_on(root: Path, args: list[str]) -> Path | None:
    """A sweep's folder when it is already chosen (None: a new one): `hydra.sweep.dir=` given,
    the newest unfinished under root for `--resume`, or the newest this same command started
    unless `--new` is among `args` (the words are taken out of `args`, the folder put in)."""
    if NEW in args and "--resume" in args:
        raise UserError(f"give {NEW} (a new sweep) or --resume (the newest unfinished), not both.")
    if "--resume" in args:
        args.remove("--resume")
        folder, args[:] = resume_arguments(root, args)
        return refuse_if_running(folder)
    new = NEW in args
    if new:
        args.remove(NEW)
    given = [a.split("=", 1)[1] for a in args if a.lstrip("+").startswith("hydra.sweep.dir=")]
    if given or new:
        return refuse_if_running(Path(given[0])) if given else None
    folder = same_command_sweep(root, args)
    if folder is not None:
        refuse_if_running(folder)
        print(going_on_line(folder), flush=True)
        args.append(f"hydra.sweep.dir={folder}")
    return folder


def refuse_if_running(folder: Path) -> Path:
    """The folder, unless another process drives a sweep in it now (two would train the same
    jobs in the same folders): refused before the checks, with the lock's own sentence."""
    if not folder.is_dir():  # a new folder: nobody runs in it yet
        return folder
    with sweep_lock(folder):
        return folder


def unfinished_sweeps(root: Path) -> list[Path]:
    """Sweep folders under root, newest first, whose grid has a job without an ok results.json."""
    found = []
    for jobs_file in root.rglob(JOBS_FILE):  # multirun/<date>/<time> and named folders alike
        folder = jobs_file.parent
        done, total = _finished_jobs(folder)
        if (folder / COMMAND_FILE).exists() and done < total:
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


def failed_line(sweep_dir: Path, not_ok: int) -> str:
    """One line: which jobs failed or did not finish, and the command that runs them again
    (the sweep's own command: it skips what finished and retries the rest)."""
    try:
        jobs = json.loads((sweep_dir / JOBS_FILE).read_text())
        numbers = [str(n) for n, job in enumerate(jobs) if not finished(sweep_dir / str(n), job)]
    except (OSError, ValueError):
        numbers = []
    try:
        command = json.loads((sweep_dir / COMMAND_FILE).read_text())
    except (OSError, ValueError):
        command = [f"hydra.sweep.dir={sweep_dir}"]
    named = f" (jobs {', '.join(numbers)})" if numbers else ""
    return (
        f"error: {not_ok} job(s) failed or did not finish{named}; "
        f"{sweep_dir / 'summary.md'} says why; retry them with: "
        f"python -m transfer_lab sweep {shlex.join(command)}"
    )
