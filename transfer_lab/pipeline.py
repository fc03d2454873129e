"""One job: split → source stage (cached) → target stage → test once → results.json."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint, RichProgressBar
from pytorch_lightning.loggers import TensorBoardLogger

import transfer_lab
from transfer_lab.data import tasks as data_tasks
from transfer_lab.data.datamodule import TaskDataModule
from transfer_lab.data.images import ImageSet
from transfer_lab.data.splits import Task
from transfer_lab.errors import UserError
from transfer_lab.models.module import TransferModule
from transfer_lab.models.registry import backbone_from_config
from transfer_lab.atomic import file_sha256, write_json_atomically
from transfer_lab.transfer.cache import SourceCache
from transfer_lab.transfer.surgery import copy_stages
from transfer_lab.transfer.treatments import Plan, plan_from_config

log = logging.getLogger(__name__)

# Trainer keys that change only what is shown, never what is trained.
DISPLAY_KEYS = {"enable_progress_bar", "enable_model_summary", "log_every_n_steps"}
# Data keys that act on a source network only through its classes and image indices (hashed
# separately in its cache key), or that say where files live: leaving them out of the key lets
# jobs that differ only there (budgets, directions, out-of-domain targets) share a source.
SPLIT_ONLY_DATA_KEYS = {
    "root",
    "download",
    "check_md5",
    "num_workers",
    "eval_batch_size",
    "split_seed",
    "split",
    "source_classes",
    "target_classes",
    "source_superclasses",
    "target_superclasses",
    "direction",
    "binary",
    "val_fraction",
    "fraction",
    "per_class",
    "target",
    "name",
}


class ProgressBar(RichProgressBar):
    """Lightning's rich progress bar without the logger's version number, which means nothing here."""

    def get_metrics(self, trainer, pl_module):  # noqa: D102
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return metrics


@dataclass
class JobContext:
    """Where a job writes and how it introduces itself."""

    job_dir: Path
    tensorboard_dir: Path
    name: str  # e.g. "3" in a sweep: the job's TensorBoard run name
    banner: str  # e.g. "job 4/16"
    experiment: str | None = None
    overrides: tuple[str, ...] = ()


def derived_seed(seed: int, stage: str) -> int:
    """A training seed per stage, so the target's fresh layers never replay the source's init."""
    return int(
        np.random.SeedSequence([int(seed), 1 if stage == "target" else 0]).generate_state(1)[0]
    )


def precision_for(setting: Any) -> Any:
    """Lightning's precision; "auto" is bf16 mixed precision where the GPU has it, else 32-bit."""
    if setting != "auto":
        return setting
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16-mixed"
    return "32-true"


def validate(cfg: DictConfig) -> None:
    """Refuse settings that cannot mean anything, before any work is done."""
    beta, heads = float(cfg.model.beta), int(cfg.model.binary_heads)
    if not 0 <= beta <= 1:
        raise UserError(f"model.beta={beta} is outside [0, 1]; pick a weight such as 0.4.")
    if heads < 0:
        raise UserError(f"model.binary_heads={heads} is negative; use 0 or more heads.")
    if beta > 0 and heads == 0:
        raise UserError("model.beta > 0 needs binary heads; set model.binary_heads to 1 or more.")
    if float(cfg.transfer.lr_scale) < 0:
        raise UserError("transfer.lr_scale must be 0 or more (1 = same rate as the new layers).")


def optimizer_parts(stage_cfg: DictConfig) -> tuple[Any, Any]:
    """(optimizer factory, scheduler factory or None) from a stage's Hydra config."""
    optimizer = instantiate(stage_cfg.optim)
    scheduler_cfg = stage_cfg.get("scheduler")
    scheduler = instantiate(scheduler_cfg) if scheduler_cfg else None
    if not isinstance(optimizer, partial):
        raise UserError("an optim config needs `_partial_: true` so parameter groups can be added.")
    return optimizer, scheduler


