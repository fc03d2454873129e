"""transfer_lab's SLURM launcher: hydra-submitit-launcher's, with a wait that survives dead jobs
and a claim that keeps a rerun from submitting a running sweep's jobs twice.

Hydra finds launchers only in the `hydra_plugins` package, so the class lives here; what it
does is in `transfer_lab.slurm.launch`. The job side (what runs on the node, and the requeue on
pre-emption or the time limit) is submitit's and Hydra's, unchanged.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra_plugins.hydra_submitit_launcher.config import SlurmQueueConf
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher


@dataclass
class TransferLabSlurmConf(SlurmQueueConf):
    _target_: str = "hydra_plugins.transfer_lab_slurm.launcher.TransferLabSlurmLauncher"
    # Submit the sweep's driver (this command) as a SLURM job of its own instead of running it
    # here (transfer_lab.slurm.driver); it then submits the jobs from the node it runs on.
    driver: bool = False
    driver_timeout_min: Any = None  # the driver job's time limit (null: the partition's)
    poll_s: float = 15.0  # how often the driver asks squeue about its jobs
    report_s: float = 180.0  # how often it prints what the jobs wait on


ConfigStore.instance().store(
    group="hydra/launcher",
    name="transfer_lab_slurm",
    node=TransferLabSlurmConf,
    provider="transfer_lab",
)


class TransferLabSlurmLauncher(SlurmLauncher):
    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[Any]:
        from transfer_lab.slurm.launch import launch

        return launch(self, [list(o) for o in job_overrides], initial_job_idx)
