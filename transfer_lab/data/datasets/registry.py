"""Datasets registered by their reader, as backbones are by name: what each reads, found without
reading and without torch, its classes, and how a file that is not there becomes one sentence.

A reader registers with `@register_dataset(...)`; its key is the dotted name a data config's
`reader._target_` gives it. Registration is what gives a dataset the pre-flight's missing-files
sentence, its class-count check and the read-once cache (data/loading.py).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transfer_lab.errors import UserError


class MissingFiles(UserError):
    """A dataset's files are not where the config says; the message is finished by the caller."""

    def __init__(
        self, dataset: str, root: Path | str, missing: list[str], how: str, downloadable: bool
    ):
        self.dataset, self.root, self.missing = dataset, root, missing
        self.how, self.downloadable = how, downloadable
        super().__init__(self.sentence("data"))

    def sentence(self, key: str) -> str:
        shown = ", ".join(self.missing[:4]) + (
            f" and {len(self.missing) - 4} more" if len(self.missing) > 4 else ""
        )
        fix = f"{self.how} and point {key}.root at it ({key}.root=PATH)"
        if self.downloadable:
            fix += f", or let torchvision fetch it with {key}.download=true"
        return f"{self.dataset} is missing {shown} under {self.root}; {fix}."


@dataclass(frozen=True)
class Classes:
    """How many classes a dataset has and how many training images its smallest class has
    (None: not known before reading)."""

    count: int | None
    smallest: int | None


@dataclass(frozen=True)
class Dataset:
    """A registered reader and what the checks before a run ask of it, all torch-free.

    `locate(**keywords)` returns the files (or folders) the reader would read, or raises
    `MissingFiles`; `classes` and `smallest_class` are fixed facts of the dataset, or `survey`
    counts them from the located files (an image folder), refusing files that cannot be images.
    `shape(**keywords)` is the (channels, height, width) of the images served, known without
    reading them, so the backbone check before a run reads no data.
    """

    title: str
    locate: Callable[..., list[Path]]
    classes: int | None = None
    smallest_class: int | None = None
    survey: Callable[..., Classes] | None = None
    shape: Callable[..., tuple[int, int, int]] | None = None

    def files(self, **keywords: Any) -> list[Path]:
        """What the reader would read with these keywords (`MissingFiles` when not there)."""
        return self.locate(**keywords)

    def class_counts(self, **keywords: Any) -> Classes:
        """The dataset's classes, counted from its files where they are not fixed, once its
        files are found (`MissingFiles` when not)."""
        found = self.files(**keywords)
        if self.survey is None:
            return Classes(self.classes, self.smallest_class)
        return self.survey(found, **keywords)

    def stamp(self, **keywords: Any) -> tuple | None:
        """What the reader would read, each file's size and time (None: a download is asked for
        or a file is missing), so a process reads one copy once."""
        if keywords.get("download"):
            return None
        try:
            found = self.files(**keywords)
        except MissingFiles:
            return None
        return tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in found)


_REGISTRY: dict[str, Dataset] = {}


def reader_name(read: Callable) -> str:
    """The dotted name a config's `reader._target_` gives a reader."""
    return f"{read.__module__}.{read.__qualname__}"


def register_dataset(
    title: str,
    locate: Callable[..., list[Path]],
    classes: int | None = None,
    smallest_class: int | None = None,
    survey: Callable[..., Classes] | None = None,
    shape: tuple[int, int, int] | Callable[..., tuple[int, int, int]] | None = None,
) -> Callable[[Callable], Callable]:
    """Decorator: register a reader `read(root, download, …)` and what it reads; `shape` is its
    images' (channels, height, width), or a function of the reader's keywords giving it."""

    def add(read: Callable) -> Callable:
        size = (lambda **_: tuple(shape)) if isinstance(shape, tuple) else shape
        _REGISTRY[reader_name(read)] = Dataset(title, locate, classes, smallest_class, survey, size)
        return read

    return add


def dataset_for(target: str) -> Dataset | None:
    """The registered dataset of a reader `_target_`, importing its module if need be (None: a
    reader nobody registered, which gets neither the pre-flight's checks nor the cache)."""
    if target not in _REGISTRY and "." in target:
        try:
            importlib.import_module(target.rsplit(".", 1)[0])
        except ImportError:
            return None
    return _REGISTRY.get(target)


def registered() -> dict[str, Dataset]:
    """Every registered reader's dataset, by its `_target_`."""
    return dict(_REGISTRY)


def require(title: str, root: Path, names: list[str], how: str) -> list[Path]:
    """The files `names` under `root`, or `MissingFiles` naming those absent (a folder where a
    file should be counts as absent)."""
    missing = [n for n in names if not (root / n).is_file()]
    if missing:
        raise MissingFiles(title, root, missing, how, True)
    return [root / n for n in names]
