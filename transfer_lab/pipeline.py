"""One job, in the order it happens: check → split → source stage → target stage → results.

Each step lives in its own module; this file only says what follows what.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf

from transfer_lab.data import tasks as data_tasks
from transfer_lab.data.splits import Task
from transfer_lab.hparams import log_hparams
from transfer_lab.job_context import JobContext
from transfer_lab.networks import build_module, stage_names
from transfer_lab.results import JobResults, StageResults
from transfer_lab.source_stage import run_source, source_definition
from transfer_lab.training import derived_seed, fit_and_test, strategy_for
from transfer_lab.transfer.treatments import Plan, plan_from_config
from transfer_lab.validation import validate

log = logging.getLogger(__name__)


def describe(task: Task, letter: str) -> str:
    return f"{letter} ({len(task.classes)} classes, {len(task.train)} training images)"


def target_schedule(cfg: DictConfig, plan: Plan) -> DictConfig:
    """The target stage's schedule; networks without a source may have their own (target.scratch)."""
    scratch = cfg.target.get("scratch")
    if plan.source_task is None and scratch:
        return OmegaConf.merge(cfg.target, scratch)
    return cfg.target


def source_inputs(job: data_tasks.JobData, plan: Plan) -> tuple[Task, object, str]:
    """(task, images, letter) the source network trains on: A for transfer, B for selffer."""
    if plan.source_task == "A":
        return job.task_a, job.source_images, "A"
    return job.selffer_task(), job.target_images, plan.source_task


def source_needed(cfg: DictConfig) -> dict | None:
    """The definition (what its cache key hashes) of the source network this job needs, or None.

    A sweep asks this of every job before it runs any, to train each distinct source once first.
    """
    validate(cfg)
    job = data_tasks.build_job_data(cfg)
    plan = plan_from_config(cfg.transfer, stage_names(cfg, job.source_images))
    if plan.source_task is None:
        return None
    task, images, _ = source_inputs(job, plan)
    return source_definition(cfg, images, task)


def run_job(cfg: DictConfig, ctx: JobContext) -> JobResults:
    """Run one job end to end and return its results (also written to results.json)."""
    # 1. Check the config before anything is trained or written.
    validate(cfg)
    strategy_for(OmegaConf.to_container(cfg.trainer, resolve=True))
    started = time.time()

    # 2. Split: both datasets, tasks A and B with their budgets, and the plan of the arm.
    job = data_tasks.build_job_data(cfg)
    split, task_a, task_b = job.split, job.task_a, job.task_b
    stages = stage_names(cfg, job.source_images)
    plan = plan_from_config(cfg.transfer, stages)
    results = JobResults(
        status="running",
        experiment=ctx.experiment,
        dataset=job.name,
        split_seed=int(cfg.data.split_seed),
        seed=int(cfg.seed),
        treatment=plan.treatment,
        label=plan.label,
        family=plan.family,
        depth=plan.depth,
        stages=stages,
        freeze=bool(plan.frozen),
        lr_scale=float(cfg.transfer.lr_scale),
        beta=float(cfg.model.beta),
        binary_heads=int(cfg.model.binary_heads),
        source_classes=list(split.source),
        target_classes=list(split.target),
        binary_partitions=task_a.binary.tolist(),
        sizes={
            "source_train": len(task_a.train),
            "source_val": len(task_a.val),
            "target_train": len(task_b.train),
            "target_val": len(task_b.val),
            "target_test": len(task_b.test),
        },
        overrides=list(ctx.overrides),
        config=OmegaConf.to_container(cfg, resolve=True),
    )

    # 3. Source stage (transfer: on A; selffer: on B), reused from the cache when it exists.
    source_state = None
    if plan.source_task is not None:
        source_task, source_images, letter = source_inputs(job, plan)
        source_state, results.source = run_source(
            cfg, source_images, source_task, ctx, describe(source_task, letter)
        )
    if cfg.get("only_source"):  # a sweep's first phase: the source network is all it needs
        results.status = "ok"
        results.seconds = round(time.time() - started, 2)
        results.write(ctx.job_dir)
        drop_resume_points(ctx.job_dir)
        return results

    # 4. Target stage: copy, freeze, re-initialise as planned; train on B; test once.
    log.info("%s · target: %s on %s", ctx.banner, plan.label, describe(task_b, "B"))
    pl.seed_everything(derived_seed(cfg.seed, "target"), verbose=False)
    target_cfg = target_schedule(cfg, plan)
    module = build_module(
        cfg, target_cfg, job.target_images, task_b, beta=0.0, plan=plan, source_state=source_state
    )
    datamodule = data_tasks.datamodule_for(
        job.target_images, task_b, seed=derived_seed(cfg.seed, "target")
    )
    fitted = fit_and_test(module, datamodule, "target", target_cfg, cfg, ctx)
    results.target = fitted.results

    # 5. Results: results.json (whole or absent) and the TensorBoard hparams session.
    results.status = "ok"
    results.seconds = round(time.time() - started, 2)
    log_hparams(fitted.loggers, results)
    results.write(ctx.job_dir)
    drop_resume_points(ctx.job_dir)
    log.info(
        "%s · target test accuracy %.4f (validation %.4f), %s",
        ctx.banner,
        results.target.test_acc,
        results.target.val_acc if results.target.val_acc is not None else float("nan"),
        plan.label,
    )
    return results


def drop_resume_points(job_dir: Path) -> None:
    """A finished job has nothing left to resume: its last checkpoints only take disk space."""
    for last in (job_dir / "checkpoints").glob("*-last.*"):
        last.unlink()


def write_failure(job_dir: Path, cfg: DictConfig, ctx: JobContext, reason: str) -> None:
    """A failed job still leaves a complete results.json that names the reason."""
    JobResults(
        status="failed",
        reason=reason,
        experiment=ctx.experiment,
        overrides=list(ctx.overrides),
        split_seed=cfg.data.get("split_seed"),
        seed=cfg.get("seed"),
        config=OmegaConf.to_container(cfg, resolve=False),
        source=StageResults(),
    ).write(job_dir)
