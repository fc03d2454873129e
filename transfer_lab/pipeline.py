"""One job, in the order it happens: check → split → source stage → measures → target stage →
results.

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
from transfer_lab.errors import UserError
from transfer_lab.hparams import log_hparams
from transfer_lab.job_context import JobContext
from transfer_lab.measure_stage import backbone_from_state, source_measures, stage_cka
from transfer_lab.networks import build_module, stage_names
from transfer_lab.results import JobResults, StageResults
from transfer_lab.source_stage import Source, run_source
from transfer_lab.training import derived_seed, fit_and_test
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


def run_job(cfg: DictConfig, ctx: JobContext) -> JobResults:
    """Run one job end to end and return its results (also written to results.json)."""
    # 1. Check the config before anything is trained or written.
    validate(cfg)
    started = time.time()

    # 2. Split: both datasets, tasks A and B with their budgets, and the plan of the arm.
    job = data_tasks.build_job_data(cfg)
    split, task_a, task_b = job.split, job.task_a, job.task_b
    stages = stage_names(cfg, job.source_images)
    plan = plan_from_config(cfg.transfer, stages)
    if cfg.measures.only and plan.source_task != "A":
        raise UserError(
            f"measures.only=true measures a source network trained on A, but {plan.label} has "
            f"none; use transfer.treatment=transfer (or an arm such as A1B)."
        )
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
    source = None
    if plan.source_task is not None:
        on_a = plan.source_task == "A"
        source_task = task_a if on_a else job.selffer_task()
        source_images = job.source_images if on_a else job.target_images
        source = run_source(
            cfg, source_images, source_task, ctx, describe(source_task, plan.source_task)
        )
        results.source = source.results

        # 3b. How transferable the source's features look on B, stage by stage (cached).
        if cfg.measures.enabled:
            measured = source_measures(
                cfg, source.results.cache_key, source.state, source.head, job.target_images, task_b
            )
            results.source.measures = measured.per_stage
            results.source.output_measures = measured.output or None

    # 3c. Measures only: baseB (the source network trained on B) for CKA, and no target network.
    if cfg.measures.only:
        return finish_measures_only(cfg, ctx, job, source, results, started)

    # 4. Target stage: copy, freeze, re-initialise as planned; train on B; test once.
    log.info("%s · target: %s on %s", ctx.banner, plan.label, describe(task_b, "B"))
    pl.seed_everything(derived_seed(cfg.seed, "target"), verbose=False)
    target_cfg = target_schedule(cfg, plan)
    module = build_module(
        cfg,
        target_cfg,
        job.target_images,
        task_b,
        beta=0.0,
        plan=plan,
        source_state=source.state if source else None,
    )
    datamodule = data_tasks.datamodule_for(
        job.target_images, task_b, seed=derived_seed(cfg.seed, "target")
    )
    fitted = fit_and_test(module, datamodule, "target", target_cfg, cfg, ctx)
    results.target = fitted.results
    if source is not None and cfg.measures.enabled:  # how far training on B moved each stage
        cka = stage_cka(cfg, job.target_images, task_b, module.backbone, source.state)
        results.target.cka = {"source": cka}

    # 5. Results: results.json (whole or absent) and the TensorBoard hparams session.
    results.status = "ok"
    results.seconds = round(time.time() - started, 2)
    log_hparams(fitted.loggers, results)
    results.write(ctx.job_dir)
    log.info(
        "%s · target test accuracy %.4f (validation %.4f), %s",
        ctx.banner,
        results.target.test_acc,
        results.target.val_acc if results.target.val_acc is not None else float("nan"),
        plan.label,
    )
    return results


def finish_measures_only(
    cfg: DictConfig,
    ctx: JobContext,
    job: data_tasks.JobData,
    source: Source,
    results: JobResults,
    started: float,
) -> JobResults:
    """Train (or reuse) baseB, record CKA between the source and baseB per stage, write results."""
    base_b_task = job.selffer_task()
    base_b = run_source(cfg, job.target_images, base_b_task, ctx, describe(base_b_task, "B"))
    first = backbone_from_state(cfg, job.target_images, source.state)
    results.source.cka = {
        "baseB": stage_cka(cfg, job.target_images, job.task_b, first, base_b.state)
    }
    results.label = results.family = "sources"  # no arm was trained: no depth, no target
    results.depth, results.freeze = None, None
    results.status = "ok"
    results.seconds = round(time.time() - started, 2)
    results.write(ctx.job_dir)
    log.info(
        "%s · measures of the source on B written (%s)",
        ctx.banner,
        ", ".join(sorted(results.source.measures or {})) or "none: measures.enabled=false",
    )
    return results


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
