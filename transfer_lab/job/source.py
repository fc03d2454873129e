"""The source phase: a source network from the content-addressed cache, trained first if no job
has yet (what determines it, i.e. what its key hashes, is in `store/keys.py`), or pretrained
weights (`source.pretrained`, `source.weights`: models/pretrained.py), kept in the cache under
their hash so that the measures beside it are found again."""

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
from transfer_lab.errors import UserError
from transfer_lab.job.context import JobContext
from transfer_lab.job.networks import build_module
from transfer_lab.models.pretrained import expected_input, load_pretrained, pretrained_kind
from transfer_lab.store.cache import SourceCache
from transfer_lab.store.keys import pretrained_definition, source_definition
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
            test_epochs=epochs_to_test(cfg.get("paper"), cfg.source, on_b=False),
        )
        metrics = fitted.results.metrics()
        state = {k: v.detach().cpu().clone() for k, v in module.backbone.state_dict().items()}
        head = {k: v.detach().cpu().clone() for k, v in module.classifier.state_dict().items()}
        return {"state_dict": state, "head": head, "metrics": metrics}

    if pretrained_kind(cfg.source) is not None:
        return pretrained_source(cfg, images, ctx)
    if len(task.classes) == 0:  # data.source_classes=0: every class is B's
        raise UserError(
            "data.source_classes=0 leaves A no classes to train a source on; give the source's "
            "weights (source.weights=PATH, or source.pretrained=torchvision|timm) or classes to A."
        )
    cache = SourceCache(cfg.paths.cache_dir)
    stored, key, trained = cache.fetch_or_train(source_definition(cfg, images, task), train)
    if not trained:
        log.info("%s · source: reusing cached network %s (%s)", ctx.banner, key[:12], description)
    results = PhaseResults.from_json(stored["metrics"])
    results.trained, results.cache_key, results.checkpoint_sha256 = trained, key, stored["sha256"]
    return Source(stored["state_dict"], stored.get("head"), results)


def source_definition_for(cfg: DictConfig, images: ImageSet, task: Task) -> dict[str, Any]:
    """The cache definition of the job's source: trained on A, or pretrained (by its hash)."""
    if pretrained_kind(cfg.source) is None:
        return source_definition(cfg, images, task)
    channels, size, _ = images.shape
    return pretrained_definition(cfg, images, load_pretrained(cfg, channels, size).state)


def pretrained_source(cfg: DictConfig, images: ImageSet, ctx: JobContext) -> Source:
    """The pretrained source: the task its weights learnt is A; nothing is trained."""
    channels, size, _ = images.shape
    weights = load_pretrained(cfg, channels, size)
    warn_if_served_otherwise(cfg, images)

    def keep() -> dict[str, Any]:
        log.info("%s · source: pretrained weights, %s", ctx.banner, weights.origin)
        return {
            "state_dict": weights.state,
            "head": weights.head,
            "metrics": PhaseResults(origin=weights.origin).metrics(),
        }

    cache = SourceCache(cfg.paths.cache_dir)
    definition = pretrained_definition(cfg, images, weights.state)
    stored, key, kept = cache.fetch_or_train(definition, keep)
    results = PhaseResults.from_json(stored["metrics"])
    results.trained, results.cache_key, results.checkpoint_sha256 = False, key, stored["sha256"]
    results.origin = weights.origin
    return Source(stored["state_dict"], stored.get("head"), results)


def warn_if_served_otherwise(cfg: DictConfig, images: ImageSet) -> None:
    """Say so when the images are not the size or normalisation the weights were trained on."""
    expected = expected_input(cfg)
    settings = getattr(images, "settings", None)
    if expected is None or settings is None:
        return
    rounded = [round(float(v), 3) for v in (settings.mean or [])]
    size = images.shape[1]
    if size != expected["image_size"] or rounded != [round(v, 3) for v in expected["mean"]]:
        log.warning(
            "the pretrained weights were trained on %d×%d images normalised with mean %s and "
            "std %s, but these are %d×%d with mean %s; to serve them as trained, set "
            "data.image_size=%d data.mean=%s data.std=%s",
            expected["image_size"],
            expected["image_size"],
            expected["mean"],
            expected["std"],
            size,
            size,
            rounded or "their own",
            expected["image_size"],
            expected["mean"],
            expected["std"],
        )
