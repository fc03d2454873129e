"""Before anything runs: compose every job of a run or sweep as Hydra will, and check each.

A bad setting, or one of Hydra's composition errors (an unknown config name, a key that does
not exist, an override it cannot parse), stops the command in one sentence per problem,
before a folder is made or data is read. Then each distinct dataset's files are looked for
once (not read), and, when this machine will train, each distinct backbone is built once.
Each job is composed once per process: the sweeper plans and launches from the same config.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from omegaconf import DictConfig, OmegaConf

from transfer_lab.cli.hydra_errors import check_added_launcher_keys, composition_sentence
from transfer_lab.config.checks import problems
from transfer_lab.config.folders import check_folders
from transfer_lab.data.files import data_problems, datasets_of, image_shape
from transfer_lab.errors import UserError
from transfer_lab.machine import runs_elsewhere
from transfer_lab.sweep.compose import sweep_config
from transfer_lab.sweep.plan import launch_overrides


def check_command_line(args: list[str], multirun: bool) -> DictConfig:
    """Compose every job of a run or sweep as Hydra will, and check each before anything runs;
    returns the run's or sweep's own config (Hydra's "master" config).

    Hydra's own composition errors (an unknown config name, a key that does not exist, an
    override it cannot parse) become one sentence too, with the closest valid name.
    """
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from transfer_lab.config.paths import config_dir

    overrides = [a for a in args if not a.startswith("-")]
    if multirun and not any(o.startswith("hydra.mode=") for o in overrides):
        overrides.append("hydra.mode=MULTIRUN")  # what hydra.main adds for --multirun
    mode = RunMode.MULTIRUN if multirun else RunMode.RUN
    # job_name: what hydra.main names the job, after the task function's file (job/task.py)
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir()), job_name="task"):
        loader = GlobalHydra.instance().config_loader()
        try:
            master = loader.load_configuration("config", overrides, run_mode=mode)
            check_added_launcher_keys(overrides)
            if multirun:
                HydraConfig.instance().set_config(master)
                early = unswept_problems(master, overrides, loader)
                if early:
                    raise UserError("\n".join(early))
            grid = _grid_of(loader, master, overrides) if multirun else None
            say_checking(1 if grid is None else len(grid))
            if grid is not None and not _changes_data(grid):  # every job reads what master
                HydraConfig.instance().set_config(master)  # reads: refused before composing
                check_data([master])
            jobs = [master] if grid is None else _composed(loader, master, grid)
        except UserError:
            raise
        except Exception as error:
            raise UserError(composition_sentence(error, overrides)) from None
        found: list[str] = []
        for cfg in jobs:
            HydraConfig.instance().set_config(cfg)
            try:
                sentences = problems(cfg)
            except Exception as error:  # a section removed (~model) or of the wrong kind
                sentences = [
                    f"the composed config lacks or misshapes a setting transfer_lab needs "
                    f"({composition_sentence(error).rstrip('.')}); keep the defaults' sections."
                ]
            for sentence in [*sentences, *source_problems(cfg)]:
                if sentence not in found:
                    found.append(sentence)
        if found:
            raise UserError("\n".join(found))
        # What the data and backbone checks read (${hydra:runtime.cwd}) is the sweep's own
        HydraConfig.instance().set_config(master)
        check_data(jobs)
        check_folders(master, multirun)
        here = not runs_elsewhere(OmegaConf.to_container(master.hydra.launcher, resolve=False))
        if here:  # torch: only once everything torch-free has passed
            check_backbones(jobs)
        check_runs(jobs, here, builds_lightning(overrides))  # Lightning: last, if given
    return master


def source_problems(cfg: DictConfig) -> list[str]:
    """data.source_classes=0 leaves A empty: a job that needs A's source (a transfer arm, or the
    measures, which measure A's source) must be given its weights instead (torch-free)."""
    from transfer_lab.transfer.arms import TRANSFER, parse_arm

    if cfg.data.get("source_classes") != 0:
        return []
    if cfg.source.get("pretrained") is not None or cfg.source.get("weights") is not None:
        return []
    arm = cfg.transfer.get("arm")
    treatment = parse_arm(arm)[0] if arm is not None else cfg.transfer.get("treatment")
    if treatment != TRANSFER and not cfg.measures.get("enabled"):
        return []
    return [
        "data.source_classes=0 leaves A no classes to train a source on; give the source's "
        "weights (source.weights=PATH, or source.pretrained=torchvision|timm) or classes to A."
    ]