def fit_and_test(
    module: TransferModule,
    datamodule: TaskDataModule,
    stage: str,
    stage_cfg: DictConfig,
    cfg: DictConfig,
    ctx: JobContext,
) -> dict[str, Any]:
    """Train with validation-based selection, then test the selected weights once."""
    checkpoint = ModelCheckpoint(
        dirpath=ctx.job_dir / "checkpoints",
        filename=stage,
        monitor="val/acc",
        mode="max",
        save_top_k=1,
        save_weights_only=True,
        enable_version_counter=False,
    )
    callbacks: list[pl.Callback] = [checkpoint]
    if cfg.trainer.get("enable_progress_bar", True):
        callbacks.append(ProgressBar())
    if stage_cfg.get("early_stopping"):
        callbacks.append(
            EarlyStopping(monitor="val/acc", mode="max", patience=int(stage_cfg.early_stopping))
        )
    logger = TensorBoardLogger(
        save_dir=str(ctx.tensorboard_dir), name=ctx.name, version=stage, default_hp_metric=False
    )
    trainer_kwargs = OmegaConf.to_container(cfg.trainer, resolve=True)
    trainer_kwargs["precision"] = precision_for(trainer_kwargs.get("precision", "auto"))
    trainer = pl.Trainer(
        max_epochs=int(stage_cfg.epochs),
        callbacks=callbacks,
        logger=logger,
        default_root_dir=str(ctx.job_dir),
        **trainer_kwargs,
    )
    started = time.perf_counter()
    trainer.fit(module, datamodule=datamodule)
    seconds = time.perf_counter() - started
    best = checkpoint.best_model_path or None
    tested = trainer.test(module, datamodule=datamodule, ckpt_path=best, verbose=False)[0]
    return {
        "val_acc": float(checkpoint.best_model_score) if best else None,
        "test_acc": float(tested["test/acc"]),
        "test_loss": float(tested["test/loss"]),
        "epochs": int(trainer.current_epoch),
        "seconds": round(seconds, 2),
        "checkpoint": best,
        "logger": logger,
    }


def build_module(
    cfg: DictConfig,
    stage_cfg: DictConfig,
    images: ImageSet,
    task: Task,
    beta: float,
    plan: Plan | None = None,
    source_state: dict[str, torch.Tensor] | None = None,
) -> TransferModule:
    """A fresh network for a task; with a plan, stages 1..n copied and frozen as it says."""
    channels, height, _ = images.shape
    backbone = backbone_from_config(cfg.backbone, channels, height)
    if plan is not None and plan.copied:
        copy_stages(backbone, source_state, plan.copied)
    optimizer, scheduler = optimizer_parts(stage_cfg)
    return TransferModule(
        backbone,
        num_classes=len(task.classes),
        optimizer=optimizer,
        scheduler=scheduler,
        beta=beta,
        binary_partitions=task.binary,
        copied=plan.copied if plan else (),
        frozen=plan.frozen if plan else (),
        lr_scale=float(cfg.transfer.lr_scale),
        freeze_bn_stats=bool(cfg.transfer.freeze_bn_stats),
    )


def index_digest(task: Task) -> str:
    """A short hash of a task's exact train/val/test images and partitions."""
    digest = hashlib.sha256()
    for array in (task.train, task.val, task.test, task.binary):
        digest.update(np.ascontiguousarray(array, dtype=np.int64).tobytes())
    return digest.hexdigest()


def source_definition(cfg: DictConfig, images: ImageSet, task: Task) -> dict[str, Any]:
    """Everything that determines a source network: its cache key is a hash of this."""
    data = {
        k: v
        for k, v in OmegaConf.to_container(cfg.data, resolve=True).items()
        if k not in SPLIT_ONLY_DATA_KEYS
    }
    trainer = {
        k: v
        for k, v in OmegaConf.to_container(cfg.trainer, resolve=True).items()
        if k not in DISPLAY_KEYS
    }
    return {
        "code_version": transfer_lab.__version__,
        "dataset": images.name,
        "image_shape": list(images.shape),
        "data": data,
        "classes": list(task.classes),
        "indices": index_digest(task),
        "backbone": OmegaConf.to_container(cfg.backbone, resolve=True),
        "beta": float(cfg.model.beta),
        "binary_heads": int(cfg.model.binary_heads),
        "schedule": OmegaConf.to_container(cfg.source, resolve=True),
        "seed": int(cfg.seed),
        "trainer": trainer,
    }


def datamodule_for(cfg: DictConfig, images: ImageSet, task: Task, stage: str) -> TaskDataModule:
    """The task's batches, served as the images' dataset says (transfer_lab.data.tasks)."""
    return data_tasks.datamodule_for(images, task, seed=derived_seed(cfg.seed, stage))


