"""transfer_lab's Hydra sweeper: the basic sweeper's grid, run sources first and resumable.

Hydra finds sweepers only in the `hydra_plugins` package, so the class lives here; what it
does is in `transfer_lab.sweep` (the grid in `grid.py`, the plan in `plan.py`).
"""

import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra._internal.core_plugins.basic_launcher import BasicLauncher
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.types import HydraContext
from omegaconf import OmegaConf

log = logging.getLogger(__name__)


@dataclass
class SourcesFirstSweeperConf:
    _target_: str = "hydra_plugins.transfer_lab_sweeper.sweeper.SourcesFirstSweeper"
    max_batch_size: Any = None
    params: Any = None


ConfigStore.instance().store(
    group="hydra/sweeper",
    name="transfer_lab",
    node=SourcesFirstSweeperConf,
    provider="transfer_lab",
)


class SourcesFirstSweeper(BasicSweeper):
    """Train the distinct missing source networks first, then the unfinished jobs of the grid."""

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        """Hydra composes each job before launching it, to fail early when the launcher runs it
        elsewhere; the in-process launcher composes it again right before the job, so there the
        first pass only repeats the second (0.8 s per digits job, a quarter of its time)."""
        # By name: Hydra's plugin scan re-executes plugin modules, so class identity can differ.
        if type(self.launcher).__name__ == BasicLauncher.__name__:
            return
        BasicSweeper.validate_batch_is_legal(self, batch)

    def setup(self, *, hydra_context: HydraContext, task_function: Any, config: Any) -> None:
        """As the basic sweeper's, but an in-process launcher takes each job's config from the
        composition the pre-flight and the plan already made (`transfer_lab.sweep.compose`)."""
        from transfer_lab.sweep.compose import ComposedOnce

        self.composer = hydra_context.config_loader  # Hydra's own, for the plan's compositions
        if "BasicLauncher" in str(config.hydra.launcher.get("_target_", "")):
            hydra_context = HydraContext(
                config_loader=ComposedOnce(hydra_context.config_loader),
                callbacks=hydra_context.callbacks,
            )
        super().setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def source_to_train(self, overrides: Sequence[str]) -> str | None:
        """The cache key of the source this job needs, if the cache does not hold it yet."""
        from transfer_lab.errors import UserError
        from transfer_lab.job.pipeline import source_needed
        from transfer_lab.store.cache import SourceCache, cache_key
        from transfer_lab.sweep.compose import sweep_config

        # Read, not copied (a copy cost more than the plan): what a plan reads resolves alike in
        # every job of the sweep (${hydra:runtime.cwd}), so HydraConfig stays the sweep's own.
        config = sweep_config(self.composer, self.config, overrides)
        try:
            definition = source_needed(config)
        except UserError:
            return None  # the job itself will say what is wrong, in its results.json
        except Exception as error:  # noqa: BLE001 (likewise: the job records its own failure)
            log.warning("could not plan the source of %s: %s", " ".join(overrides), error)
            return None
        if definition is None:
            return None
        key = cache_key(definition)
        return None if SourceCache(config.paths.cache_dir).contains(key) else key

    def sweep(self, arguments: list[str]) -> Any:
        from transfer_lab.errors import UserError
        from transfer_lab.sweep.grid import JOB_COUNT_ENV, grid
        from transfer_lab.sweep.lock import sweep_lock

        jobs = grid(None, [*self._parse_config(), *arguments], self.hydra_context.config_loader)
        os.environ[JOB_COUNT_ENV] = str(len(jobs))  # each job's "job k/N"
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        try:
            with sweep_lock(sweep_dir):  # one sweep per folder, until this one ends, however
                return self.run_rounds(jobs, sweep_dir)
        except UserError as error:  # one sentence, not Hydra's traceback
            print(f"error: {error}", file=sys.stderr)
            raise SystemExit(2) from None

    def run_rounds(self, jobs: list[list[str]], sweep_dir: Path) -> Any:
        """Plan the sweep and run its rounds: the missing sources, then the unfinished jobs."""
        from transfer_lab.store.atomic import write_text_atomically
        from transfer_lab.sweep.plan import make_plan, source_jobs, target_jobs
        from transfer_lab.sweep.progress import start_round

        master = HydraConfig.instance().cfg
        try:  # the launcher was checked before the sweep began (transfer_lab.cli.main)
            plan = make_plan(sweep_dir, jobs, self.source_to_train)
        finally:
            HydraConfig.instance().cfg = master
        write_text_atomically(sweep_dir / "multirun.yaml", OmegaConf.to_yaml(self.config))
        submitit = self.config.hydra.launcher.get("submitit_folder")
        if submitit:  # slurm, submitit_local: submitit passes each job its code as a pickle
            from transfer_lab.slurm.launch import private_submitit_folder

            private_submitit_folder(str(submitit))
        print(plan.summary(), flush=True)
        returns = []
        if plan.sources:
            start_round(sweep_dir, "sources", len(plan.sources))  # each job shows k/N as it ends
            returns.append(self.launcher.launch(source_jobs(plan), initial_job_idx=0))
        if plan.todo:
            start_round(sweep_dir, "jobs", len(plan.todo))
            returns.append(self.launcher.launch(target_jobs(plan), initial_job_idx=plan.todo[0]))
        return returns
