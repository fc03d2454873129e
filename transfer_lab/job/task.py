"""The Hydra task: one job in its folder, its failure recorded in results.json, its progress told.

`run_hydra` hands the command line to `hydra.main`, which composes the config and calls `task`
once per job (in this process, or in a launcher's worker); `task` runs job/pipeline.run_job.
Imports are light: the heavy ones happen inside, once a job runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import traceback
import warnings
from pathlib import Path

from transfer_lab.errors import UserError

log = logging.getLogger("transfer_lab")


def quiet_libraries() -> None:
    """Keep the console to what a researcher reads: our lines and the progress bars."""
    for name in ("pytorch_lightning", "lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for pattern in (
        ".*does not have many workers.*",
        ".*smaller than the logging interval.*",
        ".*LeafSpec.*",
        ".*Checkpoint directory.*exists and is not empty.*",
        ".*GPU available but not used.*",
        ".*module\\(s\\) in eval mode at the start of training.*",  # frozen BatchNorm, on purpose
        ".*treespec.*",
    ):
        warnings.filterwarnings("ignore", message=pattern)
    if "SLURM_JOB_ID" not in os.environ:  # a login node has srun, but this job is not SLURM's
        warnings.filterwarnings("ignore", message=".*`srun` command is available.*not used")


def below_warning():
    """A logging filter: the console's stdout handler passes info; warnings and errors go to
    stderr (conf/hydra/job_logging)."""
    return lambda record: record.levelno < logging.WARNING


def task(cfg) -> float:
    """Hydra's task function: run one job in its folder, recording failures in results.json.

    Returns the job's objective, target validation accuracy (NaN when it failed), so Hydra's
    Optuna or Ax sweepers can tune a setting such as β or a learning rate.
    """
    from hydra.core.hydra_config import HydraConfig

    from transfer_lab.config.folders import quiet_write_errors_in_threads
    from transfer_lab.job.context import JobContext
    from transfer_lab.job.pipeline import write_failure
    from transfer_lab.store.atomic import write_text_atomically

    quiet_libraries()
    quiet_write_errors_in_threads()
    ctx = JobContext.from_hydra(bool(cfg.get("only_source")))
    sweep_dir, job_dir = ctx.sweep_dir, ctx.job_dir
    launcher = str(HydraConfig.get().launcher.get("_target_", ""))
    if sweep_dir is not None and "joblib" in launcher:
        from transfer_lab.sweep.workers import pin_worker

        log.info(pin_worker(sweep_dir, int(HydraConfig.get().launcher.n_jobs)))
    objective, results = float("nan"), None
    try:
        results = run_job_saying_write_faults(cfg, ctx)
    except UserError as error:
        with contextlib.suppress(OSError):  # the disk may be the problem
            write_failure(job_dir, cfg, ctx, str(error))
        log.error("error: %s", error)
        if sweep_dir is None:
            sys.exit(2)
    except Exception as error:  # a sweep goes on; the report names the failure
        reason = f"{type(error).__name__}: {error}"
        write_failure(job_dir, cfg, ctx, reason)
        write_text_atomically(job_dir / "error.txt", traceback.format_exc())
        if sweep_dir is None:
            raise
        log.error("%s failed: %s (traceback in %s)", ctx.banner, reason, job_dir / "error.txt")
    else:
        if results.target is not None and results.target.val_acc is not None:
            objective = results.target.val_acc
        if sweep_dir is None:
            log.info("results: %s", job_dir / "results.json")
    if sweep_dir is not None:  # the round's k/N, time, ETA and this job's metric
        from transfer_lab.sweep.progress import job_finished

        job_finished(sweep_dir, bool(cfg.get("only_source")), ctx.name, results)
    return objective


def run_job_saying_write_faults(cfg, ctx):
    """run_job, with a write the user can fix (a full disk, no permission) as one sentence."""
    from transfer_lab.config.folders import WRITE_ERRNOS, job_fault_sentence
    from transfer_lab.job.pipeline import run_job

    try:
        return run_job(cfg, ctx)
    except OSError as error:
        if error.errno not in WRITE_ERRNOS:
            raise
        multirun = ctx.sweep_dir is not None
        sentence = job_fault_sentence(error, ctx.job_dir, Path(cfg.paths.cache_dir), multirun)
        raise UserError(sentence) from error


def run_hydra(args: list[str]) -> None:
    """Run `hydra.main` with `task` on these arguments, as if they were the command line."""
    import hydra

    from transfer_lab.config.folders import guard_hydra_config_save
    from transfer_lab.config.paths import config_dir

    guard_hydra_config_save()
    entry = hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="config")
    saved = sys.argv
    sys.argv = ["transfer_lab", *args]
    try:
        entry(task)()
    finally:
        sys.argv = saved
