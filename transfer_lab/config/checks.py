"""Refuse a composed config that cannot mean anything, before any work is done or written.

Each value is checked against its key's declared type and range, and the rules relating
settings beside them (`config/schema.py`); the rules here need more than the settings: the
dataset's classes, the arm against the backbone's stages, the devices of the machine. `problems(cfg)` lists every problem of one job's config, one sentence each;
`validate(cfg)` raises them as one UserError. `cli/preflight.py` applies them to every job of a
run or sweep before anything runs; each job applies them again to its own config. Torch is
imported only for what needs the backbone's stages or this machine's GPUs.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import json
import math
from typing import Any

from omegaconf import DictConfig, OmegaConf

from transfer_lab.config.schema import (
    RESERVED_TRAINER_KEYS,
    closest,
    is_int,
    value_problems,
)
from transfer_lab.errors import UserError
from transfer_lab.train.selection import SELECTABLE, monitor_for

__all__ = ["RESERVED_TRAINER_KEYS", "closest", "problems", "validate"]


class Checks:
    """One sentence per problem; a rule relating settings runs only on values that passed."""

    def __init__(self, cfg: DictConfig) -> None:
        self.problems = value_problems(cfg)
        self.bad = {sentence.split("=")[0].split(" ")[0] for sentence in self.problems}

    def ok(self, *keys: str) -> bool:
        """Whether these keys' values (or those under a key ending in '.') passed their rules."""
        return not any(
            b == k or (k.endswith(".") and b.startswith(k)) for b in self.bad for k in keys
        )

    def add(self, sentence: str) -> None:
        if sentence not in self.problems:
            self.problems.append(sentence)


def problems(cfg: DictConfig) -> list[str]:
    """Every problem of one job's composed config, one sentence each (empty: fine)."""
    checks = Checks(cfg)
    check_names(checks, cfg)
    check_backbone(checks, cfg)
    check_classes_of(checks, cfg)
    check_budget(checks, cfg)
    check_transfer(checks, cfg)  # last of these: it may build the backbone
    for phase in ("source", "target"):
        check_phase(checks, cfg, phase)
    check_trainer(checks, cfg)
    return checks.problems


def validate(cfg: DictConfig) -> None:
    """Raise UserError naming every problem of the config, one sentence per line."""
    found = problems(cfg)
    if found:
        raise UserError("\n".join(found))


NAME_MAX = 255  # bytes in one file or folder name (Linux, macOS, Windows)
# Hydra's settings that name folders (the others are Hydra's own, checked by Hydra)
HYDRA_FOLDERS = ("hydra.run.dir", "hydra.sweep.dir", "hydra.sweep.subdir")


def check_names(checks: Checks, cfg: DictConfig) -> None:
    """No setting names a file or folder longer than a file system allows (every one would
    fail to be made, after the job had started)."""
    from transfer_lab.config.schema import plain

    texts = [(k, v) for k, v in _texts(plain(cfg), "")]
    for key in HYDRA_FOLDERS:
        with contextlib.suppress(Exception):  # no Hydra section (inside a job), or unresolved
            texts.append((key, str(OmegaConf.select(cfg, key, throw_on_missing=True))))
    for key, text in texts:
        longest = max(text.split("/"), key=lambda part: len(part.encode()))
        if len(longest.encode()) > NAME_MAX:
            checks.add(
                f"{key} holds a name of {len(longest.encode())} bytes ({longest[:20]}…), but a "
                f"file or folder name can have at most {NAME_MAX}; shorten it."
            )


def _texts(node: Any, prefix: str) -> list[tuple[str, str]]:
    """(dotted key, text) of every string in plain values."""
    if isinstance(node, dict):
        return [t for k, v in node.items() for t in _texts(v, f"{prefix}{k}.")]
    if isinstance(node, list):
        return [t for i, v in enumerate(node) for t in _texts(v, f"{prefix[:-1]}[{i}].")]
    return [(prefix[:-1], node)] if isinstance(node, str) else []


