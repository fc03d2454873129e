"""CS6784's freeze grid (`+experiment=freeze_depth`) against the original code.

Source: matham/cs6784_2017 at 30d2bed, `train.py` (`main`, `--transBlocksLayers` with
`--freezeReduce`; `run_transfer_dset_b`; `adjust_opt_transfer`) and `densenet.py`
(`freeze_layers`, `reset_final_layer`, the `get_*_dense_block_layers` helpers).
"""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from tests import recipes
from tests.conftest import compose
from transfer_lab.errors import UserError
from transfer_lab.models.registry import backbone_from_config
from transfer_lab.transfer.treatments import plan_from_config, plan_treatment

LAYERS = 16  # DenseNet-BC-100: (100 - 4) // 3 // 2 bottleneck layers per dense block


def stage_names() -> list[str]:
    cfg = compose(["+experiment=freeze_depth"])
    with torch.device("meta"):
        return backbone_from_config(cfg.backbone, 3, 32).stage_names


def original_grid() -> list[object]:
    """The `ft_blocks` the original passes to `freeze_layers`, in its order.

    train.py, main(): `run_transfer_dset_b(args, [], ...)`, then for block 1..3:
    `blocks[-1] = (block, i + 1)` for `i in range(0, 15, args.nTransFTBlockLayersStep)` (default
    2), then `blocks = list(range(1, block + 1))`, or 'all' for block 3 (freeze_layers([1, 2, 3])).
    """
    grid: list[object] = [[]]
    for block in (1, 2, 3):
        for i in range(0, 15, 2):
            grid.append([*range(1, block), (block, i + 1)])
        grid.append([1, 2, 3] if block == 3 else list(range(1, block + 1)))
    return grid


def frozen_by_original(ft_blocks: list[object]) -> list[str]:
    """Our stage names for what densenet.py's `freeze_layers(ft_blocks)` freezes.

    It freezes every layer that is not "normal": the classifier, blocks not named, and for a
    named (block, layer) the block's layers from `layer` (0-based) on with its transition (block
    1 keeps conv1 frozen, block 3's list ends with the final BN `bn1`).
    """
    named = {b[0] if isinstance(b, tuple) else b for b in ft_blocks}
    partial = {b[0]: b[1] for b in ft_blocks if isinstance(b, tuple)}
    frozen = ["stem"] if 1 in named else []
    for block in (1, 2, 3):
        if block not in named:
            break
        keep = partial.get(block, LAYERS)
        frozen += [f"block{block}_layer{i:02d}" for i in range(1, keep + 1)]
        if block in partial:
            break
        if block < 3:
            frozen.append(f"trans{block}")
    return frozen


def test_the_grid_is_the_originals():
    cfg = compose(["+experiment=freeze_depth"])
    ours = str(cfg.hydra.sweeper.params["transfer.freeze_depth"]).split(",")
    stages = stage_names()
    assert len(stages) == 51 and len(ours) == len(original_grid()) == 28
    for value, ft_blocks in zip(ours, original_grid(), strict=True):
        plan = plan_from_config({**cfg.transfer, "freeze_depth": value}, stages)
        assert plan.copied == tuple(stages), value  # the whole network is copied
        assert list(plan.frozen) == frozen_by_original(ft_blocks), (value, ft_blocks)
    assert frozen_by_original([1, 2, 3]) == stages  # 'all' freezes the final BN too


def test_copied_and_frozen_depths_are_separate_settings():
    stages = ["conv1", "conv2", "fc1", "fc2"]
    plan = plan_treatment("transfer", 3, False, stages, freeze_depth=1)
    assert plan.copied == ("conv1", "conv2", "fc1") and plan.frozen == ("conv1",)
    assert plan.label == "A3B+f1" and plan.family == "AnB+fk" and plan.freeze_depth == 1
    assert plan_treatment("selffer", "all", True, stages, freeze_depth="conv2").label == "B4B+f2"
    # freeze_depth 0 or = depth are Yosinski's two arms again
    assert plan_treatment("transfer", 2, True, stages, freeze_depth=0).label == "A2B+"
    assert plan_treatment("transfer", 2, False, stages, freeze_depth=2).label == "A2B"
    assert plan_treatment("scratch", 0, False, stages, freeze_depth=3).frozen == ()
    with pytest.raises(UserError, match=r"freeze_depth=3 freezes 3 stages .* copies only 2"):
        plan_treatment("transfer", 2, False, stages, freeze_depth=3)
    with pytest.raises(UserError, match="transfer.freeze_depth='conv9' is neither"):
        plan_treatment("transfer", 2, False, stages, freeze_depth="conv9")


