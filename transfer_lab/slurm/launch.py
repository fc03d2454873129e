"""launcher=slurm, one phase of a sweep: submit its jobs (or adopt those a running driver
already submitted), then wait for every one of them, asking the cluster how each is doing.

Hydra's submitit launcher waits on `job.results()`, which on a cluster without accounting
waits for ever on a job that died, and with accounting raises and ends the sweep. Here a job
that leaves the queue without a result (scancel, OOM, a failed node, the time limit with no
requeue left) is recorded as failed in its folder, with SLURM's state and reason, and the
sweep goes on: the next phase, then the report of what finished.
"""

from __future__ import annotations

import logging
import os
import shlex
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from transfer_lab.slurm import claims, queue
from transfer_lab.store.atomic import private_folder, write_atomically
from transfer_lab.store.results import RESULTS_FILE, JobResults

log = logging.getLogger(__name__)

# Keys of our launcher config that are not submitit's.
OWN_KEYS = ("driver", "driver_timeout_min", "poll_s", "report_s")


@dataclass
class Tracked:
    """One sweep job on the cluster."""

    number: int  # Hydra's job index
    subdir: str  # its folder in the sweep: "7" or "sources/<key>"
    overrides: list[str]
    job: Any  # submitit.SlurmJob
    since: float  # when this driver submitted or adopted it
    ended: queue.JobState | None = None  # seen ended (without a result) at the last poll
    outcome: str | None = None  # "result", or the failure's reason

    @property
    def label(self) -> str:
        if self.subdir.startswith("sources/"):
            return f"source {self.subdir.split('/', 1)[1][:8]}"
        return f"job {self.subdir}"


def job_name(experiment: str | None, subdir: str) -> str:
    """What squeue shows: the experiment and the job's number (or its source's key)."""
    what = f"source-{subdir.split('/', 1)[1][:8]}" if subdir.startswith("sources/") else subdir
    return f"{experiment or 'transfer_lab'}-{what}"


def subdir_of(overrides: list[str]) -> str:
    for override in overrides:
        if override.startswith("hydra.sweep.subdir="):
            return override.split("=", 1)[1]
    raise ValueError(f"a sweep job without hydra.sweep.subdir: {overrides}")


