"""Reading a job's datasets: each read once per process where it can be, with how it is served
(augmentation, normalisation, batches), and the data module that serves one task."""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import dataclass
from typing import Any

from hydra.utils import get_method
from omegaconf import DictConfig, OmegaConf

from transfer_lab.data.datasets.registry import MissingFiles, dataset_for, reader_name
from transfer_lab.data.files import reader_arguments
from transfer_lab.data.splits import Task
from transfer_lab.errors import UserError

log = logging.getLogger(__name__)

STATS = ("own", "source")  # how a second dataset (data.target) is normalised


@dataclass
class DataSettings:
    """How one dataset of a job is served: augmentation, normalisation, batches, workers."""

    augment: str
    mean: list[float] | None
    std: list[float] | None
    batch_size: int
    eval_batch_size: int
    num_workers: int


def plain(value: Any) -> Any:
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


_READ: dict[tuple[str, str], Any] = {}  # images already read in this process, per reader and stamp


def read_once(read, arguments: dict[str, Any]):
    """`read(**arguments)`, once per process for a registered reader (data/datasets/).

    Its registration names the files it would read, with their sizes and times (None: a
    download is asked for or files are missing: do not cache; the bundled digits read none).
    Every job gets its own shallow copy (tensors and channel statistics shared, never written),
    so a sweep's planning and its jobs read each dataset once, without a copy of its images per
    job. The copy's `files` are what was read; its `digest()` is computed once, here.
    """
    name = reader_name(read)
    dataset = dataset_for(name)
    stamp = None if dataset is None else dataset.stamp(**arguments)
    if stamp is None:
        return _read(read, arguments, stamp)
    key = (name, json.dumps([arguments, stamp], sort_keys=True, default=str))
    if key not in _READ:
        _READ[key] = _read(read, arguments, stamp)
    return copy.copy(_READ[key])


def _read(read, arguments: dict[str, Any], stamp: tuple | None):
    images = read(**arguments)
    if stamp is None and (dataset := dataset_for(reader_name(read))) is not None:
        stamp = dataset.stamp(**{**arguments, "download": False})  # what a download fetched
    if not getattr(images, "files", None):  # a reader may say it better (a tree: its images)
        images.files = [f"{path} ({size} bytes)" for path, size, _ in stamp or ()]
    images.channel_stats()
    images.digest()
    return images


def load_images(data: DictConfig, key: str = "data", parent: DictConfig | None = None):
    """Read one dataset as its config says; missing files become one sentence naming `key`.
    The files read go to the job's log (and its results.json, from `images.files`)."""
    target, arguments = reader_arguments(data, parent)
    read = get_method(target)  # called directly: Hydra would wrap our errors
    try:
        images = read_once(read, arguments)
    except MissingFiles as missing:
        raise UserError(missing.sentence(key)) from None
    log.info(
        "%s (%s): read %s",
        key,
        images.name,
        ", ".join(images.files) or "no file (the data ships with the code)",
    )
    base = parent if parent is not None else data
    augment = str(data.get("augment", "none"))
    images.settings = DataSettings(
        augment=augment,
        mean=plain(data.get("mean")),
        std=plain(data.get("std")),
        batch_size=int(base.batch_size),
        eval_batch_size=int(base.eval_batch_size),
        num_workers=int(data.get("num_workers", base.get("num_workers", 0))),
    )
    return images


def normalise_like_source(target_images, source_images, stats: str) -> None:
    """`data.target.stats=source`: B is normalised with the statistics A is normalised with.

    CS6784 fed CIFAR-10 to the CIFAR-100 network with CIFAR-100's mean and std, so the copied
    first layer sees inputs scaled as it was trained on.
    """
    assert stats in STATS, "config/checks.py"
    if stats == "own":
        return
    given = source_images.settings
    if given.mean is None or given.std is None:
        mean, std = source_images.channel_stats()
    target_images.settings.mean = mean if given.mean is None else given.mean
    target_images.settings.std = std if given.std is None else given.std


def datamodule_for(images, task: Task, seed: int):
    """The fast device-resident path for in-memory sets, DataLoaders for ImageFolder trees."""
    from transfer_lab.data.datamodule import TaskDataModule  # Lightning: only to serve a task
    from transfer_lab.data.folder import FolderDataModule, FolderSet

    s: DataSettings = images.settings
    if isinstance(images, FolderSet):
        return FolderDataModule(
            images,
            task,
            s.batch_size,
            s.eval_batch_size,
            seed,
            num_workers=s.num_workers,
            mean=s.mean,
            std=s.std,
        )
    return TaskDataModule(
        images,
        task,
        batch_size=s.batch_size,
        eval_batch_size=s.eval_batch_size,
        seed=seed,
        augment=s.augment,
        mean=s.mean,
        std=s.std,
    )
