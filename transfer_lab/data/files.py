"""A job's datasets before they are read, torch-free: which readers with which keywords, whether
their files are there, and whether the classes a config asks for exist.

The pre-flight asks this once per distinct dataset of a sweep, so missing data or a class count
the data cannot meet is one sentence before anything starts, not one failure per job. Every
answer comes from the dataset's registration (data/datasets/).
"""

from __future__ import annotations

import json
from typing import Any

from transfer_lab.data.datasets.registry import Classes, MissingFiles, dataset_for
from transfer_lab.errors import UserError


def reader_arguments(data: Any, parent: Any = None) -> tuple[str, dict[str, Any]]:
    """A dataset config's reader `_target_` and the keywords `load_images` calls it with."""
    from omegaconf import OmegaConf

    reader = OmegaConf.to_container(data.reader, resolve=True)
    target = reader.pop("_target_")
    kwargs: dict[str, Any] = {"root": data.root, "download": bool(data.download)}
    check_md5 = data.get("check_md5", parent.get("check_md5") if parent is not None else None)
    if check_md5 is not None:
        kwargs["check_md5"] = bool(check_md5)
    return target, {**reader, **kwargs}


def datasets_of(cfg: Any) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """A job's datasets, each as (config key, reader, keywords), keyed by what tells them apart."""
    specs = [("data", cfg.data, None)]
    if cfg.data.get("target") is not None:
        specs.append(("data.target", cfg.data.target, cfg.data))
    found = {}
    for key, data, parent in specs:
        target, kwargs = reader_arguments(data, parent)
        found[json.dumps([target, kwargs], sort_keys=True, default=str)] = (key, target, kwargs)
    return found


def survey(key: str, target: str, kwargs: dict[str, Any]) -> Classes | None:
    """A dataset's classes, from its registration or counted from its files, after checking the
    files are there (`UserError`: one sentence naming `key`). None: to be downloaded, or a
    reader nobody registered, which says what is wrong itself when it runs."""
    dataset = dataset_for(target)
    if dataset is None or kwargs.get("download"):
        return None
    try:
        return dataset.class_counts(**kwargs)
    except MissingFiles as missing:
        raise UserError(missing.sentence(key)) from None


def image_shape(data: Any) -> tuple[int, int, int] | None:
    """(channels, height, width) of a dataset config's images, from its registration, without
    reading them (None: a reader that does not say, or a download still to come)."""
    target, kwargs = reader_arguments(data)
    dataset = dataset_for(target)
    if dataset is None or dataset.shape is None or kwargs.get("download"):
        return None
    return dataset.shape(**kwargs)


def _count(value: Any) -> int:
    return value if isinstance(value, int) else len(value)


def class_problems(cfg: Any, classes: dict[str, Classes | None]) -> list[str]:
    """A job's class settings against the classes its data has (`classes` by config key): one
    sentence for each setting the data cannot meet."""
    from omegaconf import OmegaConf

    data = OmegaConf.to_container(cfg.data, resolve=True)
    target, own = data.get("target"), classes.get("data")
    found = []
    if target is not None and classes.get("data.target") is not None:
        total = classes["data.target"].count
        found += _asked("data.target.classes", target.get("classes"), total, target.get("name"))
    if own is None or own.count is None or data.get("split", "random") != "random":
        return found
    total, name = own.count, data.get("name")
    a, b = data.get("source_classes"), None if target is not None else data.get("target_classes")
    for key, value in (("data.source_classes", a), ("data.target_classes", b)):
        if isinstance(value, list):
            found += _asked(key, value, total, name)
    if found or target is not None or a is None:
        return found
    if b is not None and _count(a) + _count(b) > total:
        return [
            f"data.source_classes={a} and data.target_classes={b} ask for "
            f"{_count(a) + _count(b)} classes but {name} has {total}; make them add up to at "
            f"most {total}."
        ]
    if b is None and total - _count(a) < 2:
        return [
            f"data.source_classes={a} leaves {max(total - _count(a), 0)} of {name}'s {total} "
            f"classes for B (data.target_classes=null takes the rest), which needs at least 2; "
            f"use at most {total - 2} source classes."
        ]
    return []


def _asked(key: str, value: Any, total: int | None, name: Any) -> list[str]:
    """A class setting (a count or ids) that the dataset's `total` classes cannot meet."""
    if value is None or total is None:
        return []
    if isinstance(value, int):
        if value > total:
            return [
                f"{key}={value} asks for more classes than {name}'s {total}; use at most {total}."
            ]
        return []
    bad = [c for c in value if not 0 <= int(c) < total]
    if bad:
        return [f"{key} lists class ids {bad}, which {name} lacks; its ids are 0..{total - 1}."]
    return []


def data_problems(configs: list[Any]) -> list[str]:
    """Each distinct dataset of the jobs looked for once (not read), then every job's class
    settings checked against what it has: one sentence per problem."""
    surveyed: dict[str, Classes | None] = {}
    found: list[str] = []
    for cfg in configs:
        try:
            specs = datasets_of(cfg)
        except Exception:  # noqa: BLE001 (a misshapen data section is a config problem)
            continue
        classes = {}
        for name, spec in specs.items():
            if name not in surveyed:
                try:
                    surveyed[name] = survey(*spec)
                except UserError as error:
                    surveyed[name] = None
                    found.append(str(error))
            classes[spec[0]] = surveyed[name]
        found += class_problems(cfg, classes)
    return list(dict.fromkeys(found))
