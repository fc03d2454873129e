"""Splits are pure functions of the split seed: disjoint, balanced, stratified, nested."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO
from transfer_lab.data.datasets.digits import load_digits
from transfer_lab.data.splits import (
    binary_partitions,
    budget_indices,
    label_map,
    make_task,
    split_classes,
    stratified_carve,
)
from transfer_lab.errors import UserError

LABELS = np.repeat(np.arange(10), [50, 60, 70, 80, 90, 100, 110, 120, 130, 140])


def fingerprint(seed: int) -> dict:
    split = split_classes(100, 50, 50, seed)
    task = make_task(LABELS, LABELS, split.source[:0] + (0, 1, 2, 3, 4), seed, 0.1, 0.3, None, 3)
    return {
        "a": list(split.source),
        "b": list(split.target),
        "train": task.train.tolist(),
        "val": task.val.tolist(),
        "binary": task.binary.tolist(),
    }


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_split_is_disjoint_and_covers_the_requested_sizes(seed):
    split = split_classes(100, 50, 50, seed)
    assert len(split.source) == len(split.target) == 50
    assert set(split.source).isdisjoint(split.target)
    assert set(split.source) | set(split.target) == set(range(100))


def test_split_sizes_need_not_be_halves_and_seeds_differ():
    split = split_classes(100, 65, 35, 3)
    assert (len(split.source), len(split.target)) == (65, 35)
    assert split_classes(10, 5, 5, 0) != split_classes(10, 5, 5, 1)


def test_explicit_class_lists_are_kept_and_checked():
    split = split_classes(10, [0, 1, 2], [7, 8], 0)
    assert split.source == (0, 1, 2) and split.target == (7, 8)
    drawn = split_classes(10, 3, [0, 1, 2, 3], 5)
    assert set(drawn.source).isdisjoint({0, 1, 2, 3}) and len(drawn.source) == 3
    with pytest.raises(UserError, match="overlap"):
        split_classes(10, [0, 1], [1, 2], 0)
    with pytest.raises(UserError, match="outside"):
        split_classes(10, [0, 11], 5, 0)
    with pytest.raises(UserError, match="cannot draw"):
        split_classes(10, 6, 6, 0)


def test_split_is_identical_in_another_process():
    code = (
        f"import json, sys; sys.path.insert(0, {str(REPO)!r}); from tests.test_splits import fingerprint; "
        "print(json.dumps([fingerprint(s) for s in (0, 1, 2)]))"
    )
    other = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123", "PATH": ""},
    )
    assert json.loads(other.stdout) == [fingerprint(s) for s in (0, 1, 2)]


@pytest.mark.parametrize("classes,heads", [(5, 4), (6, 10), (50, 10), (2, 1)])
def test_binary_partitions_are_balanced_and_distinct(classes, heads):
    parts = binary_partitions(classes, heads, split_seed=4)
    assert parts.shape == (heads, classes)
    assert set(parts.sum(axis=1).tolist()) == {classes // 2}
    rows = {tuple(r) for r in parts.tolist()}
    complements = {tuple(1 - np.asarray(r)) for r in rows}
    assert len(rows) == heads
    if classes % 2 == 0:
        assert not rows & complements  # a partition and its complement are the same task


def test_too_many_binary_heads_is_a_user_error():
    with pytest.raises(UserError, match="at most 3"):
        binary_partitions(4, 4, 0)  # {01|23, 02|13, 03|12}


@pytest.mark.parametrize("fraction", [0.05, 0.1, 0.5, 1.0])
def test_fraction_budget_is_stratified(fraction):
    chosen = budget_indices(LABELS, split_seed=2, fraction=fraction)
    counts = np.bincount(LABELS[chosen], minlength=10)
    expected = [max(1, math.ceil(fraction * n)) for n in np.bincount(LABELS)]
    assert counts.tolist() == expected


def test_budgets_are_nested_and_per_class_caps():
    smaller = set(budget_indices(LABELS, 9, fraction=0.1).tolist())
    larger = set(budget_indices(LABELS, 9, fraction=0.4).tolist())
    assert smaller < larger
    capped = budget_indices(LABELS, 9, per_class=60)
    assert np.bincount(LABELS[capped]).tolist() == [50] + [60] * 9
    assert set(budget_indices(LABELS, 9, per_class=5).tolist()) < set(capped.tolist())
    with pytest.raises(UserError, match="fraction"):
        budget_indices(LABELS, 0, fraction=0)


def test_validation_carve_out_is_stratified_and_disjoint():
    kept, carved = stratified_carve(LABELS, 0.1, 0, "val")
    assert set(kept.tolist()).isdisjoint(carved.tolist())
    assert len(kept) + len(carved) == len(LABELS)
    assert np.bincount(LABELS[carved]).tolist() == [round(0.1 * n) for n in np.bincount(LABELS)]


def test_task_on_digits_has_disjoint_parts_inside_its_classes():
    images = load_digits()
    train_labels, test_labels = images.train_labels.numpy(), images.test_labels.numpy()
    task = make_task(
        train_labels,
        test_labels,
        (1, 3, 5),
        split_seed=0,
        val_fraction=0.1,
        fraction=0.2,
        binary_heads=1,
    )
    assert set(task.train.tolist()).isdisjoint(task.val.tolist())
    assert set(train_labels[task.train]) == set(train_labels[task.val]) == {1, 3, 5}
    assert set(test_labels[task.test]) == {1, 3, 5}
    assert len(task.test) == int(np.isin(test_labels, (1, 3, 5)).sum())  # the whole test set
    assert label_map((1, 3, 5), 10).tolist() == [-1, 0, -1, 1, -1, 2, -1, -1, -1, -1]
    assert images.shape == (1, 8, 8) and images.train_images.dtype.is_floating_point is False