def checkout_root() -> Path | None:
    """The source checkout transfer_lab is imported from, if it is one (not an installed wheel).

    Jobs must run the very code the driver planned with: its hash is part of every source's
    cache key. A job's own working directory or Python path may pick another copy (the main
    checkout's editable install, say), so the jobs get this folder first on PYTHONPATH.
    """
    import transfer_lab

    root = Path(transfer_lab.__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() else None


def pythonpath_setup() -> list[str]:
    root = checkout_root()
    if root is None:
        return []
    return [f"export PYTHONPATH={shlex.quote(str(root))}${{PYTHONPATH:+:$PYTHONPATH}}"]


def make_executor(launcher: Any, experiment: str | None, phase: str):
    """submitit's SLURM executor with the launcher's settings (as Hydra's launcher builds it)."""
    import submitit
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from omegaconf import OmegaConf

    params = {k: v for k, v in launcher.params.items() if k not in OWN_KEYS}
    executor = submitit.AutoExecutor(
        cluster="slurm",
        folder=params.pop("submitit_folder"),
        slurm_max_num_timeout=params.pop("max_num_timeout", 0),
    )
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    params["setup"] = [*(params.get("setup") or []), *pythonpath_setup()]
    params["name"] = f"{experiment or 'transfer_lab'}-{phase}"
    executor.update_parameters(**{k if k in base else f"slurm_{k}": v for k, v in params.items()})
    return executor


def private_submitit_folder(template: str) -> Path:
    """The folder above submitit's per-job folders (`<sweep>/.submitit` of `.../.submitit/%j`),
    writable by this user alone: submitit hands each job its code there as a pickle, which the
    job unpickles on its node, and the sweep unpickles the result beside it."""
    parts = Path(template).parts
    root = Path(*parts[: next((i for i, p in enumerate(parts) if "%" in p), len(parts))])
    why = "submitit keeps there the pickles your jobs and this sweep unpickle, which can run code"
    return private_folder(root, why)


def launch(launcher: Any, job_overrides: list[list[str]], initial_job_idx: int) -> list[Any]:
    """Run one phase's jobs on SLURM and return Hydra's JobReturn for each."""
    import submitit
    from hydra.core.singleton import Singleton

    config = launcher.config
    sweep_dir = Path(str(config.hydra.sweep.dir))
    sweep_dir.mkdir(parents=True, exist_ok=True)
    experiment = config.hydra.runtime.choices.get("experiment")
    folder = launcher.params["submitit_folder"]
    poll_s = float(launcher.params.get("poll_s") or 15)
    report_s = float(launcher.params.get("report_s") or 180)
    jobs = [(initial_job_idx + i, subdir_of(list(o)), list(o)) for i, o in enumerate(job_overrides)]
    phase = "sources" if any(s.startswith("sources/") for _, s, _ in jobs) else "jobs"
    tracked: list[Tracked] = []
    with claims.locked(sweep_dir):
        claimed = claims.read(sweep_dir)
        ids = [claimed[s] for _, s, _ in jobs if s in claimed]
        states = queue.job_states(ids) if ids else {}
        now = time.time()
        fresh = []
        for number, subdir, overrides in jobs:
            job_id = claimed.get(subdir)
            if job_id and states[job_id].alive:
                job = submitit.SlurmJob(folder=folder, job_id=job_id)
                tracked.append(Tracked(number, subdir, overrides, job, now))
            else:
                fresh.append((number, subdir, overrides))
        if tracked:
            print(
                f"slurm: {len(tracked)} job(s) of this sweep are already on the cluster "
                f"({', '.join(t.job.job_id for t in tracked)}); following them, not submitting "
                f"them again",
                flush=True,
            )
        if fresh:
            executor = make_executor(launcher, experiment, phase)
            arguments = [
                (o, "hydra.sweep.dir", n, f"job_id_for_{n}", Singleton.get_state())
                for n, _, o in fresh
            ]
            with submitit.helpers.clean_env():  # a driver that is itself a SLURM job
                submitted = executor.map_array(launcher, *zip(*arguments, strict=True))
            now = time.time()
            new = {}
            for (number, subdir, overrides), job in zip(fresh, submitted, strict=True):
                tracked.append(Tracked(number, subdir, overrides, job, now))
                new[subdir] = job.job_id
            claims.add(sweep_dir, new)
            for (_, subdir, _), job in zip(fresh, submitted, strict=True):
                try:
                    queue.rename(job.job_id, job_name(experiment, subdir))
                except queue.ClusterError as error:  # a name is a convenience, not a must
                    log.warning("could not name SLURM job %s: %s", job.job_id, error)
            array = submitted[0].job_id.split("_")[0]
            print(
                f"slurm: submitted {len(fresh)} {phase} job(s) as array {array}: "
                + ", ".join(f"{t.job.job_id} = {t.label}" for t in tracked[-len(fresh) :])
                + f"; logs in {folder.replace('%j', '<job id>')}",
                flush=True,
            )
    wait(tracked, sweep_dir, experiment, poll_s, report_s)
    return [job_return(t, config) for t in tracked]


def wait(
    tracked: list[Tracked], sweep_dir: Path, experiment: str | None, poll_s: float, report_s: float
) -> None:
    """Until every job has a result or has ended without one; prints who waits, every report_s.

    A job must be seen ended at two polls in a row before it counts as dead: a requeued job
    passes through states like COMPLETING, and a result file may reach a shared disk late.
    """
    last_report = 0.0
    while True:
        waiting = [t for t in tracked if t.outcome is None]
        for t in waiting:
            if t.job.paths.result_pickle.exists():
                t.outcome = "result"
        waiting = [t for t in waiting if t.outcome is None]
        if not waiting:
            return
        try:
            states = queue.job_states([t.job.job_id for t in waiting])
        except queue.ClusterError as error:  # the controller may be busy; ask again later
            log.warning("slurm: cannot read job states (%s); asking again in %.0f s", error, poll_s)
            time.sleep(poll_s)
            continue
        for t in waiting:
            state = states[t.job.job_id]
            if state.alive:
                t.ended = None
            elif t.ended is None:
                t.ended = state
            elif not t.job.paths.result_pickle.exists():
                t.outcome = record_dead(t, sweep_dir, experiment, state)
                print(f"slurm: {t.label} ({t.job.job_id}) {t.outcome}", flush=True)
        if time.time() - last_report >= report_s:
            last_report = time.time()
            alive = [(t, states[t.job.job_id]) for t in waiting if states[t.job.job_id].alive]
            if alive:
                counts = Counter(str(s) for _, s in alive)
                print(
                    f"slurm: waiting on {len(alive)} job(s): "
                    + ", ".join(f"{n} {s}" for s, n in counts.most_common()),
                    flush=True,
                )
        time.sleep(poll_s)


def record_dead(t: Tracked, sweep_dir: Path, experiment: str | None, state: queue.JobState) -> str:
    """Record a job that ended without a result as failed in its folder, so the report names it
    and a rerun of the sweep runs it again; returns the reason."""
    job_dir = sweep_dir / t.subdir
    reason = (
        f"ended {state} on SLURM (job {t.job.job_id}) without a result; its log: "
        f"{t.job.paths.stderr}"
    )
    try:
        written = JobResults.read(job_dir)
        if (
            written.status in ("ok", "failed")
            and (job_dir / RESULTS_FILE).stat().st_mtime >= t.since
        ):
            return f"ended {state}; it recorded its own {written.status} results"
    except (OSError, ValueError, TypeError):
        pass
    task_overrides = [o for o in t.overrides if not o.startswith("hydra.")]
    overrides_file = job_dir / ".hydra" / "overrides.yaml"
    if not overrides_file.exists():  # a job cancelled before it started: the report needs it
        write_atomically(overrides_file, lambda tmp: tmp.write_text(yaml.safe_dump(task_overrides)))
    JobResults(
        status="failed", reason=reason, experiment=experiment, overrides=task_overrides
    ).write(job_dir)
    return reason


def job_return(t: Tracked, config: Any) -> Any:
    """Hydra's record of a job: what the job returned, or its failure."""
    from hydra.core.utils import JobReturn, JobStatus

    if t.outcome == "result":
        try:
            return t.job.results()[0]
        except Exception as error:  # noqa: BLE001 (the job's own failure, kept as Hydra keeps it)
            return JobReturn(overrides=t.overrides, status=JobStatus.FAILED, _return_value=error)
    failure = RuntimeError(f"{t.label}: {t.outcome}")
    return JobReturn(
        overrides=t.overrides,
        cfg=None,
        hydra_cfg=None,
        working_dir=str(Path(str(config.hydra.sweep.dir)) / t.subdir),
        status=JobStatus.FAILED,
        _return_value=failure,
    )


def environment_pythonpath() -> dict[str, str]:
    """The environment for a process that must import this checkout (the driver as a job)."""
    root = checkout_root()
    env = dict(os.environ)
    if root is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH")) if p)
    return env
