"""A sweep you can watch: after each finished job, its round's k/N, the time elapsed, an ETA, the
job's metric and how many jobs failed.

The jobs of a round run wherever the launcher puts them (this process, joblib workers, SLURM
nodes), so the round's tally is a file in the sweep folder: the sweeper starts it, each job
appends a line when it ends and reads the tally back. In a terminal the line is rich's, with a
bar; elsewhere (CI, SLURM logs, `| tee`) it is a plain log line.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from transfer_lab.store.atomic import append_line, own_folder, write_text_atomically

log = logging.getLogger("transfer_lab")

ROUNDS = {"sources": "source test acc", "jobs": "target test acc"}  # round → its metric
FOLDER = ".progress"


@dataclass
class Tally:
    """Where a round stands: jobs ended (ok or failed) of `total`, and seconds since it began."""

    done: int
    total: int
    failed: int
    elapsed: float


def clock(seconds: float) -> str:
    """1:05 or 2:01:05."""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def progress_text(round_: str, tally: Tally, run: str, metric: float | None, ok: bool) -> str:
    """One line for a finished job, e.g. `jobs 12/32 · 1:02 elapsed · ETA 1:43 ·
    011-A4B+-beta0.4-split3 target test acc 91.2% · 1 failed`."""
    if tally.done >= tally.total:
        timing = f"{clock(tally.elapsed)} elapsed · round done"
    else:
        eta = tally.elapsed / max(tally.done, 1) * (tally.total - tally.done)
        timing = f"{clock(tally.elapsed)} elapsed · ETA {clock(eta)}"
    if not ok:
        outcome = f"{run} failed"
    elif metric is None:
        outcome = f"{run} done"
    else:
        outcome = f"{run} {ROUNDS[round_]} {100 * metric:.1f}%"
    return f"{round_} {tally.done}/{tally.total} · {timing} · {outcome} · {tally.failed} failed"


def start_round(sweep_dir: Path, round_: str, total: int) -> None:
    """Begin a round's tally (the sweeper, before launching it); a resumed sweep begins anew."""
    folder = own_folder(Path(sweep_dir) / FOLDER)
    start = {"total": int(total), "started": time.time()}
    write_text_atomically(folder / f"{round_}.jsonl", json.dumps(start) + "\n")


def record(sweep_dir: Path, round_: str, run: str, ok: bool) -> Tally | None:
    """Add a finished job to its round's tally and read the tally back; None outside a round
    the sweeper started."""
    path = Path(sweep_dir) / FOLDER / f"{round_}.jsonl"
    if path.is_symlink() or not path.is_file():
        return None
    append_line(path, json.dumps({"run": run, "ok": bool(ok)}))  # whole, even from several workers
    first, *ended = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    failed = sum(not entry["ok"] for entry in ended)
    return Tally(len(ended), first["total"], failed, time.time() - first["started"])


def show(round_: str, tally: Tally, run: str, metric: float | None, ok: bool) -> None:
    """The line with a bar in a terminal, a plain log line anywhere else."""
    from rich.console import Console

    text = progress_text(round_, tally, run, metric, ok)
    console = Console(highlight=False)
    if not console.is_terminal:
        log.info(text)
        return
    if console.width < len(text) + 24:  # no room for a bar on one line
        console.print(text, style="bold")
        return
    from rich.progress_bar import ProgressBar
    from rich.table import Table

    line = Table.grid(padding=(0, 1))
    line.add_row(
        f"[bold]{round_}[/]",
        ProgressBar(total=tally.total, completed=tally.done, width=20),
        text.removeprefix(f"{round_} "),
        style="red" if tally.failed else None,
    )
    console.print(line)


def job_finished(sweep_dir: Path, source_round: bool, run: str, results) -> None:
    """What a sweep job does as it ends: count itself in its round and show where it stands.

    `results` is the job's JobResults, None when it failed; the metric shown is the test
    accuracy of the network the round trains.
    """
    round_ = "sources" if source_round else "jobs"
    phase = None if results is None else results.source if source_round else results.target
    metric = None if phase is None else phase.test_acc
    try:
        tally = record(sweep_dir, round_, run, results is not None)
    except (OSError, ValueError) as error:  # the watch must never fail the job it watches
        log.warning("progress not shown: %s", error)
        return
    if tally is not None:
        show(round_, tally, run, metric, results is not None)