def check_transfer(checks: Checks, cfg: DictConfig) -> None:
    """The arm's name, the treatment, and the depths against the backbone's stages."""
    from transfer_lab.transfer.arms import TREATMENTS, arm_examples, parse_arm

    transfer = cfg.transfer
    arm = transfer.get("arm")
    if arm:
        try:
            parse_arm(arm)
        except UserError as error:
            match = difflib.get_close_matches(str(arm), arm_examples(), n=1, cutoff=0.5)
            checks.add(str(error) + (f" Did you mean {match[0]}?" if match else ""))
            return
    elif checks.ok("transfer.treatment") and transfer.get("treatment") not in TREATMENTS:
        treatment = transfer.get("treatment")
        checks.add(
            f"transfer.treatment={treatment!r} is not known{closest(treatment, TREATMENTS)}; "
            f"use one of {', '.join(TREATMENTS)}."
        )
        return
    keys = ("transfer.depth", "transfer.freeze_depth", "transfer.freeze", "backbone.")
    if not checks.ok(*keys):
        return
    depths = (transfer.get("depth"), transfer.get("freeze_depth"))
    every_stage = not arm and all(d in (None, "all") for d in depths)
    if checks.problems or (every_stage and backbone_as_its_file(cfg)):
        return  # refused already, or nothing to check against the stages: no torch to import
    from transfer_lab.transfer.treatments import plan_from_config

    try:
        stages = stage_names(cfg)
        if stages is not None:
            plan_from_config(OmegaConf.to_container(transfer, resolve=True), stages)
    except UserError as error:  # the arm against the stages, or the backbone's own options
        checks.add(str(error))


@functools.cache
def meta_stage_names(backbone_json: str, channels: int, size: int) -> tuple[str, ...]:
    """Build a backbone (as JSON) for channels×size×size images on the meta device, once per
    process: its stage names, or the error its class raises."""
    import torch

    from transfer_lab.models.registry import backbone_from_config

    with torch.device("meta"):  # shapes only: no memory, no initialisation work
        backbone = backbone_from_config(json.loads(backbone_json), channels, size)
    return tuple(backbone.stage_names)


def stage_names(cfg: DictConfig) -> tuple[str, ...] | None:
    """The backbone's stage names, built on the meta device for the input it was designed for
    (None if it cannot be built so; a UserError for options it refuses)."""
    import transfer_lab.models  # noqa: F401  (registers every backbone)
    from transfer_lab.models.registry import default_input

    backbone = OmegaConf.to_container(cfg.backbone, resolve=True)
    try:
        channels, size = default_input(backbone.get("name"))
    except KeyError:
        channels, size = 3, 32
    try:
        return meta_stage_names(json.dumps(backbone, sort_keys=True), channels, size)
    except UserError:
        raise
    except Exception:  # a user's own backbone that fails here fails in the job, with its trace
        return None


def backbone_as_its_file(cfg: DictConfig) -> bool:
    """Whether the backbone is its config file as written (conf/backbone/NAME.yaml), whose
    options tests/test_backbones.py builds; then only a depth needs its stages."""
    import yaml
    from hydra.core.hydra_config import HydraConfig

    from transfer_lab.config.paths import config_dir

    if not HydraConfig.initialized():
        return False
    choice = HydraConfig.get().runtime.choices.get("backbone")
    path = config_dir() / "backbone" / f"{choice}.yaml"
    backbone = OmegaConf.to_container(cfg.backbone, resolve=True)
    return path.exists() and (yaml.safe_load(path.read_text()) or {}) == backbone


def _class_count(value: Any) -> int | None:
    """How many classes a class setting asks for (None: every remaining one)."""
    if value is None:
        return None
    return value if is_int(value) else len(set(value))


def check_classes(checks: Checks, key: str, value: Any, total: int | None) -> bool:
    """A class setting: null, a count of at least 2, or a list of at least 2 distinct ids."""
    if value is None:
        return True
    if not checks.ok(key):
        return False
    if is_int(value):
        if total is not None and value > total:
            checks.add(f"{key}={value} is out of range; it must be in 2..{total}, e.g. {key}=5.")
            return False
        return True
    if len(value) < 2:
        checks.add(f"{key}={value} lists fewer than 2 classes; a task needs at least 2.")
        return False
    bad = [c for c in value if total is not None and not 0 <= c < total]
    if bad:
        checks.add(
            f"{key} lists class ids {bad}, which do not exist; this dataset has ids 0..{total - 1}."
        )
        return False
    return True


