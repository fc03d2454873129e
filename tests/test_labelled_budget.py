"""How many labelled images of B an arm uses: validation from B's full training set (the studies'
way) or from the budget itself (`data.val_from_budget`), and `sizes.target_labelled`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import TINY, compose
from transfer_lab.data.splits import make_task
from transfer_lab.data.tasks import build_job_data
from transfer_lab.errors import UserError

LABELS = np.repeat(np.arange(4), 50)  # 4 classes of 50 training images
TEST = np.repeat(np.arange(4), 5)


def task(**kwargs):
    return make_task(LABELS, TEST, (0, 1, 2, 3), split_seed=7, val_fraction=0.2, **kwargs)


def test_the_studies_way_carves_validation_before_the_budget():
    t = task(fraction=0.1)
    assert np.bincount(LABELS[t.train]).tolist() == [4] * 4  # 10% of the 40 kept per class
    assert np.bincount(LABELS[t.val]).tolist() == [10] * 4  # 20% of all 50: more than trained on
    assert not set(t.train) & set(t.val)


@pytest.mark.parametrize("budget", [{"fraction": 0.2}, {"per_class": 10}])
def test_validation_from_the_budget_keeps_every_label_within_it(budget):
    t = task(val_from_budget=True, **budget)
    assert np.bincount(LABELS[t.train]).tolist() == [8] * 4
    assert np.bincount(LABELS[t.val]).tolist() == [2] * 4  # 20% of the 10-image budget
    assert not set(t.train) & set(t.val)
    larger = task(val_from_budget=True, per_class=20)
    assert set(t.train) | set(t.val) <= set(larger.train) | set(larger.val)  # budgets nest
    # with the whole training set as budget both ways carve the same validation images
    assert np.array_equal(task(val_from_budget=True).val, task().val)


def test_a_budget_too_small_to_validate_on_says_so():
    with pytest.raises(UserError, match="data.val_from_budget=true leaves no validation image"):
        task(val_from_budget=True, per_class=1)


def test_only_b_is_affected():
    cfg = compose(["paths.root_dir=.", "data.fraction=0.05"])
    usual = build_job_data(cfg)
    cfg.data.val_from_budget = True
    budgeted = build_job_data(cfg)
    assert np.array_equal(usual.task_a.val, budgeted.task_a.val)
    b_labelled = set(budgeted.task_b.train) | set(budgeted.task_b.val)
    assert len(b_labelled) < len(usual.task_b.val)  # the carve-out alone outnumbered the budget


@pytest.mark.slow
def test_results_record_the_labelled_images_of_b(cli):
    for how in ("false", "true"):
        cli(["transfer.arm=baseB", "data.fraction=0.05", f"data.val_from_budget={how}", *TINY])
    found = {}
    for path in (cli.cwd / "outputs").glob("*/*/results.json"):
        results = json.loads(path.read_text())
        found[results["config"]["data"]["val_from_budget"]] = results["sizes"]
    for sizes in found.values():
        assert sizes["target_labelled"] == sizes["target_train"] + sizes["target_val"]
    assert found[True]["target_labelled"] < found[False]["target_labelled"]
