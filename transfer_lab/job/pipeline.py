"""One job, in the order it happens: check → split → source phase → measures → target phase →
results.

Each step lives in its own module; this file only says what follows what.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from transfer_lab.config.checks import validate
from transfer_lab.data import tasks as data_tasks
from transfer_lab.data.splits import Task
from transfer_lab.errors import UserError
from transfer_lab.job.context import JobContext
from transfer_lab.job.measure_step import backbone_from_state, source_measures, stage_cka
from transfer_lab.job.networks import stage_names
from transfer_lab.job.source import run_source, source_definition_for
from transfer_lab.job.target import baseb_definition, baseb_network, train_on_b
from transfer_lab.machine import threads_line
from transfer_lab.models.pretrained import serve_as_trained
from transfer_lab.store.keys import code_sha256
from transfer_lab.store.results import JobResults, PhaseResults
from transfer_lab.train.provenance import Started, cpu_time, provenance
from transfer_lab.train.tensorboard import log_hparams
from transfer_lab.train.trainer import configured_loggers
from transfer_lab.transfer import arms
from transfer_lab.transfer.treatments import plan_from_config

log = logging.getLogger(__name__)


def describe(task: Task, letter: str) -> str:
    return f"{letter} ({len(task.classes)} classes, {len(task.train)} training images)"


def source_needed(cfg: DictConfig) -> dict | None:
    """The definition (what its cache key hashes) of the cached network this job copies from, or
    None: A's source for transfer, baseB's network for selffer (BnB).

    A sweep asks this of every job before it runs any, to train each distinct source once first.
    """
    validate(cfg)
    serve_as_trained(cfg)
    job = data_tasks.build_job_data(cfg)
    plan = plan_from_config(cfg.transfer, stage_names(cfg.backbone, job.source_images))
    if plan.source_task == "A":
        return source_definition_for(cfg, job.source_images, job.task_a)
    if plan.source_task == "B":
        return baseb_definition(cfg, job)
    return None


def run_job(cfg: DictConfig, ctx: JobContext) -> JobResults:
    """Run one job end to end and return its results (also written to results.json)."""
    # 1. Check the config before anything is trained or written.
    validate(cfg)
    started = Started.now()
    log.info("%s · %s", ctx.banner, threads_line())  # they move the last bits of the numbers

    # 2. Split: both datasets, tasks A and B with their budgets, and the plan of the arm.
    serve_as_trained(cfg)  # an image folder at its defaults: the pretrained weights' input
    job = data_tasks.build_job_data(cfg)
    split, task_a, task_b = job.split, job.task_a, job.task_b
    stages = stage_names(cfg.backbone, job.source_images)
    plan = plan_from_config(cfg.transfer, stages)
    ctx.name_run(plan.label, plan.source_task, float(cfg.model.beta), int(cfg.data.split_seed))
    if cfg.measures.only and plan.source_task != "A":
        raise UserError(
            f"measures.only=true measures a source network trained on A, but {plan.label} has "
            f"none; use transfer.treatment=transfer (or an arm such as A1B)."
        )
    results = JobResults(
        status="running",
        experiment=ctx.experiment,
        dataset=job.name,
        data_files=job.files,
        split_seed=int(cfg.data.split_seed),
        seed=int(cfg.seed),
        treatment=plan.treatment,
        label=plan.label,
        family=plan.family,
        depth=plan.depth,
        stages=stages,
        freeze=bool(plan.frozen),
        freeze_depth=plan.freeze_depth,
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
            "target_labelled": len(task_b.train) + len(task_b.val),  # all B labels the arm used
        },
        overrides=list(ctx.overrides),
        code_sha256=code_sha256(),
        config=OmegaConf.to_container(cfg, resolve=True),
    )

    # 3. Source phase, reused from the cache when it exists: transfer trains on A; selffer (BnB)
    #    is cut from baseB's own network, the one the baseB arm trains.
    source_state, source_head = None, None
    if plan.source_task == "A":
        source = run_source(cfg, job.source_images, task_a, ctx, describe(task_a, "A"))
        source_state, source_head, results.source = source.state, source.head, source.results
    elif plan.source_task == "B":
        source_state, results.source, _ = baseb_network(cfg, job, ctx, phase="source")
    if cfg.get("only_source"):  # a sweep's first phase: the source network is all it needs
        log_hparams(
            configured_loggers(cfg.get("logger"), ctx.folders(), "source"),
            results,
            source=arms.source_network(plan.source_task),
        )
        return finish(results, ctx, started)

    # 3b. How transferable the source's features look on B, stage by stage (cached).
    if source_state is not None and cfg.measures.enabled:
        measured = source_measures(
            cfg, results.source.cache_key, source_state, source_head, job.target_images, task_b
        )
        results.source.measures = measured.per_stage
        results.source.output_measures = measured.output or None

    # 3c. Measures only: baseB's network for CKA with the source, and no target network.
    if cfg.measures.only:
        return finish_measures_only(cfg, ctx, job, source_state, results, started)

    # 4. Target phase: copy, freeze, re-initialise as planned; train on B; test once. baseB goes
    #    through the source cache, so the BnB jobs of its split reuse its network.
    log.info("%s · target: %s on %s", ctx.banner, plan.label, describe(task_b, "B"))
    if plan.treatment == arms.SCRATCH:
        _, results.target, loggers = baseb_network(cfg, job, ctx, phase="target")
    else:
        module, fitted = train_on_b(cfg, job, plan, ctx, source_state=source_state)
        results.target, loggers = fitted.results, fitted.loggers
        if source_state is not None and cfg.measures.enabled:  # how far B moved each stage
            moved = stage_cka(
                cfg.backbone, job.target_images, task_b, module.backbone, source_state
            )
            results.target.cka = {"source": moved}

    # 5. Results: results.json (whole or absent) and the TensorBoard hparams session.
    log_hparams(
        loggers or configured_loggers(cfg.get("logger"), ctx.folders(), "target"), results
    )  # baseB: cached
    finish(results, ctx, started)
    log.info(
        "%s · target test accuracy %.4f (validation %.4f), %s",
        ctx.banner,
        results.target.test_acc,
        results.target.val_acc if results.target.val_acc is not None else float("nan"),
        plan.label,
    )
    return results


def finish(results: JobResults, ctx: JobContext, started: Started) -> JobResults:
    """Mark the job done and write results.json (whole or absent); a finished job has nothing
    left to resume, so its last checkpoints, which only take disk space, go."""
    results.status = "ok"
    results.seconds = round(time.time() - started.wall, 2)
    results.cpu_seconds = round(cpu_time() - started.cpu, 2)
    results.provenance = provenance((results.config.get("trainer") or {}).get("precision"), started)
    results.write(ctx.job_dir)
    for last in (ctx.job_dir / "checkpoints").glob("*-last.*"):
        last.unlink()
    return results


def finish_measures_only(
    cfg: DictConfig,
    ctx: JobContext,
    job: data_tasks.JobData,
    source_state: dict,
    results: JobResults,
    started: Started,
) -> JobResults:
    """Train (or reuse) baseB, record CKA between the source and baseB per stage, write results."""
    base_b_state, _, _ = baseb_network(cfg, job, ctx, phase="source")
    first = backbone_from_state(cfg.backbone, job.target_images, source_state)
    results.source.cka = {
        arms.BASE_B: stage_cka(cfg.backbone, job.target_images, job.task_b, first, base_b_state)
    }
    results.label = results.family = "sources"  # no arm was trained: no depth, no target
    results.depth, results.freeze, results.freeze_depth = None, None, None
    finish(results, ctx, started)
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
        code_sha256=code_sha256(),
        split_seed=cfg.data.get("split_seed"),
        seed=cfg.get("seed"),
        config=OmegaConf.to_container(cfg, resolve=False),
        source=PhaseResults(),
    ).write(job_dir)