def run_source(
    cfg: DictConfig, images: ImageSet, task: Task, ctx: JobContext, description: str
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Fetch the source network from the cache, training it first if no job has yet."""

    def train() -> dict[str, Any]:
        log.info("%s · source: train on %s", ctx.banner, description)
        pl.seed_everything(derived_seed(cfg.seed, "source"), verbose=False)
        module = build_module(cfg, cfg.source, images, task, beta=float(cfg.model.beta))
        outcome = fit_and_test(
            module, datamodule_for(cfg, images, task, "source"), "source", cfg.source, cfg, ctx
        )
        Path(outcome.pop("checkpoint")).unlink(missing_ok=True)  # the cache keeps it instead
        outcome.pop("logger")
        state = {k: v.detach().cpu().clone() for k, v in module.backbone.state_dict().items()}
        return {"state_dict": state, "metrics": outcome}

    cache = SourceCache(cfg.paths.cache_dir)
    stored, key, trained = cache.fetch_or_train(source_definition(cfg, images, task), train)
    if not trained:
        log.info("%s · source: reusing cached network %s (%s)", ctx.banner, key[:12], description)
    summary = {
        "trained": trained,
        "cache_key": key,
        "checkpoint_sha256": stored["sha256"],
        **stored["metrics"],
    }
    return stored["state_dict"], summary


def describe(task: Task, letter: str) -> str:
    return f"{letter} ({len(task.classes)} classes, {len(task.train)} training images)"


def target_schedule(cfg: DictConfig, plan: Plan) -> DictConfig:
    """The target stage's schedule; networks without a source may have their own (target.scratch)."""
    scratch = cfg.target.get("scratch")
    if plan.source_task is None and scratch:
        return OmegaConf.merge(cfg.target, scratch)
    return cfg.target


def run_job(cfg: DictConfig, ctx: JobContext) -> dict[str, Any]:
    """Run one job end to end and return its results (also written to results.json)."""
    validate(cfg)
    started = time.time()
    job = data_tasks.build_job_data(cfg)  # the split step: both datasets, A, B, budgets
    images, split, task_a, task_b = job.source_images, job.split, job.task_a, job.task_b
    channels, height, _ = images.shape
    with torch.device("meta"):  # only the stage names: no memory, no initialisation
        stages = backbone_from_config(cfg.backbone, channels, height).stage_names
    plan = plan_from_config(cfg.transfer, stages)

    results: dict[str, Any] = {
        "status": "running",
        "experiment": ctx.experiment,
        "dataset": job.name,
        "split_seed": int(cfg.data.split_seed),
        "seed": int(cfg.seed),
        "treatment": plan.treatment,
        "label": plan.label,
        "family": plan.family,
        "depth": plan.depth,
        "stages": stages,
        "freeze": bool(plan.frozen),
        "lr_scale": float(cfg.transfer.lr_scale),
        "beta": float(cfg.model.beta),
        "binary_heads": int(cfg.model.binary_heads),
        "source_classes": list(split.source),
        "target_classes": list(split.target),
        "binary_partitions": task_a.binary.tolist(),
        "sizes": {
            "source_train": len(task_a.train),
            "source_val": len(task_a.val),
            "target_train": len(task_b.train),
            "target_val": len(task_b.val),
            "target_test": len(task_b.test),
        },
        "overrides": list(ctx.overrides),
        "config": OmegaConf.to_container(cfg, resolve=True),
        "source": {"trained": False},
    }

    source_state = None
    if plan.source_task is not None:
        source_task = task_a if plan.source_task == "A" else job.selffer_task()
        source_images = images if plan.source_task == "A" else job.target_images
        source_state, results["source"] = run_source(
            cfg, source_images, source_task, ctx, describe(source_task, plan.source_task)
        )

    log.info("%s · target: %s on %s", ctx.banner, plan.label, describe(task_b, "B"))
    pl.seed_everything(derived_seed(cfg.seed, "target"), verbose=False)
    target_cfg = target_schedule(cfg, plan)
    module = build_module(
        cfg, target_cfg, job.target_images, task_b, beta=0.0, plan=plan, source_state=source_state
    )
    outcome = fit_and_test(
        module,
        datamodule_for(cfg, job.target_images, task_b, "target"),
        "target",
        target_cfg,
        cfg,
        ctx,
    )
    checkpoint = outcome.pop("checkpoint")
    logger = outcome.pop("logger")
    results["target"] = {
        **outcome,
        "checkpoint_sha256": file_sha256(Path(checkpoint)) if checkpoint else None,
    }
    results["status"] = "ok"
    results["seconds"] = round(time.time() - started, 2)
    log_hparams(logger, results)
    write_json_atomically(ctx.job_dir / "results.json", results)
    log.info(
        "%s · target test accuracy %.4f (validation %.4f), %s",
        ctx.banner,
        results["target"]["test_acc"],
        results["target"]["val_acc"] if results["target"]["val_acc"] is not None else float("nan"),
        plan.label,
    )
    return results


def hparams_of(results: dict[str, Any]) -> dict[str, Any]:
    """The job's settings as TensorBoard hparams: the design values, then every other override.

    Settings that do not apply (β for scratch, say) are left out rather than given a dummy
    value, so each column keeps one type across the sweep.
    """
    params: dict[str, Any] = {
        k: results.get(k)
        for k in (
            "experiment",
            "dataset",
            "treatment",
            "label",
            "family",
            "depth",
            "freeze",
            "split_seed",
            "seed",
        )
    }
    if results["source"].get("cache_key"):
        params.update({k: results[k] for k in ("beta", "binary_heads", "lr_scale")})
    data = (results.get("config") or {}).get("data") or {}
    params["data.fraction"] = data.get("fraction")
    params["data.per_class"] = data.get("per_class")
    covered = {
        "model.beta",
        "model.binary_heads",
        "transfer.treatment",
        "transfer.depth",
        "transfer.freeze",
        "transfer.lr_scale",
        "data.split_seed",
        "seed",
        "experiment",
    }
    for text in results.get("overrides") or []:
        key, _, value = str(text).partition("=")
        key = key.lstrip("+~")
        if key in covered or key in params or key.startswith("hydra") or "enable_" in key:
            continue
        try:
            params[key] = float(value)
        except ValueError:
            params[key] = value
    return {k: v for k, v in params.items() if v is not None}


def log_hparams(logger: TensorBoardLogger, results: dict[str, Any]) -> None:
    """Swept values and final metrics for TensorBoard's HPARAMS tab.

    The job's target run gets a session (start with the hparams, end with its status) and the
    final metrics as hp/* scalars. No job writes an experiment summary of its own: TensorBoard
    then builds the HPARAMS table from every session under the log directory, so all jobs (and
    sweeps with different swept keys) show side by side instead of one job's columns winning.
    """
    source, target = results["source"], results["target"]
    metrics = {
        "hp/target_test_acc": target["test_acc"],
        "hp/target_test_loss": target["test_loss"],
        "hp/target_val_acc": target.get("val_acc"),
        "hp/source_val_acc": source.get("val_acc"),
        "hp/source_test_acc": source.get("test_acc"),
    }
    logger.log_metrics({k: v for k, v in metrics.items() if v is not None}, step=0)
    writer = logger.experiment._get_file_writer()  # as Lightning's own log_hyperparams does
    for summary in hparams_session(hparams_of(results)):
        writer.add_summary(summary)
    logger.finalize("success")


def hparams_session(params: dict[str, Any]) -> list[Any]:
    """SessionStartInfo and SessionEndInfo summaries of TensorBoard's hparams plugin.

    Built from the plugin's protos directly: tensorboard's own summary helpers need TensorFlow.
    """
    from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
    from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

    start = plugin_data_pb2.SessionStartInfo(start_time_secs=time.time())
    for name, value in params.items():
        if isinstance(value, bool):
            start.hparams[name].bool_value = value
        elif isinstance(value, int | float):
            start.hparams[name].number_value = float(value)
        else:
            start.hparams[name].string_value = str(value)
    end = plugin_data_pb2.SessionEndInfo(status=api_pb2.STATUS_SUCCESS, end_time_secs=time.time())
    summaries = []
    for tag, data in (
        (metadata.SESSION_START_INFO_TAG, {"session_start_info": start}),
        (metadata.SESSION_END_INFO_TAG, {"session_end_info": end}),
    ):
        content = plugin_data_pb2.HParamsPluginData(version=metadata.PLUGIN_DATA_VERSION, **data)
        plugin = SummaryMetadata.PluginData(
            plugin_name=metadata.PLUGIN_NAME, content=content.SerializeToString()
        )
        summaries.append(
            Summary(value=[Summary.Value(tag=tag, metadata=SummaryMetadata(plugin_data=plugin))])
        )
    return summaries


def write_failure(job_dir: Path, cfg: DictConfig, ctx: JobContext, reason: str) -> None:
    """A failed job still leaves a complete results.json that names the reason."""
    write_json_atomically(
        job_dir / "results.json",
        {
            "status": "failed",
            "reason": reason,
            "experiment": ctx.experiment,
            "overrides": list(ctx.overrides),
            "split_seed": cfg.data.get("split_seed"),
            "seed": cfg.get("seed"),
            "config": OmegaConf.to_container(cfg, resolve=False),
        },
    )
