"""Class splits, binary partitions, validation carve-outs and data budgets as pure functions.

Everything here is decided by the split seed alone, through NumPy generators seeded with
integer tuples, so the same seed gives the same split in any process on any machine.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from transfer_lab.errors import UserError


def rng_for(split_seed: int, *purpose: str | int) -> np.random.Generator:
    """A generator for one purpose of one split seed; purposes never share a stream."""
    tags = [zlib.crc32(p.encode()) if isinstance(p, str) else int(p) for p in purpose]
    return np.random.default_rng([int(split_seed), *tags])


@dataclass(frozen=True)
class ClassSplit:
    """Source task A and target task B as sorted lists of original class ids."""

    source: tuple[int, ...]
    target: tuple[int, ...]


def split_classes(
    num_classes: int,
    source: int | Sequence[int],
    target: int | Sequence[int] | None,
    split_seed: int,
) -> ClassSplit:
    """Draw disjoint A and B from `num_classes` classes.

    `source`/`target` are sizes (drawn at random from the split seed) or explicit class lists.
    A target of None takes every class not in A. A source of 0 means no A: every class (or
    `target` of them) goes to B, as when the source network comes pretrained.
    """
    explicit_a = not isinstance(source, int)
    explicit_b = target is not None and not isinstance(target, int)
    for given in (source, target):
        if given is not None and not isinstance(given, int):
            bad = [c for c in given if not 0 <= int(c) < num_classes]
            if bad:
                raise UserError(
                    f"class ids {bad} are outside 0..{num_classes - 1}; "
                    f"pick classes that this dataset has."
                )
    order = [int(c) for c in rng_for(split_seed, "classes").permutation(num_classes)]
    if explicit_a:
        a = [int(c) for c in source]
    else:
        a = [c for c in order if not explicit_b or c not in set(target)][: int(source)]
    rest = [c for c in order if c not in set(a)]
    if explicit_b:
        b = [int(c) for c in target]
    elif target is None:
        b = rest
    else:
        b = rest[: int(target)]
    no_a = not explicit_a and int(source) == 0
    sizes_ok = (
        (len(a) > 1 or no_a)
        and len(b) > 1
        and (explicit_a or len(a) == int(source))
        and (explicit_b or target is None or len(b) == int(target))
    )
    if not sizes_ok:
        raise UserError(
            f"cannot draw {source} source and {target} target classes from {num_classes} classes; "
            f"set data.source_classes and data.target_classes so that both are at least 2 (or "
            f"data.source_classes=0: no A) and together at most {num_classes}."
        )
    if set(a) & set(b):
        raise UserError(
            f"source and target classes overlap in {sorted(set(a) & set(b))}; "
            f"give data.source_classes and data.target_classes disjoint lists."
        )
    return ClassSplit(source=tuple(sorted(a)), target=tuple(sorted(b)))


def binary_partitions(num_classes: int, count: int, split_seed: int) -> np.ndarray:
    """`count` distinct balanced binary partitions of `num_classes` task classes.

    Returns a (count, num_classes) 0/1 array: row k says which classes head k calls positive.
    A partition and its complement are the same task, so they are never both drawn.
    """
    if count == 0:
        return np.zeros((0, num_classes), dtype=np.int64)
    half = num_classes // 2
    possible = math.comb(num_classes, half) // (2 if 2 * half == num_classes else 1)
    if count > possible:
        raise UserError(
            f"{num_classes} classes have only {possible} distinct balanced halves, "
            f"so model.binary_heads={count} is too many; use at most {possible}."
        )
    rng = rng_for(split_seed, "binary")
    seen: set[frozenset[int]] = set()
    rows = []
    while len(rows) < count:
        positive = frozenset(int(c) for c in rng.permutation(num_classes)[:half])
        complement = frozenset(range(num_classes)) - positive
        if positive in seen or complement in seen:
            continue
        seen.add(positive)
        rows.append([int(c in positive) for c in range(num_classes)])
    return np.asarray(rows, dtype=np.int64)


def grouped_partitions(groups: Sequence[int], count: int, split_seed: int) -> np.ndarray:
    """`count` binary partitions of task classes that keep each group (superclass) whole.

    `groups[i]` is task class i's group; each partition is a balanced half of the groups present
    (drawn as `binary_partitions` draws halves of classes), spread to their classes.
    """
    present = sorted({int(g) for g in groups})
    if count > 0 and len(present) < 2:
        raise UserError(
            f"the source classes all belong to {len(present)} superclass, so they cannot be "
            f"split by superclass; set data.binary=random or choose classes from several superclasses."
        )
    where = {g: i for i, g in enumerate(present)}
    try:
        halves = binary_partitions(len(present), count, split_seed)
    except UserError:
        raise UserError(
            f"the source classes span {len(present)} superclasses, too few for "
            f"model.binary_heads={count} distinct superclass partitions; use fewer heads or "
            f"data.binary=random."
        ) from None
    return halves[:, [where[int(g)] for g in groups]]


def stratified_carve(
    labels: np.ndarray, fraction: float, split_seed: int, purpose: str
) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (kept, carved) with `fraction` of every class carved out."""
    kept, carved = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng_for(split_seed, purpose, int(c)).permutation(len(idx))]
        n = min(len(idx) - 1, max(1, round(fraction * len(idx)))) if fraction > 0 else 0
        carved.append(idx[:n])
        kept.append(idx[n:])
    return _joined(kept), _joined(carved)


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    """Sorted indices of all parts (none for a task without classes: no A)."""
    return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)