def check_classes_of(checks: Checks, cfg: DictConfig) -> None:
    """A and B: within the dataset, disjoint, at least 2 each, and enough for the heads."""
    data = OmegaConf.to_container(cfg.data, resolve=False)
    total = data.get("num_classes") if is_int(data.get("num_classes")) else None
    source, target = data.get("source_classes"), data.get("target_classes")
    random_split = data.get("split", "random") == "random"
    ok = check_classes(checks, "data.source_classes", source, total)
    if data.get("target") is not None:
        target_data = data["target"]
        target_total = target_data.get("num_classes")
        target_total = target_total if is_int(target_total) else None
        check_classes(checks, "data.target.classes", target_data.get("classes"), target_total)
    else:
        ok = check_classes(checks, "data.target_classes", target, total) and ok
        if ok and isinstance(source, list) and isinstance(target, list):
            shared = sorted(set(source) & set(target))
            if shared:
                checks.add(
                    f"data.source_classes and data.target_classes share classes {shared}; "
                    f"A and B must be disjoint."
                )
                return
        elif ok and total is not None and random_split:
            wanted = _class_count(source) + (_class_count(target) or 0)
            if target is not None and wanted > total:
                checks.add(
                    f"data.source_classes={source} and data.target_classes={target} ask for "
                    f"{wanted} classes but {data.get('name')} has {total}; make them add up to "
                    f"at most {total}."
                )
                return
            if target is None and total - _class_count(source) < 2:
                checks.add(
                    f"data.target_classes=null takes the classes not in A, but "
                    f"data.source_classes={source} leaves {total - _class_count(source)} of "
                    f"{data.get('name')}'s {total}; B needs at least 2, so use fewer source "
                    f"classes."
                )
                return
    heads = cfg.model.get("binary_heads")
    a, b = (target, source) if data.get("direction") == "BA" else (source, target)
    size = _class_count(a) if a is not None else total and total - (_class_count(b) or 0)
    binary = data.get("binary", "random") == "random"
    can_draw = ok and size and random_split and binary and checks.ok("model.binary_heads")
    if can_draw and heads > _halves(size):
        checks.add(
            f"model.binary_heads={heads} is too many: A's {size} classes have only "
            f"{_halves(size)} distinct balanced halves; use at most {_halves(size)}."
        )


def _halves(classes: int) -> int:
    """How many distinct balanced binary partitions `classes` classes have."""
    half = classes // 2
    return math.comb(classes, half) // (2 if 2 * half == classes else 1)


def check_budget(checks: Checks, cfg: DictConfig) -> None:
    """A validation carve-out or a budget that rounds to no image of a class, where the
    dataset's smallest class is known (`data.smallest_class`), as data/splits.py rounds them."""
    data = cfg.data
    smallest = data.get("smallest_class")
    if not is_int(smallest) or not checks.ok("data.val_fraction", "data.fraction"):
        return
    val_fraction, name = data.get("val_fraction"), data.get("name")
    carved = round(val_fraction * smallest)
    if carved < 1 or carved >= smallest:
        leaves = "no validation image" if carved < 1 else "no training image"
        checks.add(
            f"data.val_fraction={val_fraction} leaves {leaves} in the smallest class of {name} "
            f"({smallest} training images); use a value in [{1 / smallest:.3g}, "
            f"{1 - 1 / smallest:.3g}]."
        )
        return
    kept, fraction = smallest - carved, data.get("fraction")
    if data.get("per_class") is None and fraction * kept < 0.5:
        checks.add(
            f"data.fraction={fraction} rounds to no image of the smallest class of {name} ({kept} "
            f"training images); use at least {1 / kept:.3g}, or data.per_class=N."
        )


def check_backbone(checks: Checks, cfg: DictConfig) -> None:
    """A registered backbone name (the config files' names need no torch to be known)."""
    backbone = cfg.get("backbone") or {}
    name = backbone.get("name")
    if "_target_" in backbone or not checks.ok("backbone.name"):
        return
    from transfer_lab.config.paths import config_dir

    if (config_dir() / "backbone" / f"{name}.yaml").exists():
        return
    import transfer_lab.models  # noqa: F401  (registers every backbone)
    from transfer_lab.models.registry import list_backbones

    valid = list_backbones()
    if name not in valid:
        checks.add(
            f"backbone.name={name!r} is not known{closest(name, valid)}; use one of "
            f"{', '.join(valid)}."
        )


def phase_settings(cfg: DictConfig, phase: str) -> list[tuple[str, DictConfig]]:
    """(key prefix, settings) of a phase, and of target.scratch merged over the target's."""
    phase_cfg = cfg[phase]
    found = [(phase, phase_cfg)]
    scratch = phase_cfg.get("scratch")
    if phase == "target" and scratch:
        found.append(("target.scratch", OmegaConf.merge(phase_cfg, scratch)))
    return found


