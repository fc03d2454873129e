"""Before anything runs: compose every job of a run or sweep as Hydra will, and check each.

A bad setting, or one of Hydra's composition errors (an unknown config name, a key that does
not exist, an override it cannot parse), stops the command in one sentence per problem,
before a folder is made or data is read. Then each distinct dataset's files are looked for
once (not read), and, when this machine will train, each distinct backbone is built once.
Each job is composed once per process: the sweeper plans and launches from the same config.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from typing import Any

from omegaconf import DictConfig, OmegaConf

from transfer_lab.config.checks import RESERVED_TRAINER_KEYS, closest, problems
from transfer_lab.config.folders import check_folders
from transfer_lab.data.files import datasets_of, missing_sentence
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
    # job_name: what hydra.main names the job, after the task function's file (cli/main.py)
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir()), job_name="main"):
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
            for sentence in sentences:
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
        check_runs(jobs, here)  # Lightning: last
    return master


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
    """Look for each distinct dataset's files once (not read): a missing dataset is one sentence
    for the whole sweep, before anything starts. (HydraConfig holds the sweep's config.)"""
    datasets: dict = {}
    for cfg in configs:
        with contextlib.suppress(Exception):  # a misshapen data section is a config problem
            for key, spec in datasets_of(cfg).items():
                datasets.setdefault(key, spec)
    missing = [m for spec in datasets.values() if (m := missing_sentence(*spec))]
    if missing:
        raise UserError("\n".join(dict.fromkeys(missing)))


# What the optimisers, schedulers, callbacks, loggers and Trainer are built from (and whether
# the target has copied stages, config/runs.copies_stages).
RUN_KEYS = ("source", "target", "model", "callbacks", "logger", "trainer")


def check_runs(jobs: Iterable[DictConfig], here: bool) -> None:
    """Build each distinct job's optimisers, schedulers, callbacks, loggers (and, when this
    machine runs it, its Trainer) once, without data (config/runs.py)."""
    from transfer_lab.config.runs import copies_stages, run_problems

    seen, found = set(), []
    for cfg in jobs:
        parts = {k: OmegaConf.to_container(cfg.get(k), resolve=True) for k in RUN_KEYS}
        key = json.dumps([parts, copies_stages(cfg)], sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            found += [s for s in run_problems(cfg, here) if s not in found]
    if found:
        raise UserError("\n".join(found))


def check_backbones(jobs: Iterable[DictConfig]) -> None:
    """Build each distinct backbone of the jobs once, for its dataset's images, on the meta
    device; a class that cannot be built with the job's arguments is one sentence, here."""
    from transfer_lab.config.checks import meta_stage_names
    from transfer_lab.data.loading import load_images

    seen = set()
    for cfg in jobs:
        backbone = OmegaConf.to_container(cfg.backbone, resolve=True)
        key = json.dumps([backbone, *datasets_of(cfg)], sort_keys=True, default=str)
        if key in seen:
            continue
        seen.add(key)
        images = load_images(cfg.data)  # read once per process: the jobs reuse it
        channels, size, _ = images.shape
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


def composition_sentence(error: Exception, overrides: Iterable[str] = ()) -> str:
    """Hydra's or OmegaConf's message on one line, with the closest valid name or key."""
    from hydra.errors import MissingConfigException, OverrideParseException

    if isinstance(error, MissingConfigException) and error.missing_cfg_file:
        group, _, name = str(error.missing_cfg_file).rpartition("/")
        options = error.options or group_options(group)
        if options:
            return (
                f"there is no {group} config named {name!r}{closest(name, options)}; use one "
                f"of {', '.join(options)}."
            )
    if isinstance(error, OverrideParseException):
        reason = " ".join(str(error.message).split()).split(" See https")[0].rstrip(".")
        return (
            f"cannot read the override {error.override!r} ({reason}); write KEY=VALUE, quoting "
            f"lists and special characters as in 'data.source_classes=[0,1,2]'."
        )
    lines = [
        line.strip()
        for line in str(error).splitlines()
        if line.strip() and not line.strip().startswith(("full_key:", "object_type", "reference"))
    ]
    message = " ".join(lines) or type(error).__name__
    cause = error.__cause__
    if cause is not None and str(cause).strip() and str(cause).splitlines()[0] not in message:
        message = f"{message.rstrip('.')}: {str(cause).splitlines()[0]}"
    already = _quoted_after(message, "An item is already at")
    launcher_key = already or _quoted_after(message, "Could not override") or ""
    if launcher_key.startswith("hydra.launcher."):
        chosen = [o.split("=", 1)[1] for o in overrides if o.startswith("launcher=")]
        having = launchers_with(launcher_key)
        if not (already and chosen and chosen[-1] in having):
            return launcher_sentence(launcher_key, having)
    if already:
        return f"{already} is already a setting; write {already}=VALUE without the leading +."
    key = _quoted_after(message, "Could not override") or _quoted_after(message, "Key")
    if key and key.startswith("trainer.") and key.split(".", 1)[1] in RESERVED_TRAINER_KEYS:
        name = key.split(".", 1)[1]
        return f"{key} is set by transfer_lab itself; use {RESERVED_TRAINER_KEYS[name]} instead."
    if key and "." in key:
        hint = closest(key, known_keys())
        return f"{key} is not a setting{hint}. Hydra says: {message}"
    return message.rstrip(".") + "."


def group_options(group: str) -> list[str]:
    """The config names of a group (`callbacks` → early_stopping, lr_monitor, …)."""
    from transfer_lab.config.paths import config_dir

    return sorted(p.stem for p in (config_dir() / group).glob("*.yaml"))


def launchers_with(key: str) -> list[str]:
    """The launcher configs that set a hydra.launcher key (n_jobs: parallel)."""
    import yaml

    from transfer_lab.config.paths import config_dir

    name = key.split(".")[2]
    return [
        p.stem
        for p in sorted((config_dir() / "launcher").glob("*.yaml"))
        if name in ((yaml.safe_load(p.read_text()) or {}).get("hydra") or {}).get("launcher", {})
    ]


def check_added_launcher_keys(overrides: list[str]) -> None:
    """`+hydra.launcher.KEY=…` composes only when the launcher in use lacks KEY (else Hydra says
    it is already there), and that launcher would then fail on it: name the launchers that have it."""
    for override in overrides:
        key = override.split("=", 1)[0]
        if key.startswith("+hydra.launcher.") and key.count(".") == 2:
            raise UserError(launcher_sentence(key[1:], launchers_with(key[1:])))


def launcher_sentence(key: str, having: list[str]) -> str:
    """A hydra.launcher key the chosen launcher lacks: name the launchers that have it."""
    if not having:
        return (
            f"{key} is not a setting of any launcher; the launchers are "
            f"{', '.join(group_options('launcher'))} (conf/launcher/)."
        )
    return (
        f"{key} is a setting of launcher={having[0]}, not of the launcher in use; add "
        f"launcher={having[0]} to the command (and write {key}=… without a leading +)."
    )


def _quoted_after(message: str, marker: str) -> str | None:
    """The 'quoted' text right after `marker` in a message, if any."""
    at = message.find(marker)
    if at < 0:
        return None
    rest = message[at + len(marker) :]
    start = rest.find("'")
    end = rest.find("'", start + 1)
    return rest[start + 1 : end] if 0 <= start < end else None


def known_keys() -> list[str]:
    """Every dotted key of the default config (what a typo is compared with)."""
    from hydra import compose

    cfg = compose(config_name="config")
    keys: list[str] = []

    def walk(node: Any, prefix: str) -> None:
        for k, v in node.items_ex(resolve=False) if hasattr(node, "items_ex") else []:
            key = f"{prefix}{k}"
            keys.append(key)
            if isinstance(v, DictConfig):
                walk(v, f"{key}.")

    walk(cfg, "")
    return keys
