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

from transfer_lab.errors import UserError
from transfer_lab.models.backbone import Backbone
from transfer_lab.models.schedules import PhaseRates
from transfer_lab.train.selection import SELECTABLE

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
        bias_lr_mult: float = 1.0,
        bias_decay_mult: float = 1.0,
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
        self.bias_lr_mult = float(bias_lr_mult)
        self.bias_decay_mult = float(bias_decay_mult)
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
        # one accuracy over every head's predictions: the mean binary-head accuracy, a
        # selection metric that means something when β = 1 leaves the classifier untrained
        self.mean_binary_accuracy = nn.ModuleDict(
            {f"{split}_acc": MulticlassAccuracy(2, average="micro") for split in SPLITS}
        )
        self.mean_loss = nn.ModuleDict(
            {
                f"{split}_{name}": MeanMetric(nan_strategy="disable")
                for split in SPLITS
                for name in ("loss", "ce", "objective_acc")
            }
        )
        # the validation metrics handed to `self.log`, for callbacks to read: every selectable
        # one, unless the phase names the few its callbacks watch (train/fit.py)
        self.watched = set(SELECTABLE)
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
        if binary_logits:
            self.mean_binary_accuracy[f"{split}_acc"].update(
                torch.cat(binary_logits).detach(), binary_labels.reshape(-1)
            )
        objective = self._objective_accuracy(logits, labels, binary_logits, binary_labels)
        self.mean_loss[f"{split}_objective_acc"].update(objective.detach(), batch_size)
        return loss

    def _objective_accuracy(self, logits, labels, binary_logits, binary_labels) -> torch.Tensor:
        """(1 − β)·accuracy + β·mean binary-head accuracy: CS6784's selection criterion.

        Their train.py `test` kept A's checkpoint with the lowest error weighted as the loss is
        (1 − β for the classifier, β/K per head; the heads only at β = 1). Averaged over batches
        by size, this is exactly the epoch's weighted accuracy.
        """
        accuracy = (logits.argmax(1) == labels).float().mean()
        if not binary_logits:
            return accuracy
        hits = torch.cat(binary_logits).argmax(1) == binary_labels.reshape(-1)
        return (1 - self.beta) * accuracy + self.beta * hits.float().mean()

    def _log_epoch(self, split: str) -> None:
        """Log a split's epoch means (weighted by batch size) and accuracies, then reset them.

        Only what callbacks and `trainer.test` read goes through `self.log` (the validation
        metrics in `watched`, which a stage selects or stops on; the test metrics): each
        `self.log` call costs Lightning milliseconds, more than a whole training step on the
        offline studies. The rest
        is read from the device in one transfer and handed to the loggers directly, at the step
        Lightning would use.
        """
        metrics = {
            f"{split}/loss": self.mean_loss[f"{split}_loss"],
            f"{split}/ce": self.mean_loss[f"{split}_ce"],
            f"{split}/acc": self.accuracy[f"{split}_acc"],
            f"{split}/objective_acc": self.mean_loss[f"{split}_objective_acc"],
        }
        for k, metric in enumerate(self.binary_accuracy[f"{split}_acc"]):
            metrics[f"{split}/binary{k}_acc"] = metric
        if len(self.binary_heads):
            metrics[f"{split}/binary_acc"] = self.mean_binary_accuracy[f"{split}_acc"]
        values = {name: metric.compute() for name, metric in metrics.items()}
        for metric in metrics.values():
            metric.reset()
        if split == "test":
            for name, value in values.items():
                self.log(name, value)
            return
        logged = self.watched & set(values) if split == "val" else set()
        for name in logged:  # what selection, early stopping and the progress bar read
            self.log(name, values[name], prog_bar=name == "val/acc")
        rest = {name: value for name, value in values.items() if name not in logged}
        if self.loggers and rest:
            plain = dict(zip(rest, torch.stack(list(rest.values())).tolist(), strict=True))
            for logger in self.loggers:
                logger.log_metrics(plain, step=self.global_step)

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val")

    def test_step(self, batch, batch_idx):
        self._step(batch, "test")

    def on_train_epoch_end(self):
        self._log_epoch("train")

    def on_validation_epoch_end(self):
        self._log_epoch("val")

    def on_test_epoch_end(self):
        self._log_epoch("test")

    def parameter_groups(self) -> list[dict[str, Any]]:
        """Trainable parameters split into new layers and copied stages (frozen ones left out).

        With a bias multiplier other than 1 (Caffe's convention: biases at twice the rate and
        without weight decay), each role's biases get a group of their own, "new.bias" and
        "copied.bias", that a schedule treats as its role with ``lr_mult`` applied.
        """
        copied = {id(p) for name in self.copied for p in self.backbone.stages[name].parameters()}
        split_biases = (self.bias_lr_mult, self.bias_decay_mult) != (1.0, 1.0)
        groups: dict[str, dict[str, Any]] = {}
        for name, param in self.named_parameters():
            if not param.requires_grad:
                continue
            role = "copied" if id(param) in copied else "new"
            if split_biases and name.endswith("bias"):
                key = f"{role}.bias"
                extra = {"lr_mult": self.bias_lr_mult, "decay_mult": self.bias_decay_mult}
            else:
                key, extra = role, {}
            group = groups.setdefault(key, {"name": key, "role": role, "params": [], **extra})
            group["params"].append(param)
        order = ("new", "copied", "new.bias", "copied.bias")
        return [groups[key] for key in order if key in groups]

    def configure_optimizers(self):
        optimizer = self.optimizer_factory(self.parameter_groups())
        for group in optimizer.param_groups:
            if group["role"] == "copied":
                group["lr"] *= self.lr_scale
            group["lr"] *= group.get("lr_mult", 1.0)
            if "decay_mult" in group:
                group["weight_decay"] *= group["decay_mult"]
            group["initial_lr"] = group["lr"]
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer)
        if isinstance(scheduler, PhaseRates) and self.lr_scale != 1.0 and self.copied:
            raise UserError(
                f"transfer.lr_scale={self.lr_scale} has no effect under a phases schedule, which "
                "sets the copied stages' rate itself; set it in the phases or leave lr_scale at 1."
            )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"},
        }
