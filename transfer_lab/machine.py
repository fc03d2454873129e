"""The machine a job will run on: this one, or, for a launcher that runs jobs elsewhere
(SLURM), the resources the job asks of it.

A sweep on SLURM is planned on a login node that often has no GPU and few cores. Checking
`trainer.accelerator=gpu` against that machine refused sound sweeps, and resolving
`accelerator: auto` there gave source cache keys ("cpu") that no job on a GPU node would store
("cuda"), so every rerun trained its sources again. Both now ask `job_machine()`, in the planner
and in the job alike, so they agree by construction.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Machine:
    gpus: int
    cpus: int
    requested: bool  # what a remote launcher asks for, not this machine's hardware
    mps: bool = False  # Apple's GPU (only ever this machine's)

    def has(self, count: int, kind: str) -> str:
        """'this machine has 0 GPU(s)' or 'the job asks SLURM for 0 GPU(s) (…)'."""
        if not self.requested:
            return f"this machine has {count} {kind}(s)"
        setting = "gpus_per_node" if kind == "GPU" else "cpus_per_task"
        return f"each job asks SLURM for {count} {kind}(s) (hydra.launcher.{setting})"


def runs_elsewhere(launcher: Mapping[str, Any] | None) -> bool:
    """Whether the launcher runs jobs on other machines (SLURM), not on this one."""
    return str((launcher or {}).get("_target_", "")).endswith("SlurmLauncher")


def job_machine(launcher: Mapping[str, Any] | None = None) -> Machine:
    """Where a job of this launcher runs; by default the launcher of Hydra's current config."""
    if launcher is None:
        launcher = current_launcher()
    if runs_elsewhere(launcher):
        return Machine(
            gpus=int(launcher.get("gpus_per_node") or 0),
            cpus=int(launcher.get("cpus_per_task") or 1),
            requested=True,
        )
    import torch

    return Machine(
        gpus=torch.cuda.device_count() if torch.cuda.is_available() else 0,
        cpus=os.cpu_count() or 1,
        requested=False,
        mps=torch.backends.mps.is_available(),
    )


def usable_cpus() -> int:
    """The CPUs this process may run on: its affinity (what a container, taskset or cgroup
    leaves it), not every CPU of the machine."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # macOS and Windows have no affinity call
        return os.cpu_count() or 1


def asked_threads() -> int | None:
    """OMP_NUM_THREADS when the user set it to a whole number of at least 1, else None."""
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(value) if value.isdigit() and int(value) >= 1 else None


def worker_threads(n_jobs: int) -> int:
    """The CPU threads of each of a parallel sweep's n_jobs workers (sweep/workers.py): the
    usable CPUs shared out between the jobs that run at once, so they never ask for more
    threads than there are cores; fewer where OMP_NUM_THREADS asks for fewer."""
    cores = usable_cpus()
    slots = n_jobs if n_jobs > 0 else cores
    share = max(1, cores // slots)
    asked = asked_threads()
    return min(share, asked) if asked else share


def jobs_at_once(launcher: Mapping[str, Any] | None) -> int | None:
    """How many jobs of this launcher share this machine's CPUs (None: each has a node's)."""
    if runs_elsewhere(launcher):
        return None
    if "joblib" in str((launcher or {}).get("_target_", "")):
        n_jobs = int(launcher.get("n_jobs") or 0)
        return n_jobs if n_jobs > 0 else usable_cpus()
    return 1


def threads_line(launcher: Mapping[str, Any] | None = None) -> str:
    """The job log's words for how the job computes on the CPU: its threads and why so many,
    and the CPU kernels torch picked. Both move the last bits of the numbers (docs/results)."""

    if launcher is None:
        launcher = current_launcher()
    threads = job_threads(launcher)
    at_once = jobs_at_once(launcher)
    if at_once is None:
        why = "the cpus_per_task each SLURM job asks for"
    else:
        why = f"{usable_cpus()} usable CPU(s), {at_once} job(s) at a time"
        if asked_threads():
            why += f", OMP_NUM_THREADS={asked_threads()}"
    return f"CPU: {threads} thread(s) ({why}); CPU kernels: {cpu_kind()}"


def cpu_kind() -> str:
    """The kernels torch picks on this CPU and the CPU itself, e.g. "AVX512 on Intel(R) Xeon(R)
    Processor": the vector instructions decide torch's and oneDNN's kernels, the vendor MKL's
    paths (an AMD EPYC with AVX-512 gave other digits job numbers than an Intel Xeon with it)."""
    import torch

    name = platform.processor()
    try:
        with open("/proc/cpuinfo") as info:
            name = next(
                (line.split(":", 1)[1].strip() for line in info if "model name" in line), name
            )
    except OSError:  # not Linux
        pass
    return f"{torch.backends.cpu.get_cpu_capability()} on {name or platform.machine()}"


def job_threads(launcher: Mapping[str, Any] | None = None) -> int:
    """The CPU threads a job of this launcher computes with (torch's intra-op threads).

    A network trained on the CPU sums in an order that depends on them, so its numbers do too
    (one digits job's target tested 0.9911 on one thread, 0.9866 on two): the source cache key
    holds them. For SLURM it is what the job asks for (cpus_per_task), so planner and job agree.
    """
    if launcher is None:
        launcher = current_launcher()
    if runs_elsewhere(launcher):
        return int(launcher.get("cpus_per_task") or 1)
    if "joblib" in str((launcher or {}).get("_target_", "")):
        return worker_threads(int(launcher.get("n_jobs") or 0))
    import torch

    return torch.get_num_threads()


def current_launcher() -> Mapping[str, Any] | None:
    """hydra.launcher of the config Hydra composed for this run, sweep or job (None outside)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    launcher = HydraConfig.get().get("launcher")
    return launcher if launcher is not None else None
