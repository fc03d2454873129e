"""The LightningModule: a backbone, its classifier, K binary heads and the β-weighted loss."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn

from transfer_lab.errors import UserError
from transfer_lab.models.backbone import Backbone
from transfer_lab.models.schedules import PhaseRates
from transfer_lab.train.selection import SELECTABLE

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[[torch.optim.Optimizer], Any]


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
        # Epoch metrics accumulate on the device as one row of batch-weighted sums per split
        # (`_record`) and are read once per epoch (`_log_epoch`): no host sync per step, and one
        # addition where torchmetrics' four to eight updates a step cost 0.6 ms, more than a
        # digits training step. NaN losses propagate into the means as they are.
        self._sums: dict[str, torch.Tensor] = {}
        # the validation metrics handed to `self.log`, for callbacks to read: every selectable
        # one, unless the phase names the few its callbacks watch (train/fit.py)
        self.watched = set(SELECTABLE)
        self.validated: dict[str, torch.Tensor] = {}  # the last validation's epoch means
        self.trained: dict[str, torch.Tensor] = {}  # the last training epoch's means
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
        self._record(split, logits, labels, binary_logits, binary_labels, loss, ce)
        return loss

    def metric_names(self) -> list[str]:
        """A split's epoch metrics, in the order `_record` sums them."""
        heads = [f"binary{k}_acc" for k in range(len(self.binary_heads))]
        return ["loss", "ce", "acc", "objective_acc", *heads, *(["binary_acc"] if heads else [])]

    @torch.no_grad()
    def _record(self, split, logits, labels, binary_logits, binary_labels, loss, ce) -> None:
        """Add this batch to the split's sums: its size, then each metric times its size.

        The objective accuracy is (1 − β)·accuracy + β·mean binary-head accuracy: CS6784's
        selection criterion. Their train.py `test` kept A's checkpoint with the lowest error
        weighted as the loss is (1 − β for the classifier, β/K per head; the heads only at
        β = 1). Averaged over batches by size, this is exactly the epoch's weighted accuracy.
        The mean binary-head accuracy counts every head's predictions: a selection metric that
        means something when β = 1 leaves the classifier untrained.
        """
        n = len(labels)
        hits = (logits.argmax(1) == labels).sum().float()
        parts = [loss.float() * n, ce.float() * n, hits]
        if binary_logits:
            head_hits = torch.stack(
                [(h.argmax(1) == binary_labels[k]).sum() for k, h in enumerate(binary_logits)]
            ).float()
            binary = head_hits.mean()
            parts += [(1 - self.beta) * hits + self.beta * binary, *head_hits, binary]
        else:
            parts.append(hits)
        row = torch.stack([torch.tensor(float(n), device=hits.device), *parts])
        if split in self._sums:
            self._sums[split] += row
        else:
            self._sums[split] = row

    def epoch_means(self, split: str) -> dict[str, torch.Tensor]:
        """The split's epoch means so far by name (`val/acc`, …), and a fresh start for its
        sums; empty when it had no batch. Training batches are this rank's share under DDP,
        so their sums are added up across ranks first."""
        sums = self._sums.pop(split, None)
        if sums is None:
            return {}
        if split == "train" and self.trainer.world_size > 1:
            sums = self.trainer.strategy.reduce(sums, reduce_op="sum")
        means = sums[1:] / sums[0]
        return {
            f"{split}/{name}": value
            for name, value in zip(self.metric_names(), means.unbind(), strict=True)
        }

    def _log_epoch(self, split: str) -> None:
        """Log a split's epoch means (weighted by batch size) and accuracies, then reset them.

        Only what callbacks and `trainer.test` read goes through `self.log` (the validation
        metrics in `watched`, which a stage selects or stops on; the test metrics): each
        `self.log` call costs Lightning milliseconds, more than a whole training step on the
        offline studies. The rest is read from the device in one transfer and handed to the
        loggers directly, at the step Lightning would use.
        """
        values = self.epoch_means(split)
        if not values:  # no batch this epoch
            return
        if split == "test":
            for name, value in values.items():
                self.log(name, value)
            return
        if split == "val":
            self.validated = values
        if split == "train":
            self.trained = values  # for the epoch history (train/callbacks.EpochHistory)
        logged = self.watched & set(values) if split == "val" else set()
        for name in logged:  # what early stopping, a configured checkpoint and the bar read
            self.log(name, values[name], prog_bar=name == "val/acc")
        rest = [name for name in values if name not in logged]
        if not (self.beta and len(self.binary_heads)):  # ce is the loss, objective_acc the acc
            rest = [name for name in rest if not name.endswith(("/ce", "/objective_acc"))]
        if self.loggers and rest:
            plain = dict(zip(values, torch.stack(list(values.values())).tolist(), strict=True))
            for logger in self.loggers:
                logger.log_metrics({name: plain[name] for name in rest}, step=self.global_step)

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
