"""A sweep's plan: which of its jobs are already done, and which source networks to train first.

The grid is Hydra's basic sweeper's; the jobs run on the configured Hydra launcher, in two
rounds: first one job per distinct source network that the unfinished jobs need and the cache
lacks (`only_source=true`, in `sources/<key>`), then the unfinished jobs themselves. So no
target job waits on another job's source while it holds a worker, and a sweep run again in the
same folder skips what finished and resumes the rest from their last checkpoints.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from transfer_lab.errors import UserError
from transfer_lab.store.atomic import (
    HYDRA_WRITES,
    link_sentence,
    refuse_links,
    write_json_atomically,
)
from transfer_lab.store.results import JobResults

log = logging.getLogger(__name__)

JOBS_FILE = "jobs.json"  # the sweep's grid: one list of overrides per job, by job number
SOURCES_DIR = "sources"


@dataclass
class SweepPlan:
    """A sweep's jobs: the grid, those already done, those to do, and the sources to train first."""

    jobs: list[list[str]]  # the grid, by job number
    done: list[int] = field(default_factory=list)  # finished with the same overrides
    todo: list[int] = field(default_factory=list)
    sources: dict[str, list[str]] = field(default_factory=dict)  # cache key → a job's overrides

    def summary(self) -> str:
        done = f" ({len(self.done)} of {len(self.jobs)} already finished)" if self.done else ""
        return (
            f"plan: {len(self.sources)} source network(s) to train, then "
            f"{len(self.todo)} target job(s){done}"
        )


def check_launcher(launcher: dict) -> None:
    """What a sweep asks of its launcher, checked once, before a folder is made or a job
    submitted: one task on one node (several GPUs are ranks a job spawns, not SLURM tasks), a
    number of parallel jobs, and for SLURM a request that some node of the partition can meet
    (sinfo)."""
    from transfer_lab.machine import runs_elsewhere

    tasks, nodes = launcher.get("tasks_per_node") or 1, launcher.get("nodes") or 1
    if tasks > 1 or nodes > 1:
        raise UserError(
            f"hydra.launcher.tasks_per_node={tasks} and nodes={nodes}: a job runs as one task on "
            f"one node; for several GPUs per job use trainer=ddp with "
            f"hydra.launcher.gpus_per_node=N and keep tasks_per_node=1 and nodes=1."
        )
    n_jobs = launcher.get("n_jobs", 1)
    if "joblib" in str(launcher.get("_target_")) and not (
        isinstance(n_jobs, int) and not isinstance(n_jobs, bool) and (n_jobs >= 1 or n_jobs == -1)
    ):
        raise UserError(
            f"hydra.launcher.n_jobs={n_jobs!r} is not a number of jobs to run at once; give 1 or "
            f"more (or -1, one per core), e.g. hydra.launcher.n_jobs=2."
        )
    if runs_elsewhere(launcher):
        from transfer_lab.slurm.queue import check_request

        check_request(launcher)


def check_something_to_sweep(master, args: list[str]) -> None:
    """A sweep on this machine needs a grid: an experiment's, or values the user gives
    (model.beta=0,0.4). A one-job sweep on SLURM (or submitit) is how one job is submitted."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    local = any(n in str(master.hydra.launcher.get("_target_")) for n in ("Basic", "Joblib"))
    if master.hydra.sweeper.get("params") or not local:
        return
    overrides = OverridesParser.create().parse_overrides([a for a in args if "=" in a])
    if not any(o.is_sweep_override() for o in overrides):
        raise UserError(
            "sweep has nothing to sweep: add +experiment=NAME (python -m transfer_lab list "
            "experiments) or values to sweep such as model.beta=0,0.4, or drop the word sweep "
            "to run one job."
        )


def check_same_grid(sweep_dir: Path, jobs: Sequence[Sequence[str]]) -> None:
    """Record the grid in a new sweep folder; refuse a different grid in an existing one."""
    path = sweep_dir / JOBS_FILE
    grid = [list(job) for job in jobs]
    if path.exists():
        if json.loads(path.read_text()) != grid:
            raise UserError(
                f"{sweep_dir} holds a sweep of a different grid; run the same command as before "
                f"to resume it, or give a new hydra.sweep.dir."
            )
        return
    write_json_atomically(path, grid)


def finished(job_dir: Path, overrides: Sequence[str]) -> bool:
    """Whether this job folder holds an ok results.json of a job with these overrides."""
    try:
        results = JobResults.read(job_dir)
    except (OSError, ValueError):
        return False
    return results.ok and list(results.overrides) == list(overrides)


def make_plan(
    sweep_dir: Path,
    jobs: Sequence[Sequence[str]],
    source_to_train: Callable[[Sequence[str]], str | None],
) -> SweepPlan:
    """What is left to do: unfinished jobs, and the distinct uncached sources they need.

    `source_to_train` is asked with each job's overrides as the launch gives them, so the plan
    and the launch compose the same config (once: `sweep/compose.py`)."""
    check_same_grid(sweep_dir, jobs)
    plan = SweepPlan(jobs=[list(job) for job in jobs])
    for number, overrides in enumerate(plan.jobs):
        if finished(sweep_dir / str(number), overrides):
            plan.done.append(number)
            continue
        plan.todo.append(number)
        key = source_to_train(launch_overrides(overrides, number))
        if key is not None and key not in plan.sources:
            plan.sources[key] = list(overrides)
    refuse_planted_links(sweep_dir, plan)
    return plan


def refuse_planted_links(sweep_dir: Path, plan: SweepPlan) -> None:
    """The folders the jobs will write in, and what Hydra writes there itself before a job
    starts (`.hydra/`, `job.log`, with plain writes that follow a link), refused in one
    sentence if any is a link: the jobs would write where it points."""
    sources = sweep_dir / SOURCES_DIR
    jobs = [*(sources / k[:16] for k in plan.sources), *(sweep_dir / str(n) for n in plan.todo)]
    for folder in [sources, sweep_dir / "tensorboard", *jobs]:
        if folder.is_symlink():
            raise UserError(link_sentence(folder))
    refuse_links(folder / name for folder in jobs for name in HYDRA_WRITES)


def source_jobs(plan: SweepPlan) -> list[list[str]]:
    """Overrides of the first round's jobs, each in its own folder named by its cache key."""
    return [
        [*overrides, "only_source=true", f"hydra.sweep.subdir={SOURCES_DIR}/{key[:16]}"]
        for key, overrides in plan.sources.items()
    ]


def launch_overrides(overrides: Sequence[str], number: int) -> list[str]:
    """A job's overrides as it is launched: in the folder of its number in the grid."""
    return [*overrides, f"hydra.sweep.subdir={number}"]


def target_jobs(plan: SweepPlan) -> list[list[str]]:
    """Overrides of the unfinished jobs, each in the folder of its number in the grid."""
    return [launch_overrides(plan.jobs[n], n) for n in plan.todo]
