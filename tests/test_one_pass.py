"""The one-pass evaluation (train/validation.py) and the module's batch-weighted sums: the same
numbers Lightning's loops and torchmetrics gave, for a fraction of the cost."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from tests.test_model import IMAGES, module
from transfer_lab.data.datamodule import TaskDataModule
from transfer_lab.train.epoch_tests import EpochTests
from transfer_lab.train.validation import OnePassValidation, batches_to_run, final_test


@pytest.mark.parametrize(
    "total,limit,runs",
    [(10, None, 10), (10, 3, 3), (10, 30, 10), (10, 0.25, 2), (10, 1.0, 10), (3, 0.1, 1)],
)
def test_the_validation_limit_counts_batches_as_lightning_does(total, limit, runs):
    assert batches_to_run(total, limit) == runs


def quiet_trainer(**settings) -> pl.Trainer:
    return pl.Trainer(
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        **settings,
    )


@pytest.mark.parametrize("beta,heads", [(0.0, 0), (0.4, 2)])
def test_epoch_means_are_what_torchmetrics_computes_over_batches_of_any_size(beta, heads):
    model, t = module(beta=beta, heads=heads)
    model.eval()
    accuracy, loss = MulticlassAccuracy(len(t.classes), average="micro"), MeanMetric()
    heads_acc = [MulticlassAccuracy(2, average="micro") for _ in range(heads)]
    torch.manual_seed(1)
    with torch.no_grad():
        for size in (7, 16, 3):  # unequal batches: the means weigh images, not batches
            images = torch.randn(size, 1, 8, 8)
            labels = torch.randint(0, len(t.classes), (size,))
            total = model._step((images, labels), "val")
            features = model.backbone(images)
            accuracy.update(model.classifier(features), labels)
            loss.update(total, size)
            for k, head in enumerate(model.binary_heads):
                heads_acc[k].update(head(features), model.binary_partitions[k, labels])
    means = model.epoch_means("val")
    assert means["val/acc"].item() == pytest.approx(accuracy.compute().item(), abs=1e-6)
    assert means["val/loss"].item() == pytest.approx(loss.compute().item(), abs=1e-6)
    for k, metric in enumerate(heads_acc):
        assert means[f"val/binary{k}_acc"].item() == pytest.approx(metric.compute().item())
    if heads:
        mean_binary = sum(m.compute().item() for m in heads_acc) / heads
        assert means["val/binary_acc"].item() == pytest.approx(mean_binary, abs=1e-6)
        objective = (1 - beta) * means["val/acc"] + beta * means["val/binary_acc"]
        assert means["val/objective_acc"].item() == pytest.approx(objective.item(), abs=1e-6)
    assert model.epoch_means("val") == {}  # read once: the next epoch starts afresh


def test_one_pass_validation_gives_what_lightnings_validation_loop_gives():
    model, t = module(beta=0.4, heads=2)
    data = TaskDataModule(IMAGES, t, batch_size=16, eval_batch_size=5)
    tests = EpochTests([1])
    validation = OnePassValidation(None, tests)
    trainer = quiet_trainer(max_epochs=1, limit_val_batches=0, callbacks=[validation])
    before = model.classifier.weight.detach().clone()
    trainer.fit(model, datamodule=data)
    assert not torch.equal(before, model.classifier.weight)  # it trained, then validated
    # Lightning's own loop on the same (trained) weights, in batches of 5 as well
    (lightning,) = quiet_trainer().validate(model, data, verbose=False)
    ours = {name: value.item() for name, value in model.validated.items()}
    assert {"val/acc", "val/loss", "val/binary_acc", "val/objective_acc"} <= set(lightning)
    for name, value in lightning.items():
        assert ours[name] == pytest.approx(value, abs=1e-6), name
    assert tests.history["epoch"] == [1] and model.training  # tested, and back in training mode


def test_the_test_once_is_lightnings_test_without_its_loop():
    model, t = module(beta=0.0, heads=0)
    data = TaskDataModule(IMAGES, t, batch_size=16, eval_batch_size=7)
    (lightning,) = quiet_trainer().test(model, data, verbose=False)
    trainer = quiet_trainer()
    data.trainer = trainer
    ours = final_test(trainer, model, data)
    assert set(ours) >= {"test/acc", "test/loss"}
    for name in ("test/acc", "test/loss"):
        assert ours[name] == pytest.approx(lightning[name], abs=1e-6)
    x, y = data._tensors("test")
    with torch.no_grad():
        model.eval()
        logits = model(data.normalize(x.clone()))
    assert ours["test/acc"] == pytest.approx((logits.argmax(1) == y).float().mean().item())
    assert ours["test/loss"] == pytest.approx(F.cross_entropy(logits, y).item(), abs=1e-5)
    (first,) = quiet_trainer(limit_test_batches=1).test(model, data, verbose=False)
    assert final_test(trainer, model, data, limit=1)["test/acc"] == pytest.approx(first["test/acc"])
