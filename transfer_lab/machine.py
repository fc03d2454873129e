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


def worker_threads(n_jobs: int) -> int:
    """The CPU threads of each of a parallel sweep's n_jobs workers (sweep/workers.py)."""
    cores = os.cpu_count() or 1
    slots = n_jobs if n_jobs > 0 else cores
    return max(1, cores // slots)


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
