"""long_tail and ood_transfer ask CS6784's question: β = 0 against β = 0.4 after transfer.

Source: matham/cs6784_2017 at 30d2bed, `train.py`: `run_transfer_dset_b` (with ft_blocks
'all': `net.reset_final_layer()`, groups `{'lr': 1e-1}` for the classifier and `{'lr': 1e-2}`
for the rest; `epochs = 40` and `adjust_opt_transfer(epoch1=26, epoch2=36)` under
`--ftReduceEpochs`, else `args.nFTEpochs` = 100 with drops at 51 and 76), `--limitTransClsSize`
and saved_results/readme.txt (the long-tail, CIFAR-10 and SVHN runs fine-tune the β = 0 and the
β = 0.4 source).
"""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from tests import recipes
from tests.conftest import compose
from transfer_lab.job.networks import target_schedule
from transfer_lab.models.registry import backbone_from_config
from transfer_lab.transfer.treatments import plan_from_config


def grid(cfg) -> dict[str, list[str]]:
    return {k: str(v).split(",") for k, v in cfg.hydra.sweeper.params.items()}


def arms(experiment: str, **fixed: str):
    """(config, plan) of each transfer.arm in the experiment's grid."""
    extra = [f"{k}={v}" for k, v in fixed.items()]
    for arm in grid(compose([f"+experiment={experiment}"]))["transfer.arm"]:
        cfg = compose([f"+experiment={experiment}", f"transfer.arm={arm}", *extra])
        OmegaConf.resolve(cfg.target)
        with torch.device("meta"):
            stages = backbone_from_config(cfg.backbone, 3, 32).stage_names
        yield cfg, plan_from_config(cfg.transfer, stages)


@pytest.mark.parametrize("experiment", ["long_tail", "ood_transfer"])
def test_the_question_is_beta_after_transfer(experiment):
    axes = grid(compose([f"+experiment={experiment}"]))
    assert [float(b) for b in axes["model.beta"]] == [0.0, 0.4]
    labels = {plan.label: plan for _, plan in arms(experiment)}
    assert set(labels) == {"baseB", "A6B+"}  # transfer, with scratch as an extra arm
    transfer = labels["A6B+"]
    # every stage copied: only the classifier is new (reset_final_layer), nothing frozen
    assert len(transfer.copied) == 6 and transfer.frozen == ()
    cfg = compose([f"+experiment={experiment}"])
    assert cfg.model.binary_heads == 1
    for cfg, plan in arms(experiment):
        if plan.label == "A6B+":  # classifier at 0.1, copied stages at 0.01 in epoch 1
            module = recipes.target_module(cfg, plan)
            rates = recipes.rates_by_epoch(module, int(target_schedule(cfg.target, plan).epochs))
            assert rates["new"][0] == pytest.approx(0.1)
            assert rates["copied"][0] == pytest.approx(0.01)


def test_long_tail_keeps_60_images_per_class_for_40_epochs():
    for cfg, plan in arms("long_tail"):
        assert cfg.data.per_class == 60  # --limitTransClsSize 60
        schedule = target_schedule(cfg.target, plan)
        module = recipes.target_module(cfg, plan)
        seen = recipes.rates_by_epoch(module, int(schedule.epochs))["new"]
        if plan.label == "baseB":  # adjust_opt_transfer_baseline: 275 epochs, 126 and 226
            assert schedule.epochs == 275
            at = {e: seen[e - 1] for e in (1, 125, 126, 225, 226, 275)}
            expected = {1: 0.1, 125: 0.1, 126: 0.01, 225: 0.01, 226: 0.001, 275: 0.001}
        else:  # --ftReduceEpochs: epochs = 40, adjust_opt_transfer(epoch1=26, epoch2=36)
            assert schedule.epochs == 40
            at = {e: seen[e - 1] for e in (1, 25, 26, 35, 36, 40)}
            expected = {1: 0.1, 25: 0.1, 26: 0.01, 35: 0.01, 36: 0.001, 40: 0.001}
        assert at == pytest.approx(expected), plan.label


def test_ood_targets_are_cifar10_and_svhn_for_b_s_100_epochs():
    axes = grid(compose(["+experiment=ood_transfer"]))
    assert axes["data"] == ["cifar100_to_cifar10", "cifar100_to_svhn"]
    for cfg, plan in arms("ood_transfer", data="cifar100_to_svhn"):
        assert cfg.data.target.name == "svhn"
        if plan.label == "A6B+":
            assert target_schedule(cfg.target, plan).epochs == 100  # args.nFTEpochs


def test_natural_manmade_copies_what_transblocks_kept():
    """--transBlocks: run_transfer_dset_b with ft_blocks [] (every block reset: scratch, 275
    epochs), [1] (conv1, dense1, trans1 kept), [1, 2], and [1, 2, 3] (only the classifier reset)
    — densenet.py reset_layers resets the blocks not listed."""
    axes = grid(compose(["+experiment=natural_manmade"]))
    assert axes["data"] == ["cifar100_natural_manmade_cs6784", "cifar100_natural_manmade"]
    copied = {plan.label: plan.copied for _, plan in arms("natural_manmade")}
    assert copied == {
        "baseB": (),
        "A3B+": ("stem", "block1", "trans1"),
        "A5B+": ("stem", "block1", "trans1", "block2", "trans2"),
        "A6B+": ("stem", "block1", "trans1", "block2", "trans2", "block3"),
    }
    for cfg, plan in arms("natural_manmade"):
        assert target_schedule(cfg.target, plan).epochs == (275 if plan.label == "baseB" else 100)
        assert cfg.model.beta == 0
