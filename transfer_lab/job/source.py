"""The source phase: a source network from the content-addressed cache, trained first if no job
has yet (what determines it, i.e. what its key hashes, is in `store/keys.py`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig

from transfer_lab.data.images import ImageSet
from transfer_lab.data.loading import datamodule_for
from transfer_lab.data.splits import Task
from transfer_lab.job.context import JobContext
from transfer_lab.job.networks import build_module
from transfer_lab.store.cache import SourceCache
from transfer_lab.store.keys import source_definition
from transfer_lab.store.results import PhaseResults
from transfer_lab.test_epochs import epochs_to_test
from transfer_lab.train.fit import derived_seed, fit_and_test

log = logging.getLogger(__name__)


@dataclass
class Source:
    """A source network as the cache keeps it: backbone weights, classifier weights, results.

    `head` is None for sources cached before classifiers were kept (LEEP and NCE need it).
    """

    state: dict[str, torch.Tensor]
    head: dict[str, torch.Tensor] | None
    results: PhaseResults


def run_source(
    cfg: DictConfig, images: ImageSet, task: Task, ctx: JobContext, description: str
) -> Source:
    """The source network, trained now or reused from the cache."""

    def train() -> dict[str, Any]:
        log.info("%s · source: train on %s", ctx.banner, description)
        pl.seed_everything(derived_seed(cfg.seed, "source"), verbose=False)
        module = build_module(cfg, cfg.source, images, task, beta=float(cfg.model.beta))
        datamodule = datamodule_for(images, task, seed=derived_seed(cfg.seed, "source"))
        # No checkpoint file: the cache keeps the network instead. source.select says whether
        # the network kept is the best epoch's on validation or the last epoch's.
        fitted = fit_and_test(
            module,
            datamodule,
            "source",
            cfg.source,
            cfg,
            ctx.folders(),
            save_checkpoint=False,
            test_epochs=epochs_to_test(cfg, cfg.source, on_b=False),
        )
        metrics = fitted.results.metrics()
        state = {k: v.detach().cpu().clone() for k, v in module.backbone.state_dict().items()}
        head = {k: v.detach().cpu().clone() for k, v in module.classifier.state_dict().items()}
        return {"state_dict": state, "head": head, "metrics": metrics}

    cache = SourceCache(cfg.paths.cache_dir)
    stored, key, trained = cache.fetch_or_train(source_definition(cfg, images, task), train)
    if not trained:
        log.info("%s · source: reusing cached network %s (%s)", ctx.banner, key[:12], description)
    results = PhaseResults.from_json(stored["metrics"])
    results.trained, results.cache_key, results.checkpoint_sha256 = trained, key, stored["sha256"]
    return Source(stored["state_dict"], stored.get("head"), results)
