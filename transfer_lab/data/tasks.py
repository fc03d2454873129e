"""The split step of a job: config → the images of A and B (read by `loading.py`), task A, task B.

In domain, A and B are disjoint class subsets of one dataset: random from the split seed
(`data.split=random`, any sizes or explicit lists) or CIFAR-100's superclasses
(`data.split=superclasses`, e.g. natural → man-made). Out of domain (`data.target` names a
second dataset) A comes from `data` and B is the whole of the other dataset. Binary partitions of
A are random balanced halves (`data.binary=random`) or whole superclasses (`superclasses`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from omegaconf import DictConfig

from transfer_lab.data.loading import load_images, normalise_like_source, plain
from transfer_lab.data.splits import ClassSplit, Task, make_task, rng_for, split_classes
from transfer_lab.errors import UserError

log = logging.getLogger(__name__)

SPLITS = ("random", "superclasses")
BINARY = ("random", "superclasses")
# Superclass groups `data.source_superclasses` / `data.target_superclasses` may name (CIFAR-100).
SUPERCLASS_GROUPS = {
    "man_made": [
        "food_containers",
        "household_electrical_devices",
        "household_furniture",
        "large_man-made_outdoor_things",
        "vehicles_1",
        "vehicles_2",
    ],
}
SUPERCLASS_GROUPS["natural"] = [  # every other CIFAR-100 superclass
    "aquatic_mammals",
    "fish",
    "flowers",
    "fruit_and_vegetables",
    "insects",
    "large_carnivores",
    "large_natural_outdoor_scenes",
    "large_omnivores_and_herbivores",
    "medium_mammals",
    "non-insect_invertebrates",
    "people",
    "reptiles",
    "small_mammals",
    "trees",
]
# CS6784's grouping (attic/label_cifar.py, coarse_to_natural): the same but flowers counted
# man-made, 13 / 7 superclasses = 65 / 35 classes. Their code then indexed it wrongly (see
# conf/data/cifar100_natural_manmade_cs6784_as_run.yaml for the classes it really used).
SUPERCLASS_GROUPS["man_made_cs6784"] = [*SUPERCLASS_GROUPS["man_made"], "flowers"]
SUPERCLASS_GROUPS["natural_cs6784"] = [g for g in SUPERCLASS_GROUPS["natural"] if g != "flowers"]


def pick_classes(
    num_classes: int, given: Any, split_seed: int, purpose: str, key: str
) -> tuple[int, ...]:
    """null: every class; a number: that many drawn from the split seed; a list: those classes."""
    given = plain(given)
    if given is None:
        return tuple(range(num_classes))
    if isinstance(given, int):
        if not 2 <= given <= num_classes:
            raise UserError(
                f"{key}={given} must be between 2 and {num_classes}, the classes there are."
            )
        return tuple(
            sorted(int(c) for c in rng_for(split_seed, purpose).permutation(num_classes)[:given])
        )
    bad = [c for c in given if not 0 <= int(c) < num_classes]
    if bad or len(set(given)) < 2:
        raise UserError(f"{key}={given} must list at least 2 class ids in 0..{num_classes - 1}.")
    return tuple(sorted({int(c) for c in given}))


def superclass_ids(images, names: Any, key: str) -> list[int]:
    """Superclass ids from names, ids, or a group name such as `natural` or `man_made`."""
    known = list(images.superclass_names)
    names = plain(names)
    if isinstance(names, str):
        if names not in SUPERCLASS_GROUPS:
            raise UserError(
                f"{key}={names!r} is not a superclass group; use one of "
                f"{', '.join(SUPERCLASS_GROUPS)} or a list of superclass names."
            )
        names = SUPERCLASS_GROUPS[names]
    ids = []
    for name in names:
        if isinstance(name, int) and 0 <= name < len(known):
            ids.append(name)
        elif name in known:
            ids.append(known.index(name))
        else:
            raise UserError(
                f"{key} names {name!r}, which is not a superclass of {images.name}; "
                f"use ids 0..{len(known) - 1} or names such as {known[0]!r}."
            )
    return sorted(set(ids))


def superclass_split(images, data: DictConfig) -> ClassSplit:
    """A = the fine classes of `data.source_superclasses`, B = those of the target ones (or the rest)."""
    if images.superclass_of is None:
        raise UserError(
            f"data.split=superclasses needs a dataset with superclasses (cifar100), but "
            f"{images.name} has none; use data.split=random."
        )
    source = superclass_ids(images, data.source_superclasses, "data.source_superclasses")
    target_given = data.get("target_superclasses")
    target = (
        sorted(set(range(len(images.superclass_names))) - set(source))
        if target_given is None
        else superclass_ids(images, target_given, "data.target_superclasses")
    )
    if set(source) & set(target):
        raise UserError(
            "data.source_superclasses and data.target_superclasses overlap; make them disjoint."
        )
    of = np.asarray(images.superclass_of)
    a = tuple(int(c) for c in np.flatnonzero(np.isin(of, source)))
    b = tuple(int(c) for c in np.flatnonzero(np.isin(of, target)))
    return ClassSplit(source=a, target=b)


def _groups(images, classes: Sequence[int], data: DictConfig) -> list[int] | None:
    if str(data.get("binary", "random")) != "superclasses":
        return None
    if images.superclass_of is None:
        raise UserError(
            f"data.binary=superclasses needs a dataset with superclasses (cifar100), but "
            f"{images.name} has none; use data.binary=random."
        )
    return [int(images.superclass_of[c]) for c in classes]


@dataclass
class JobData:
    """Everything the split step decides for one job."""

    source_images: Any  # ImageSet or FolderSet that A (and baseA) comes from
    target_images: Any  # the one B comes from: the same object unless out of domain
    split: ClassSplit  # class ids of A in source_images, of B in target_images
    task_a: Task
    task_b: Task

    @property
    def out_of_domain(self) -> bool:
        return self.source_images is not self.target_images

    @property
    def files(self) -> list[str]:
        """The files read for A and B (results.json names them)."""
        return list(dict.fromkeys([*self.source_images.files, *self.target_images.files]))

    @property
    def name(self) -> str:
        a, b = self.source_images.name, self.target_images.name
        return f"{a}→{b}" if self.out_of_domain else a


def _task(images, classes: Sequence[int], data: DictConfig, heads: int, budget: bool) -> Task:
    return make_task(
        train_labels=images.train_labels.numpy(),
        test_labels=images.test_labels.numpy(),
        classes=classes,
        split_seed=int(data.split_seed),
        val_fraction=float(data.val_fraction),
        fraction=float(data.fraction) if budget else 1.0,
        per_class=data.per_class if budget else None,
        binary_heads=heads,
        groups=_groups(images, classes, data) if heads else None,
        val_from_budget=bool(data.get("val_from_budget", False)),
    )


def warn_if_budget_capped(images, task: Task, per_class: int | None) -> None:
    """Say so when B's per-class budget is larger than what some class of B has."""
    if per_class is None:
        return
    counts = np.bincount(images.train_labels.numpy()[task.train])[list(task.classes)]
    if counts.min() < int(per_class):
        log.warning(
            "data.per_class=%d is more than the %d training images the smallest class of B has "
            "after the validation carve-out; such classes use all of theirs (the budget is capped).",
            int(per_class),
            int(counts.min()),
        )


