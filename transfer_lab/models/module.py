"""The LightningModule: a backbone, its classifier, K binary heads and the β-weighted loss."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from transfer_lab.models.backbone import Backbone

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[[torch.optim.Optimizer], Any]
SPLITS = ("train", "val", "test")


def beta_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    binary_logits: Sequence[torch.Tensor],
    binary_labels: torch.Tensor,
    beta: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(1 − β)·CE(y) + β·Σ_k CE(y_b^k)/K; returns (total, class CE)."""
    ce = F.cross_entropy(logits, labels)
    if beta == 0 or not binary_logits:
        return ce, ce
    binary = sum(
        F.cross_entropy(head, binary_labels[k]) for k, head in enumerate(binary_logits)
    ) / len(binary_logits)
    return (1 - beta) * ce + beta * binary, ce


class TransferModule(pl.LightningModule):
    """Classifies one task; stages named in `frozen` get no gradient and keep BN statistics."""

    def __init__(
        self,
        backbone: Backbone,
        num_classes: int,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        beta: float = 0.0,
        binary_partitions: np.ndarray | None = None,
        copied: Sequence[str] = (),
        frozen: Sequence[str] = (),
        lr_scale: float = 1.0,
        freeze_bn_stats: bool = True,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.classifier = nn.Linear(backbone.feature_dim, num_classes)
        partitions = np.zeros((0, num_classes)) if binary_partitions is None else binary_partitions
        self.binary_heads = nn.ModuleList(
            nn.Linear(backbone.feature_dim, 2) for _ in range(len(partitions))
        )
        for head in (self.classifier, *self.binary_heads):
            backbone.init_head(head)  # the backbone's paper decides (e.g. Caffe's fc8)
        self.register_buffer(
            "binary_partitions", torch.as_tensor(partitions, dtype=torch.long), persistent=False
        )
        self.beta = float(beta)
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.copied = tuple(copied)
        self.frozen = tuple(frozen)
        self.lr_scale = float(lr_scale)
        self.freeze_bn_stats = freeze_bn_stats
        for name in self.frozen:
            self.backbone.stages[name].requires_grad_(False)
        # Epoch metrics accumulate on the device and are read once per epoch (`_log_epoch`):
        # no host sync and no self.log call per step. Inputs are not validated per step
        # (validate_args=False), and NaN losses propagate into the mean as they are.
        self.accuracy = nn.ModuleDict(
            {
                f"{split}_acc": MulticlassAccuracy(
                    num_classes, average="micro", validate_args=False
                )
                for split in SPLITS
            }
        )
        self.binary_accuracy = nn.ModuleDict(
            {
                f"{split}_acc": nn.ModuleList(
                    MulticlassAccuracy(2, average="micro", validate_args=False)
                    for _ in self.binary_heads
                )
                for split in SPLITS
            }
        )
        self.mean_loss = nn.ModuleDict(
            {
                f"{split}_{name}": MeanMetric(nan_strategy="disable")
                for split in SPLITS
                for name in ("loss", "ce")
            }
        )
        self.train()  # Lightning keeps each submodule's mode, so frozen BN must start in eval

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.backbone(images))

    def train(self, mode: bool = True) -> TransferModule:
        """Training mode everywhere except BatchNorm inside frozen stages, when asked."""
        super().train(mode)
        if mode and self.freeze_bn_stats:
            for name in self.frozen:
                for module in self.backbone.stages[name].modules():
                    if isinstance(module, nn.modules.batchnorm._BatchNorm):
                        module.eval()
        return self

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], split: str) -> torch.Tensor:
        images, labels = batch
        features = self.backbone(images)
        logits = self.classifier(features)
        binary_logits = [head(features) for head in self.binary_heads]
        binary_labels = self.binary_partitions[:, labels]
        loss, ce = beta_loss(logits, labels, binary_logits, binary_labels, self.beta)
        batch_size = len(labels)
        self.accuracy[f"{split}_acc"].update(logits.detach(), labels)
        self.mean_loss[f"{split}_loss"].update(loss.detach(), batch_size)
        self.mean_loss[f"{split}_ce"].update(ce.detach(), batch_size)
        for k, head_logits in enumerate(binary_logits):
            self.binary_accuracy[f"{split}_acc"][k].update(head_logits.detach(), binary_labels[k])
        return loss

    def _log_epoch(self, split: str) -> None:
        """Log a split's epoch means (weighted by batch size) and accuracies, then reset them.

        Only what callbacks and `trainer.test` read goes through `self.log` (val/acc for
        selection, early stopping and the progress bar; the test metrics): each `self.log` call
        costs Lightning milliseconds, more than a whole training step on the offline studies.
        The rest is read from the device in one transfer and handed to the loggers directly,
        at the step Lightning would use.
        """
        metrics = {
            f"{split}/loss": self.mean_loss[f"{split}_loss"],
            f"{split}/ce": self.mean_loss[f"{split}_ce"],
            f"{split}/acc": self.accuracy[f"{split}_acc"],
        }
        for k, metric in enumerate(self.binary_accuracy[f"{split}_acc"]):
            metrics[f"{split}/binary{k}_acc"] = metric
        values = {name: metric.compute() for name, metric in metrics.items()}
        for metric in metrics.values():
            metric.reset()
        read_by_callbacks = set(values) if split == "test" else {"val/acc"} & set(values)
        for name in read_by_callbacks:
            self.log(name, values[name], prog_bar=name == "val/acc")
        if self.loggers and split != "test":
            plain = dict(zip(values, torch.stack(list(values.values())).tolist(), strict=True))
            for logger in self.loggers:
                logger.log_metrics(plain, step=self.global_step)

    def training_step(self, batch, batch_idx):  # noqa: D102
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):  # noqa: D102
        self._step(batch, "val")

    def test_step(self, batch, batch_idx):  # noqa: D102
        self._step(batch, "test")

    def on_train_epoch_end(self):  # noqa: D102
        self._log_epoch("train")

    def on_validation_epoch_end(self):  # noqa: D102
        self._log_epoch("val")

    def on_test_epoch_end(self):  # noqa: D102
        self._log_epoch("test")

    def parameter_groups(self) -> list[dict[str, Any]]:
        """Trainable parameters split into new layers and copied stages (frozen ones left out)."""
        copied = {id(p) for name in self.copied for p in self.backbone.stages[name].parameters()}
        trainable = [p for p in self.parameters() if p.requires_grad]
        groups = [
            {"name": "new", "params": [p for p in trainable if id(p) not in copied]},
            {"name": "copied", "params": [p for p in trainable if id(p) in copied]},
        ]
        return [g for g in groups if g["params"]]

    def configure_optimizers(self):  # noqa: D102
        groups = self.parameter_groups()
        optimizer = self.optimizer_factory(groups)
        for group in optimizer.param_groups:
            if group["name"] == "copied":
                group["lr"] *= self.lr_scale
                group["initial_lr"] = group["lr"]
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"},
        }
