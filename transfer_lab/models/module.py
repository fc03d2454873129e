"""The LightningModule: a backbone, its classifier, K binary heads and the β-weighted loss."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
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
        self.accuracy = nn.ModuleDict(
            {f"{split}_acc": MulticlassAccuracy(num_classes, average="micro") for split in SPLITS}
        )
        self.binary_accuracy = nn.ModuleDict(
            {
                f"{split}_acc": nn.ModuleList(
                    MulticlassAccuracy(2, average="micro") for _ in self.binary_heads
                )
                for split in SPLITS
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
        accuracy = self.accuracy[f"{split}_acc"]
        accuracy(logits, labels)
        # sync_dist: under DDP the epoch's loss is averaged over the ranks (a no-op on one device)
        for name, value in (("loss", loss), ("ce", ce)):
            self.log(
                f"{split}/{name}",
                value,
                on_step=False,
                on_epoch=True,
                batch_size=batch_size,
                sync_dist=True,
            )
        self.log(
            f"{split}/acc",
            accuracy,
            on_epoch=True,
            on_step=False,
            prog_bar=split == "val",
            batch_size=batch_size,
        )
        for k, head_logits in enumerate(binary_logits):
            metric = self.binary_accuracy[f"{split}_acc"][k]
            metric(head_logits, binary_labels[k])
            self.log(
                f"{split}/binary{k}_acc",
                metric,
                on_epoch=True,
                on_step=False,
                batch_size=batch_size,
            )
        return loss

    def training_step(self, batch, batch_idx):  # noqa: D102
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):  # noqa: D102
        self._step(batch, "val")

    def test_step(self, batch, batch_idx):  # noqa: D102
        self._step(batch, "test")

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