def check_phase(checks: Checks, cfg: DictConfig, phase: str) -> None:
    """The monitor the module logs, for the phase's β and heads."""
    on_source = phase == "source"
    beta = cfg.model.get("beta") if on_source else 0.0
    heads = cfg.model.get("binary_heads") if on_source else 0
    if not checks.ok("model.beta", "model.binary_heads"):
        return
    for prefix, settings in phase_settings(cfg, phase):
        if "monitor" in settings and checks.ok(f"{prefix}.monitor", f"{prefix}.monitor_mode"):
            try:
                metric = monitor_for(settings, beta, heads).metric
            except UserError as error:
                text = str(error)
                checks.add(f"{prefix}.{text}" if text.startswith("monitor") else text)
            else:
                if metric not in SELECTABLE:
                    checks.add(
                        f"{prefix}.monitor={metric!r} is not a metric the network logs"
                        f"{closest(metric, sorted(SELECTABLE))}; use one of "
                        f"{', '.join(sorted(SELECTABLE))}."
                    )


def check_trainer(checks: Checks, cfg: DictConfig) -> None:
    """Keys transfer_lab sets itself, the strategy, and the devices this machine has."""
    from transfer_lab.train.strategy import strategy_for

    trainer = OmegaConf.to_container(cfg.trainer, resolve=False)
    for key, instead in RESERVED_TRAINER_KEYS.items():
        if key in trainer:
            checks.add(f"trainer.{key} is set by transfer_lab itself; use {instead} instead.")
    try:
        strategy_for(trainer)
    except UserError as error:
        checks.add(str(error))
    if checks.ok("trainer.accelerator", "trainer.devices"):
        check_devices(checks, trainer.get("accelerator", "auto"), trainer.get("devices", 1))


def check_devices(checks: Checks, accelerator: str, devices: Any) -> None:
    """Devices that are not there: a GPU without CUDA, more GPUs or CPU processes than exist.

    "There" is the machine the job runs on: this one, or for launcher=slurm what each job asks
    SLURM for (hydra.launcher.gpus_per_node, cpus_per_task), so that a sweep planned on a
    GPU-less login node for GPU nodes is not refused (transfer_lab.machine). One device on
    any accelerator is always there, so the usual case asks nothing of torch.
    """
    if devices in (1, "1", "auto", -1, "-1", None) and accelerator in ("auto", "cpu"):
        return
    from transfer_lab.machine import job_machine

    machine = job_machine()
    has_cuda = machine.gpus > 0
    if accelerator in ("gpu", "cuda") and not has_cuda:
        if machine.requested:
            where = "each job asks SLURM for no GPU (hydra.launcher.gpus_per_node=0)"
            fix = "add hydra.launcher.gpus_per_node=1 (or N for trainer=ddp)"
        else:
            where = "this machine has no CUDA GPU"
            fix = "use trainer.accelerator=cpu (or auto, which picks the GPU where there is one)"
        checks.add(f"trainer.accelerator={accelerator} but {where}; {fix}.")
        return
    if devices in ("auto", -1, "-1", None):
        return
    if isinstance(devices, str):
        try:
            devices = [int(d) for d in devices.split(",") if d.strip()]
        except ValueError:
            checks.add(f"trainer.devices={devices!r} is not a count or a list of device ids.")
            return
    on_gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and has_cuda)
    kind, there = ("GPU", machine.gpus) if on_gpu else ("CPU", machine.cpus)
    if isinstance(devices, list):
        missing = [d for d in devices if not is_int(d) or not 0 <= d < there]
        if on_gpu and missing:
            checks.add(
                f"trainer.devices lists {missing}, but {machine.has(there, kind)} with ids "
                f"0..{there - 1}; list ids that exist."
            )
        elif not on_gpu:
            checks.add(
                f"trainer.devices={devices} lists device ids, which only GPUs have; on the CPU "
                f"give a number of processes, e.g. trainer.devices=2 (with trainer=ddp)."
            )
        return
    if not is_int(devices) or devices < 1:
        checks.add(f"trainer.devices={devices!r} is not a positive number of devices (or auto).")
    elif devices > there:
        more = (
            f"ask for more with hydra.launcher.{'gpus_per_node' if on_gpu else 'cpus_per_task'}"
            f"={devices}, or use trainer.devices={there}"
            if machine.requested
            else f"use trainer.devices={there} or fewer"
        )
        checks.add(f"trainer.devices={devices} but {machine.has(there, kind)}; {more}.")