def build_job_data(cfg: DictConfig) -> JobData:
    """Load the data of a job (both datasets before any training) and split it."""
    data = cfg.data
    heads = int(cfg.model.binary_heads)
    how = str(data.get("split", "random"))
    assert how in SPLITS and str(data.get("binary", "random")) in BINARY, "config/checks.py"
    source_images = load_images(data)
    target_cfg = data.get("target")
    seed = int(data.split_seed)
    if target_cfg is not None:
        target_images = load_images(target_cfg, key="data.target", parent=data)
        normalise_like_source(target_images, source_images, str(target_cfg.get("stats", "own")))
        if tuple(source_images.shape) != tuple(target_images.shape):
            raise UserError(
                f"{source_images.name} images are {source_images.shape} but {target_images.name} "
                f"images are {target_images.shape} (channels, height, width); pick a target "
                f"dataset of the same shape."
            )
        source = (
            superclass_split(source_images, data).source
            if how == "superclasses"
            else pick_classes(
                source_images.num_classes,
                data.source_classes,
                seed,
                "classes",
                "data.source_classes",
            )
        )
        target = pick_classes(
            target_images.num_classes,
            target_cfg.get("classes"),
            seed,
            "target-classes",
            "data.target.classes",
        )
        split = ClassSplit(source=source, target=target)
    else:
        target_images = source_images
        if how == "superclasses":
            split = superclass_split(source_images, data)
        else:
            split = split_classes(
                source_images.num_classes,
                plain(data.source_classes),
                plain(data.target_classes),
                seed,
            )
        direction = str(data.get("direction", "AB"))
        assert direction in ("AB", "BA"), "config/checks.py"
        if direction == "BA":
            split = ClassSplit(source=split.target, target=split.source)
    heads = heads if split.source else 0  # no A (a pretrained source): no partitions of it
    task_a = _task(source_images, split.source, data, heads, budget=False)
    task_b = _task(target_images, split.target, data, 0, budget=True)
    warn_if_budget_capped(target_images, task_b, data.get("per_class"))
    return JobData(source_images, target_images, split, task_a, task_b)
