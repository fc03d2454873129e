"""The target phase: a network for B built as the plan says, trained, selected and tested once.

baseB's network is also a source: Yosinski's BnB copies its first n layers from baseB itself
(the network the baseB arm trains, on the same data with the same schedule). So baseB is trained
through the source cache, under a key both the baseB job and every BnB job compute; whichever
job comes first trains it, and the others reuse it.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import Logger

from transfer_lab.data.loading import datamodule_for
from transfer_lab.data.tasks import JobData
from transfer_lab.job.context import JobContext
from transfer_lab.job.networks import build_module, target_schedule
from transfer_lab.models.classifier import TransferModule
from transfer_lab.store.cache import SourceCache
from transfer_lab.store.keys import source_definition
from transfer_lab.store.results import PhaseResults
from transfer_lab.test_epochs import epochs_to_test
from transfer_lab.train.fit import Fitted, derived_seed, fit_and_test
from transfer_lab.transfer import arms
from transfer_lab.transfer.treatments import Plan, plan_treatment

log = logging.getLogger(__name__)

BASEB = plan_treatment(arms.SCRATCH, 0, False, [])
# How B's batches are served; the evaluation batch size and workers change nothing trained.
SERVING_KEYS = ("augment", "mean", "std", "batch_size")


def train_on_b(
    cfg: DictConfig,
    job: JobData,
    plan: Plan,
    ctx: JobContext,
    phase: str = "target",
    source_state: dict[str, torch.Tensor] | None = None,
    save_checkpoint: bool = True,
    keep_last: bool = False,
) -> tuple[TransferModule, Fitted]:
    """Build B's network as `plan` says, train it on B's budget, select by validation, test.

    `phase` names the run's logs and checkpoint ("source" when baseB is trained as BnB's source).
    Data order always follows the target stream; a network cut from baseB (BnB) draws its fresh
    layers from its own stream. `keep_last` also returns the last epoch's weights.
    """
    stream = arms.SELFFER if plan.source_task == "B" else "target"
    pl.seed_everything(derived_seed(cfg.seed, stream), verbose=False)
    schedule = target_schedule(cfg.target, plan)
    module = build_module(
        cfg, schedule, job.target_images, job.task_b, beta=0.0, plan=plan, source_state=source_state
    )
    datamodule = datamodule_for(
        job.target_images, job.task_b, seed=derived_seed(cfg.seed, "target")
    )
    return module, fit_and_test(
        module,
        datamodule,
        phase,
        schedule,
        cfg,
        ctx.folders(),
        save_checkpoint=save_checkpoint,
        test_epochs=epochs_to_test(cfg.get("paper"), schedule, on_b=True),
        keep_last=keep_last,
    )


def baseb_definition(cfg: DictConfig, job: JobData) -> dict[str, Any]:
    """Everything that determines baseB's network: its key in the source cache.

    Scratch on B with the target schedule (target.scratch applied): no β, no binary heads, B's
    exact images (budget and validation) and how they are served. Transfer settings are left out:
    they change nothing in a network with no copied stages. `source.select` is in: it says
    which of baseB's weights the cache keeps for BnB (the best epoch's or the last).
    """
    definition = source_definition(cfg, job.target_images, job.task_b)
    settings = dataclasses.asdict(job.target_images.settings)
    schedule = target_schedule(cfg.target, BASEB)
    definition.update(
        network=arms.BASE_B,
        beta=0.0,
        binary_heads=0,
        schedule=OmegaConf.to_container(schedule, resolve=True),
        test_epochs=epochs_to_test(cfg.get("paper"), schedule, on_b=True),
        serving={k: settings[k] for k in SERVING_KEYS},
        kept=source_select(cfg.source),
    )
    return definition


def source_select(source_cfg: DictConfig) -> str:
    """Which weights a source network keeps: best (on validation) or last (the final epoch)."""
    return str(source_cfg.get("select") or "best")


def baseb_network(
    cfg: DictConfig, job: JobData, ctx: JobContext, phase: str
) -> tuple[dict[str, torch.Tensor], PhaseResults, list[Logger]]:
    """(backbone weights, results, loggers) of baseB's network, trained now or reused.

    The baseB job asks with phase "target" and keeps its selected checkpoint; a BnB job asks with
    phase "source" (its logs and checkpoint are then the source's, and the cache keeps the
    network). Loggers are empty when the network was reused. The weights are the ones
    `source.select` names (Yosinski's BnB copies baseB's final snapshot); the results are
    always baseB's own, its best-validation checkpoint tested, and a BnB job's `select` says
    which weights it copied.
    """
    fitted: list[Fitted] = []
    kept = source_select(cfg.source)

    def train() -> dict[str, Any]:
        log.info("%s · %s: train baseB on B (%d images)", ctx.banner, phase, len(job.task_b.train))
        # as BnB's source, no checkpoint file: the cache keeps the network instead
        module, done = train_on_b(
            cfg,
            job,
            BASEB,
            ctx,
            phase=phase,
            save_checkpoint=phase == "target",
            keep_last=kept == "last",
        )
        fitted.append(done)
        metrics = done.results.metrics()
        if kept == "last":
            prefix = "backbone."
            state = {
                k[len(prefix) :]: v for k, v in done.last_state.items() if k.startswith(prefix)
            }
        else:
            state = {k: v.detach().cpu().clone() for k, v in module.backbone.state_dict().items()}
        return {"state_dict": state, "metrics": metrics}

    cache = SourceCache(cfg.paths.cache_dir)
    stored, key, trained = cache.fetch_or_train(baseb_definition(cfg, job), train)
    if trained and phase == "target":
        results = fitted[0].results  # the job's own checkpoint hash, as for any target
    else:
        results = PhaseResults.from_json(stored["metrics"])
        results.checkpoint_sha256 = stored["sha256"]  # the cached network's file
    if not trained:
        log.info("%s · %s: reusing baseB's network %s", ctx.banner, phase, key[:12])
    results.trained, results.cache_key = trained, key
    if phase == "source":
        results.select = kept
    return stored["state_dict"], results, fitted[0].loggers if fitted else []
