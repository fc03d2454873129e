"""The yardstick: a plain PyTorch training loop with what every study needs and nothing else.

It trains the same network with the same optimiser, batches (reshuffled per epoch) and precision
as transfer_lab, keeps the weights of the best validation epoch (strictly better accuracy, as the
job's selection), and tests them once. Where the study's statistic needs tests during training
(Yosinski's mean of the 10 best per-epoch tests), it tests at those epochs too, as the job does.
The timing hooks record each training step and each epoch's start.
"""

from __future__ import annotations

import copy
import time
from contextlib import nullcontext
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F


@dataclass
class PlainRun:
    val_acc: float
    test_acc: float
    test_loss: float
    best_state: dict[str, torch.Tensor]
    test_history: list[float] = field(default_factory=list)
    step_seconds: list[float] = field(default_factory=list)
    epoch_starts: list[float] = field(default_factory=list)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def set_epoch(batches, epoch: int) -> None:
    """Draw this epoch's order (and augmentation), as Lightning does: it calls `set_epoch` on a
    loader's sampler before every epoch; without it every epoch repeats the first's order."""
    for sampler in (getattr(batches, "sampler", None), getattr(batches, "batch_sampler", None)):
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)


def evaluate(model, batches, autocast) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) over batches, summed on the device, read once."""
    model.eval()
    correct, loss, count = 0, 0.0, 0
    with torch.inference_mode(), autocast():
        for images, labels in batches:
            logits = model(images)
            correct = correct + (logits.argmax(1) == labels).sum()
            loss = loss + F.cross_entropy(logits.float(), labels, reduction="sum")
            count += len(labels)
    return float(correct) / count, float(loss) / count


def train(
    model, optimizer, train_batches, val_batches, test_batches, epochs, device, bf16, test_epochs=()
):
    """Train `epochs` epochs, select by validation accuracy, test the selected weights once;
    test the network as it is after each of `test_epochs` (1-based) too."""
    model.to(device)
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if bf16 else nullcontext
    best_acc, best_state = -1.0, None
    steps, starts, tested = [], [], []
    for epoch in range(epochs):
        _sync(device)
        starts.append(time.perf_counter())
        set_epoch(train_batches, epoch)
        model.train()
        for images, labels in train_batches:
            _sync(device)
            started = time.perf_counter()
            with autocast():
                loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            _sync(device)
            steps.append(time.perf_counter() - started)
        val_acc, _ = evaluate(model, val_batches, autocast)
        if val_acc > best_acc:
            best_acc = val_acc
            best_state = copy.deepcopy(model.state_dict())
        if epoch + 1 in test_epochs:
            tested.append(evaluate(model, test_batches, autocast)[0])
    _sync(device)
    starts.append(time.perf_counter())
    model.load_state_dict(best_state)
    test_acc, test_loss = evaluate(model, test_batches, autocast)
    return PlainRun(best_acc, test_acc, test_loss, best_state, tested, steps, starts)
