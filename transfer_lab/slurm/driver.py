"""`sweep … launcher=slurm hydra.launcher.driver=true`: the sweep's driver as a SLURM job.

A sweep's driver plans, submits each phase, waits on it and writes the report: for a real
study that is days, longer than a login session should be trusted with. Submitted as a small
job (one CPU, requeued if the node fails), the same command runs on a node; a requeued driver
simply resumes the sweep, and the jobs it had submitted are adopted, not submitted again
(transfer_lab.slurm.claims). Its log is `driver.log` in the sweep folder.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Any

from transfer_lab.slurm import queue
from transfer_lab.slurm.launch import environment_pythonpath

DRIVER_KEY = "hydra.launcher.driver"
LOG = "driver.log"


def wants_driver_job(args: list[str]) -> bool:
    """Whether the command line asks for the driver to be submitted as a job."""
    return any(
        a.lstrip("+").split("=", 1)[0] == DRIVER_KEY
        and a.split("=", 1)[1].strip().lower() in ("true", "1", "yes")
        for a in args
        if "=" in a
    )


def driver_command(args: list[str]) -> list[str]:
    """The command the driver job runs: this sweep, run in place."""
    rest = [a for a in args if a.lstrip("+").split("=", 1)[0] != DRIVER_KEY]
    return [sys.executable, "-m", "transfer_lab", "sweep", *rest]


def sbatch_arguments(launcher: dict[str, Any], experiment: str | None, sweep_dir: Path) -> list:
    """sbatch's options for the driver: small, on the jobs' partition, requeued on node failure."""
    options = [
        "--parsable",
        f"--job-name={experiment or 'transfer_lab'}-driver",
        f"--output={Path(sweep_dir).resolve() / LOG}",
        "--ntasks=1",
        "--cpus-per-task=1",
        f"--chdir={os.getcwd()}",
        "--requeue",
    ]
    if launcher.get("partition"):
        options.append(f"--partition={launcher['partition']}")
    if launcher.get("driver_timeout_min"):
        options.append(f"--time={int(launcher['driver_timeout_min'])}")
    for key in ("account", "qos"):
        if launcher.get(key):
            options.append(f"--{key}={launcher[key]}")
    return options


def submit_driver(
    args: list[str], sweep_dir: Path, launcher: dict[str, Any], experiment: str | None
) -> str:
    """Submit the driver, print how to follow it, return its job id."""
    import subprocess

    command = driver_command(args)
    sbatch = ["sbatch", *sbatch_arguments(launcher, experiment, sweep_dir)]
    sbatch += ["--wrap", shlex.join(command)]
    done = subprocess.run(
        sbatch, capture_output=True, text=True, env=environment_pythonpath(), timeout=60
    )
    if done.returncode != 0:
        said = " ".join((done.stderr or done.stdout).split())
        raise queue.ClusterError(f"sbatch refused the driver job: {said}")
    job_id = done.stdout.strip().split(";")[0]
    log = Path(sweep_dir) / LOG
    print(
        f"submitted the sweep's driver as SLURM job {job_id} ({experiment or 'transfer_lab'}-"
        f"driver), sweep folder {sweep_dir}\n"
        f"follow it:   tail -f {log}   ·   squeue --me   ·   "
        f"python -m transfer_lab report {sweep_dir}",
        flush=True,
    )
    return job_id


def submit_driver_job(args: list[str], sweep_dir: Path, master: Any) -> int:
    """`hydra.launcher.driver=true`: submit this sweep's driver; the command's exit status."""
    from omegaconf import OmegaConf

    launcher = OmegaConf.to_container(master.hydra.launcher, resolve=False)
    try:
        submit_driver(args, sweep_dir, launcher, master.hydra.runtime.choices.get("experiment"))
    except queue.ClusterError as error:
        print(f"error: {error}.", file=sys.stderr)
        return 2
    return 0
