"""Selection in memory (BestWeights) and when a progress bar is shown."""

from types import SimpleNamespace

import torch
from omegaconf import OmegaConf
from torch import nn

from transfer_lab.train.callbacks import BestWeights
from transfer_lab.train.trainer import show_progress


def validate(selection, module, epoch, score):
    """What an epoch's end does before selection, as far as selection sees it."""
    with torch.no_grad():
        module.weight.fill_(epoch)
    trainer = SimpleNamespace(
        sanity_checking=False,
        current_epoch=epoch,
        callback_metrics={"val/acc": torch.tensor(score)},
    )
    selection.on_train_epoch_end(trainer, module)


def test_best_weights_keeps_the_first_epoch_and_then_only_strictly_better_ones():
    module, selection = nn.Linear(2, 1), BestWeights("val/acc")
    for epoch, score in enumerate([0.5, 0.7, 0.7, 0.6, float("nan"), 0.8, 0.8]):
        validate(selection, module, epoch, score)
    assert selection.epoch == 5 and float(selection.score) == float(torch.tensor(0.8))
    selection.restore(module)
    assert torch.equal(module.weight, torch.full((1, 2), 5.0))


def test_a_first_epoch_with_nan_is_kept_but_any_finite_score_replaces_it():
    module, selection = nn.Linear(2, 1), BestWeights("val/acc")
    validate(selection, module, 0, float("nan"))
    assert selection.epoch == 0
    validate(selection, module, 1, 0.1)
    assert selection.epoch == 1


def test_the_kept_copy_does_not_follow_later_training():
    module, selection = nn.Linear(2, 1), BestWeights("val/acc")
    validate(selection, module, 0, 0.9)
    validate(selection, module, 1, 0.1)  # weights now 1.0, not kept
    assert torch.equal(selection.state["weight"], torch.zeros(1, 2))


def test_saved_weights_load_into_a_fresh_module(tmp_path):
    module, selection = nn.Linear(2, 1), BestWeights("val/acc")
    validate(selection, module, 3, 0.9)
    path = selection.save(tmp_path / "checkpoints" / "target.ckpt")
    saved = torch.load(path, weights_only=True)
    fresh = nn.Linear(2, 1)
    fresh.load_state_dict(saved["state_dict"])
    assert torch.equal(fresh.weight, torch.full((1, 2), 3.0))
    assert saved["epoch"] == 3 and saved["score"] == float(torch.tensor(0.9))
    assert [p.name for p in path.parent.iterdir()] == ["target.ckpt"]  # no temporary left


def test_progress_bar_is_shown_in_a_single_run_unless_switched_off(monkeypatch):
    from hydra.core.hydra_config import HydraConfig

    monkeypatch.setattr(HydraConfig.instance(), "cfg", None)  # an earlier test's sweep is over

    def cfg(value):
        return OmegaConf.create({"enable_progress_bar": value})

    assert show_progress(cfg(None)) is True  # no Hydra multirun here: a single run
    assert show_progress(cfg(False)) is False
    assert show_progress(cfg(True)) is True