def target_module(freeze_depth: str, source_state: dict[str, torch.Tensor]):
    """The target network a freeze_depth job builds (50 classes of B), and its config."""
    cfg = compose(["+experiment=freeze_depth", f"transfer.freeze_depth={freeze_depth}"])
    OmegaConf.resolve(cfg.target)
    plan = plan_from_config(
        cfg.transfer, list(dict.fromkeys(k.split(".")[1] for k in source_state))
    )
    return recipes.target_module(cfg, plan, source_state), plan, cfg


@pytest.fixture(scope="module")
def source_state() -> dict[str, torch.Tensor]:
    cfg = compose(["+experiment=freeze_depth"])
    torch.manual_seed(0)
    return backbone_from_config(cfg.backbone, 3, 32).state_dict()


@pytest.mark.parametrize("freeze_depth", ["0", "block2_layer05", "all"])
def test_copied_frozen_reset_and_rates(source_state, freeze_depth):
    """run_transfer_dset_b with --freezeReduce: load the whole source, freeze_layers(ft_blocks),
    reset_final_layer(); groups `{'params': reset_params, 'lr': 1e-1}` (the classifier) and
    `{'params': ft_params, 'lr': 1e-2}` (the copied, not frozen); `epochs = 40`."""
    module, plan, cfg = target_module(freeze_depth, source_state)
    for key, value in module.backbone.state_dict().items():
        assert torch.equal(value, source_state[key]), key  # everything below the classifier copied
    for name, stage in module.backbone.stages.items():
        assert {p.requires_grad for p in stage.parameters()} == {name not in plan.frozen}, name
    module.train()
    assert all(m.training for m in module.backbone.modules())  # BN statistics still update
    optimizer = module.configure_optimizers()["optimizer"]
    groups = {g["name"]: g for g in optimizer.param_groups}
    assert {id(p) for p in groups["new"]["params"]} == {
        id(p) for p in module.classifier.parameters()
    }
    assert groups["new"]["lr"] == pytest.approx(0.1)
    trainable_copied = [s for s in plan.copied if s not in plan.frozen]
    if trainable_copied:
        assert groups["copied"]["lr"] == pytest.approx(0.01)
        assert {id(p) for p in groups["copied"]["params"]} == {
            id(p) for s in trainable_copied for p in module.backbone.stages[s].parameters()
        }
    else:
        assert "copied" not in groups  # frozen parameters are not given to the optimizer
    assert cfg.target.epochs == 40


def test_classifier_rate_drops_at_epochs_26_and_36(source_state):
    """adjust_opt_transfer(epoch1=26, epoch2=36): at epoch 26 `fc['lr'] = 1e-2`, at 36 1e-3."""
    module, _, cfg = target_module("block2_layer05", source_state)
    rates = recipes.rates_by_epoch(module, int(cfg.target.epochs))
    at = {e: rates["new"][e - 1] for e in (1, 25, 26, 35, 36, 40)}
    assert at == pytest.approx({1: 0.1, 25: 0.1, 26: 0.01, 35: 0.01, 36: 0.001, 40: 0.001})
    assert rates["copied"][0] == pytest.approx(0.01) and rates["copied"][24] == pytest.approx(0.01)


def test_copied_rate_is_the_originals_after_the_drops(source_state):
    """adjust_opt_transfer: at epoch 26 `base['lr'] = 1e-2` (unchanged), at 36 1e-3."""
    module, _, cfg = target_module("block2_layer05", source_state)
    rates = recipes.rates_by_epoch(module, int(cfg.target.epochs))
    at = {e: rates["copied"][e - 1] for e in (26, 35, 36, 40)}
    assert at == pytest.approx({26: 0.01, 35: 0.01, 36: 0.001, 40: 0.001})