def say_checking(jobs: int) -> None:
    """The command's first line, before the seconds that composing jobs and importing torch
    take (well within one second of CPU from the start)."""
    print(f"checking {jobs} job{'s' if jobs != 1 else ''} before anything runs …", flush=True)


def unswept_problems(master: DictConfig, overrides: list[str], loader: Any) -> list[str]:
    """Bad values of settings that no job of the sweep changes, found on the sweep's own config,
    so that a sweep of many jobs refuses them without composing each (none when a config
    group is swept, since that can change any setting)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from transfer_lab.config.schema import value_problems

    params = [f"{k}={v}" for k, v in (master.hydra.sweeper.get("params") or {}).items()]
    parsed = OverridesParser.create(config_loader=loader).parse_overrides(params + overrides)
    swept = [o.get_key_element().lstrip("+~") for o in parsed if o.is_sweep_override()]
    if any("." not in key or "@" in key or "/" in key for key in swept):
        return []
    found = value_problems(master)
    keys = [sentence.split("=")[0].split(" ")[0] for sentence in found]
    return [  # a rule relating settings names each of them: none of those may be swept
        sentence
        for sentence, key in zip(found, keys, strict=True)
        if not any(key == k or key.startswith(k + ".") or k in sentence for k in swept)
    ]


def _grid_of(loader: Any, master: DictConfig, overrides: list[str]) -> list[list[str]] | None:
    """Each job's overrides of a sweep, as Hydra's basic sweeper will build them (None: Optuna,
    Ax, …, whose points are chosen while the sweep runs)."""
    from transfer_lab.sweep.grid import grid

    sweeper = master.hydra.sweeper
    target = str(sweeper.get("_target_", ""))
    if not any(name in target for name in ("BasicSweeper", "SourcesFirstSweeper")):
        return None
    params = {str(k): str(v) for k, v in (sweeper.get("params") or {}).items()}
    check_no_repeats(params, overrides, loader)
    task = [o for o in overrides if not o.lstrip("+~").startswith(("hydra.", "hydra/"))]
    return grid(params, task, loader)


def _composed(loader: Any, master: DictConfig, grid: list[list[str]]) -> list[DictConfig]:
    """Each job's config, composed as the sweeper plans and the launcher runs it, once
    (sweep/compose.py)."""
    return [sweep_config(loader, master, launch_overrides(job, n)) for n, job in enumerate(grid)]


# Overrides that change which files a job reads (its dataset, their folders, a download).
DATA_KEYS = ("data/", "data.root", "data.reader", "data.download", "data.target", "paths.")


def _reads(overrides: list[str]) -> tuple[str, ...]:
    """The overrides of a job that change which files it reads."""
    keys = [o.lstrip("+~").split("=", 1)[0] for o in overrides]
    return tuple(
        o for o, k in zip(overrides, keys, strict=True) if k == "data" or k.startswith(DATA_KEYS)
    )


def _changes_data(grid: list[list[str]]) -> bool:
    """Whether the jobs of a grid differ in what data they read."""
    return len({_reads(job) for job in grid}) > 1


def check_data(configs: Iterable[DictConfig]) -> None:
    """Look for each distinct dataset's files once (not read) and check every job's class counts
    against the data's: a missing dataset or a class count it cannot meet is one sentence for
    the whole sweep, before anything starts. (HydraConfig holds the sweep's config.)"""
    found = data_problems(list(configs))
    if found:
        raise UserError("\n".join(found))


# What the optimisers, schedulers, callbacks, loggers and Trainer are built from (and whether
# the target has copied stages, config/runs.copies_stages).
RUN_KEYS = ("source", "target", "model", "callbacks", "logger", "trainer")
LIGHTNING_SECTIONS = ("trainer", "callbacks", "logger")


def builds_lightning(overrides: list[str]) -> bool:
    """Whether the command sets a Trainer, callback or logger setting (a key or a group): only
    then are those built dry before the run. The shipped groups and experiments are built by the
    tests, and importing Lightning costs seconds a check that needs no more should not pay."""
    keys = [o.lstrip("+~").split("=", 1)[0] for o in overrides]
    return any(k.split(".")[0].split("@")[0] in LIGHTNING_SECTIONS for k in keys)


def check_runs(jobs: Iterable[DictConfig], here: bool, lightning: bool = True) -> None:
    """Build each distinct job's optimisers and schedulers, and where `lightning` its callbacks,
    loggers (and, when this machine runs it, its Trainer) once, without data (config/runs.py)."""
    from transfer_lab.config.runs import copies_stages, run_problems

    seen, found = set(), []
    for cfg in jobs:
        parts = {k: OmegaConf.to_container(cfg.get(k), resolve=True) for k in RUN_KEYS}
        key = json.dumps([parts, copies_stages(cfg)], sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            found += [s for s in run_problems(cfg, here, lightning) if s not in found]
    if found:
        raise UserError("\n".join(found))


def check_backbones(jobs: Iterable[DictConfig]) -> None:
    """Build each distinct backbone of the jobs once, for its dataset's images, on the meta
    device; a class that cannot be built with the job's arguments is one sentence, here. The
    images' shape comes from the dataset's registration, so that refusal reads no data; then
    each dataset is read (once per process: the jobs reuse it), so bad data is refused too."""
    from transfer_lab.config.checks import meta_stage_names
    from transfer_lab.data.loading import load_images
    from transfer_lab.models.pretrained import load_pretrained, pretrained_kind, serve_as_trained

    jobs, seen = list(jobs), set()
    for cfg in jobs:
        serve_as_trained(cfg)  # an image folder at its defaults: the weights' input size
        backbone = OmegaConf.to_container(cfg.backbone, resolve=True)
        weights = [cfg.source.get("pretrained"), cfg.source.get("weights")]
        key = json.dumps([backbone, weights, *datasets_of(cfg)], sort_keys=True, default=str)
        if key in seen:
            continue
        seen.add(key)
        shape = image_shape(cfg.data)  # from the dataset's registration, else by reading it
        channels, size, _ = shape if shape is not None else load_images(cfg.data).shape
        try:
            meta_stage_names(json.dumps(backbone, sort_keys=True), channels, size)
        except UserError:
            raise
        except Exception as error:  # noqa: BLE001 (any failure of a user's class is the answer)
            cause = error.__cause__ or error
            name = cfg.backbone.get("_target_") or cfg.backbone.get("name")
            raise UserError(
                f"the backbone {name} cannot be built for {channels}-channel {size}×{size} "
                f"images ({type(cause).__name__}: {str(cause).splitlines()[0]}); its class must "
                f"take in_channels and image_size besides the keys under backbone, as "
                f"docs/backbones.md says."
            ) from None
        if pretrained_kind(cfg.source) is not None:  # found, readable, fitting the backbone
            load_pretrained(cfg, channels, size)
    read = {json.dumps([*datasets_of(cfg)]): cfg.data for cfg in jobs}
    for data in read.values():
        load_images(data)


def check_no_repeats(params: dict[str, str], overrides: list[str], loader: Any) -> None:
    """A sweep value given twice (`model.beta=0,0`) would train the same job twice."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    texts = [f"{k}={v}" for k, v in params.items()] + list(overrides)
    for override in OverridesParser.create(config_loader=loader).parse_overrides(texts):
        if not override.is_sweep_override():
            continue
        values = list(override.sweep_iterator())
        twice = [str(v) for i, v in enumerate(values) if v in values[:i]]
        if twice:
            raise UserError(
                f"{override.input_line} gives {', '.join(twice)} more than once, which would "
                f"train the same job twice; list each value once."
            )
