"""Per-epoch tests for the papers' statistics, and `source.select`: the tests are recorded, and
selection never reads them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.conftest import TINY, compose
from transfer_lab.config.checks import problems
from transfer_lab.errors import UserError
from transfer_lab.test_epochs import resolve_test_epochs
from transfer_lab.train.callbacks import BestWeights


@pytest.mark.parametrize(
    "setting,statistic,paper_epoch,expected",
    [
        ("auto", None, None, [5]),  # cheap by default: the last epoch only
        ("auto", "last", None, [5]),
        ("auto", "last", 3, [3]),  # the epoch the paper reports
        ("auto", "last", 60, [5]),  # beyond a shortened run: its last epoch
        ("auto", "mean_best", None, [1, 2, 3, 4, 5]),
        ("last", "mean_best", None, [5]),
        ("all", None, None, [1, 2, 3, 4, 5]),
        ("none", "mean_best", None, []),
        (None, None, None, []),
        ([4, 1, 4], None, None, [1, 4]),
    ],
)
def test_test_epochs_resolve(setting, statistic, paper_epoch, expected):
    assert resolve_test_epochs(setting, 5, statistic, paper_epoch) == expected


@pytest.mark.parametrize("setting", [[0, 2], [6], "sometimes"])
def test_bad_test_epochs_are_refused_in_one_sentence(setting):
    with pytest.raises(UserError, match="test_epochs"):
        resolve_test_epochs(setting, 5)


def test_config_checks_name_bad_paper_and_selection_settings():
    found = problems(
        compose(["paper.statistic=median", "source.select=first", "target.test_epochs=[0]"])
    )
    text = "\n".join(found)
    assert "paper.statistic='median'" in text
    assert "source.select='first'" in text
    assert "target.test_epochs" in text


class _Trainer:
    """What BestWeights reads from a Trainer."""

    sanity_checking = False

    def __init__(self, epoch: int, acc: float) -> None:
        self.current_epoch = epoch
        self.callback_metrics = {"val/acc": torch.tensor(acc)}


class _Module(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))


@pytest.mark.parametrize("select,kept_epoch", [("best", 1), ("last", 2)])
def test_select_keeps_the_best_or_the_last_epoch(select, kept_epoch):
    module, keeper = _Module(), BestWeights("val/acc", "max", select)
    for epoch, acc in enumerate([0.5, 0.9, 0.7]):
        with torch.no_grad():
            module.w.fill_(epoch)
        keeper.on_train_epoch_end(_Trainer(epoch, acc), module)
    assert keeper.epoch == kept_epoch
    keeper.restore(module)
    assert module.w.item() == kept_epoch
    assert keeper.val_acc == pytest.approx([0.5, 0.9, 0.7][kept_epoch])


def run_job(cli, folder: str, *overrides: str) -> dict:
    cli(["transfer.arm=A1B+", *TINY, *overrides, f"hydra.run.dir={folder}"])
    return json.loads((cli.cwd / folder / "results.json").read_text())


def checkpoint(cli, folder: str) -> dict:
    path = Path(cli.cwd) / folder / "checkpoints" / "target.ckpt"
    return torch.load(path, map_location="cpu", weights_only=False)


# dropout and BatchNorm on: a test pass that drew random numbers or ran in train mode (moving
# BatchNorm's statistics towards the test images) would change what is trained and chosen
NOISY = ["backbone.dropout=0.3", "backbone.batch_norm=true", "source.epochs=4", "target.epochs=5"]


def test_selection_is_the_same_with_and_without_epoch_tests(cli):
    tested = run_job(cli, "tested", *NOISY, "source.test_epochs=all", "target.test_epochs=all")
    plain = run_job(cli, "plain", *NOISY, "source.test_epochs=none", "target.test_epochs=none")
    assert tested["target"]["test_history"]["epoch"] == [1, 2, 3, 4, 5]
    assert len(tested["source"]["test_history"]["acc"]) == 4
    assert plain["target"]["test_history"] is None
    for stage in ("source", "target"):
        for key in ("val_acc", "monitor_value", "test_acc", "test_loss", "epochs"):
            assert tested[stage][key] == plain[stage][key], (stage, key)
    a, b = checkpoint(cli, "tested"), checkpoint(cli, "plain")
    assert a["epoch"] == b["epoch"] and a["score"] == b["score"]
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for name, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][name]), name


def test_the_selected_epoch_s_test_is_among_the_epoch_tests(cli):
    """The one test of the selected checkpoint is the per-epoch test of the epoch it came from:
    the two records describe the same networks."""
    done = run_job(cli, "run", *NOISY, "target.test_epochs=all")
    epoch = checkpoint(cli, "run")["epoch"] + 1
    history = done["target"]["test_history"]
    at = history["epoch"].index(epoch)
    assert done["target"]["test_acc"] == pytest.approx(history["acc"][at], abs=1e-6)
    assert done["target"]["test_loss"] == pytest.approx(history["loss"][at], rel=1e-4)


def test_a_cs6784_style_job_records_its_last_epoch_tests(cli):
    done = run_job(cli, "run", "+experiment=digits_beta", "model.beta=0.4")
    assert done["config"]["paper"]["statistic"] == "last"
    for stage in ("source", "target"):
        history = done[stage]["test_history"]
        assert history["epoch"] == [done[stage]["epochs"]]  # the last epoch, and only it
        assert 0 <= history["acc"][0] <= 1 and history["loss"][0] > 0


def test_source_select_last_keeps_the_last_epoch(cli):
    """A source with select=last is its final epoch's network: its one test is the last
    epoch's test; BnB records that it copied baseB's last epoch."""
    done = run_job(cli, "run", *NOISY, "source.select=last", "source.test_epochs=all")
    source = done["source"]
    assert source["select"] == "last"
    assert source["test_acc"] == pytest.approx(source["test_history"]["acc"][-1], abs=1e-6)
    cli(
        [
            "transfer.arm=B1B",
            *TINY,
            "source.select=last",
            "hydra.run.dir=bnb",
        ]
    )
    bnb = json.loads((cli.cwd / "bnb" / "results.json").read_text())
    assert bnb["source"]["select"] == "last"
