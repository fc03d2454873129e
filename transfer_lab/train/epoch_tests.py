"""Tests at chosen epochs during training, kept apart from selection, for the papers' statistics.

The studies we reproduce do not report what we report. CS6784 plots B's test error at the last
epoch, Yosinski et al. the mean of each network's 10 best test evaluations; ours is one test of
the checkpoint selected on validation. To show a reproduction beside the published numbers in
their own statistic, a phase also tests its network at the epochs that statistic needs.

Such a test runs when the epoch is over, in the same eval-mode pass as that epoch's validation
(train/validation.py), and writes only to this callback's own record: nothing goes through
`self.log` or the trainer's metrics, so no selection, early stop or progress bar can read it.
It runs in eval mode under no_grad and draws no random numbers the training reads (every epoch
reseeds its own), so the trained and selected network are the same with or without it. Which
epochs are tested is transfer_lab/test_epochs.py's answer (torch-free: the source key reads it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F


@torch.no_grad()
def measure(module: pl.LightningModule, batches: Iterable) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of the module's classifier over every batch, as the
    module is (the caller puts it in eval mode and its precision's context).

    Counts accumulate on the device and are read once at the end.
    """
    device = module.device
    correct = torch.zeros((), dtype=torch.long, device=device)
    loss = torch.zeros((), dtype=torch.float64, device=device)
    seen = 0
    for images, labels in batches:
        images = images.to(device, non_blocking=True)
        labels = labels.to(device, non_blocking=True)
        logits = module(images).float()
        loss += F.cross_entropy(logits, labels, reduction="sum").double()
        correct += (logits.argmax(1) == labels).sum()
        seen += len(labels)
    if not seen:
        return float("nan"), float("nan")
    return correct.item() / seen, loss.item() / seen


class EpochTests(pl.Callback):
    """The record of the network's tests on the whole test set at the end of each listed
    epoch (1-based), which the epoch's validation pass runs (train/validation.py).

    `history` is {"epoch": [...], "acc": [...], "loss": [...]}. Under DDP only rank 0 tests,
    on every test image; its record reaches the job through the last checkpoint, as selection's
    does. It is kept in that checkpoint, so a resumed phase goes on with its tests so far.
    """

    def __init__(self, epochs: Sequence[int] = ()) -> None:
        self.epochs = {int(e) for e in epochs}
        self.history: dict[str, list] = {"epoch": [], "acc": [], "loss": []}

    def due(self, trainer: pl.Trainer) -> bool:
        """Whether the epoch now ending is one to test (on this rank, not tested yet)."""
        epoch = trainer.current_epoch + 1
        return (
            trainer.global_rank == 0 and epoch in self.epochs and epoch not in self.history["epoch"]
        )

    def test(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Test the network as it is (in eval mode, its precision's context) and record it."""
        acc, loss = measure(pl_module, trainer.datamodule.whole_batches("test"))
        self.history["epoch"].append(trainer.current_epoch + 1)
        self.history["acc"].append(acc)
        self.history["loss"].append(loss)

    def state_dict(self) -> dict[str, Any]:  # noqa: D102
        return {"history": {k: list(v) for k, v in self.history.items()}}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        found = state_dict.get("history") or {}
        self.history = {k: list(found.get(k, [])) for k in ("epoch", "acc", "loss")}