def budget_indices(
    labels: np.ndarray,
    split_seed: int,
    fraction: float = 1.0,
    per_class: int | None = None,
) -> np.ndarray:
    """Indices of a stratified data budget: `fraction` of every class, or `per_class` images.

    Each class is shuffled once by the split seed and the budget takes a prefix, so a smaller
    budget's images are always a subset of a larger one's.
    """
    if per_class is None and not 0 < fraction <= 1:
        raise UserError(f"data.fraction={fraction} is not in (0, 1]; use e.g. data.fraction=0.1.")
    if per_class is not None and per_class < 1:
        raise UserError(f"data.per_class={per_class} must be a positive number of images.")
    chosen = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng_for(split_seed, "budget", int(c)).permutation(len(idx))]
        n = (
            min(per_class, len(idx))
            if per_class is not None
            else max(1, math.ceil(fraction * len(idx)))
        )
        chosen.append(idx[:n])
    return _joined(chosen)


@dataclass(frozen=True)
class Task:
    """One classification task carved from a dataset: its classes and its index sets."""

    classes: tuple[int, ...]
    train: np.ndarray  # indices into the dataset's training images (after budget)
    val: np.ndarray  # indices into the dataset's training images (validation carve-out)
    test: np.ndarray  # indices into the dataset's test images
    binary: np.ndarray  # (K, len(classes)) partitions over task labels 0..len(classes)-1


def make_task(
    train_labels: np.ndarray,
    test_labels: np.ndarray,
    classes: Sequence[int],
    split_seed: int,
    val_fraction: float,
    fraction: float = 1.0,
    per_class: int | None = None,
    binary_heads: int = 0,
    groups: Sequence[int] | None = None,
    val_from_budget: bool = False,
) -> Task:
    """Restrict a dataset to `classes`, carve validation, apply the budget, draw partitions.

    Validation comes from the full training set before the budget is drawn (the studies' way),
    or, with `val_from_budget`, from the budget itself, so that train + validation are all the
    labelled images the task uses. With `groups` (each class's superclass) the binary partitions
    keep superclasses whole.
    """
    classes = tuple(int(c) for c in classes)
    in_train = np.flatnonzero(np.isin(train_labels, classes))
    if val_from_budget:
        budget = in_train[budget_indices(train_labels[in_train], split_seed, fraction, per_class)]
        kept, carved = stratified_carve(train_labels[budget], val_fraction, split_seed, "val")
        train, val = budget[kept], budget[carved]
        if val_fraction > 0 and len(val) == 0:
            raise UserError(
                "data.val_from_budget=true leaves no validation image: every class has a single "
                "image in its budget; give B a larger budget or set data.val_from_budget=false."
            )
    else:
        kept, carved = stratified_carve(train_labels[in_train], val_fraction, split_seed, "val")
        kept_idx = in_train[kept]
        train = kept_idx[budget_indices(train_labels[kept_idx], split_seed, fraction, per_class)]
        val = in_train[carved]
    return Task(
        classes=classes,
        train=train,
        val=val,
        test=np.flatnonzero(np.isin(test_labels, classes)),
        binary=(
            binary_partitions(len(classes), binary_heads, split_seed)
            if groups is None
            else grouped_partitions(groups, binary_heads, split_seed)
        ),
    )


def label_map(classes: Sequence[int], num_classes: int) -> np.ndarray:
    """Original label -> task label 0..len(classes)-1 (and -1 for classes outside the task)."""
    mapping = np.full(num_classes, -1, dtype=np.int64)
    mapping[list(classes)] = np.arange(len(classes))
    return mapping
