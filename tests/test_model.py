"""The β-weighted loss, binary heads, frozen stages and copied stages, trained for real."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from transfer_lab.data.datamodule import TaskDataModule
from transfer_lab.data.datasets.digits import load_digits
from transfer_lab.data.splits import make_task
from transfer_lab.models.classifier import TransferModule, beta_loss
from transfer_lab.models.lenet import LeNet
from transfer_lab.transfer.surgery import copy_stages

IMAGES = load_digits()


def task(classes=(0, 1, 2, 3), heads=2):
    return make_task(
        IMAGES.train_labels.numpy(),
        IMAGES.test_labels.numpy(),
        classes,
        split_seed=0,
        val_fraction=0.1,
        fraction=0.5,
        binary_heads=heads,
    )


def module(beta=0.0, heads=2, frozen=(), copied=(), lr_scale=1.0, weight_decay=0.0, seed=0):
    torch.manual_seed(seed)
    t = task(heads=heads)
    return TransferModule(
        LeNet(in_channels=1, image_size=8, channels=(8, 16), hidden=(32, 16)),
        num_classes=len(t.classes),
        optimizer=partial(torch.optim.SGD, lr=0.1, momentum=0.9, weight_decay=weight_decay),
        beta=beta,
        binary_partitions=t.binary,
        frozen=frozen,
        copied=copied,
        lr_scale=lr_scale,
    ), t


def fit(model, t, steps=6):
    trainer = pl.Trainer(
        max_steps=steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        accelerator="cpu",
    )
    trainer.fit(model, datamodule=TaskDataModule(IMAGES, t, batch_size=16))


def test_beta_zero_is_plain_cross_entropy():
    torch.manual_seed(0)
    logits, labels = torch.randn(8, 5), torch.randint(0, 5, (8,))
    binary = [torch.randn(8, 2) for _ in range(3)]
    binary_labels = torch.randint(0, 2, (3, 8))
    total, ce = beta_loss(logits, labels, binary, binary_labels, beta=0.0)
    assert torch.equal(total, F.cross_entropy(logits, labels)) and torch.equal(total, ce)
    total, _ = beta_loss(logits, labels, binary, binary_labels, beta=0.4)
    mean_binary = sum(F.cross_entropy(b, binary_labels[k]) for k, b in enumerate(binary)) / 3
    assert torch.allclose(total, 0.6 * F.cross_entropy(logits, labels) + 0.4 * mean_binary)


def test_binary_labels_follow_the_partitions():
    model, t = module(heads=2)
    labels = torch.arange(len(t.classes))
    assert torch.equal(model.binary_partitions[:, labels], torch.as_tensor(t.binary))


def test_beta_trains_the_binary_heads_and_beta_zero_leaves_them_alone():
    for beta, should_move in ((0.0, False), (0.5, True)):
        model, t = module(beta=beta)
        before = [h.weight.detach().clone() for h in model.binary_heads]
        fit(model, t)
        moved = [
            not torch.equal(b, h.weight) for b, h in zip(before, model.binary_heads, strict=True)
        ]
        assert all(moved) == should_move and any(moved) == should_move


def test_beta_zero_trains_exactly_like_no_binary_heads():
    with_heads, t = module(beta=0.0, heads=2)
    without, t0 = module(beta=0.0, heads=0)
    assert torch.equal(
        with_heads.backbone.stages.conv1[0].weight, without.backbone.stages.conv1[0].weight
    )
    fit(with_heads, t)
    fit(without, t0)
    for a, b in zip(
        with_heads.backbone.state_dict().values(),
        without.backbone.state_dict().values(),
        strict=True,
    ):
        assert torch.equal(a, b)


def test_frozen_stages_keep_weights_and_batchnorm_statistics_bit_for_bit():
    model, t = module(frozen=("conv1", "conv2"), weight_decay=5e-4)
    frozen_before = {
        k: v.clone()
        for k, v in model.backbone.state_dict().items()
        if k.startswith(("stages.conv1.", "stages.conv2."))
    }
    trained_before = model.backbone.stages.fc1[1].weight.detach().clone()
    fit(model, t)
    after = model.backbone.state_dict()
    assert any("running_mean" in k for k in frozen_before)
    for key, value in frozen_before.items():
        assert torch.equal(after[key], value), key
    assert not torch.equal(model.backbone.stages.fc1[1].weight, trained_before)
    grouped = {id(p) for g in model.configure_optimizers().param_groups for p in g["params"]}
    assert not grouped & {id(p) for p in model.backbone.stages.conv1.parameters()}


def test_copied_stages_equal_the_source_and_the_rest_do_not():
    source, _ = module(seed=1)
    fit(source, task())
    target, _ = module(seed=2)
    copy_stages(target.backbone, source.backbone.state_dict(), ["conv1", "conv2", "fc1"])
    src, tgt = source.backbone.state_dict(), target.backbone.state_dict()
    for key in tgt:
        same = torch.equal(src[key], tgt[key])
        assert same == key.startswith(("stages.conv1.", "stages.conv2.", "stages.fc1.")), key


def test_copied_stages_get_the_scaled_learning_rate():
    model, _ = module(copied=("conv1", "conv2"), frozen=(), lr_scale=0.1)
    groups = {g["name"]: g for g in model.configure_optimizers().param_groups}
    assert np.isclose(groups["new"]["lr"], 0.1) and np.isclose(groups["copied"]["lr"], 0.01)
    copied = {id(p) for p in groups["copied"]["params"]}
    assert copied == {
        id(p) for s in ("conv1", "conv2") for p in model.backbone.stages[s].parameters()
    }
    classifier = {id(p) for p in model.classifier.parameters()}
    assert classifier <= {id(p) for p in groups["new"]["params"]}
