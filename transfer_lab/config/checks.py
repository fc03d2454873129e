"""Refuse a composed config that cannot mean anything, before any work is done or written.

`problems(cfg)` lists every problem of one job's config, one sentence each (what is wrong, how
to fix it); `validate(cfg)` raises them as one UserError. `cli/preflight.py` applies them to
every job of a run or sweep before anything runs; each job applies them again to its own config.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from omegaconf import DictConfig, OmegaConf

from transfer_lab.errors import UserError
from transfer_lab.train.selection import monitor_for

# Trainer keys transfer_lab passes itself, and where the user sets them instead.
RESERVED_TRAINER_KEYS = {
    "max_epochs": "source.epochs and target.epochs",
    "min_epochs": "source.epochs and target.epochs",
    "callbacks": "the callbacks group ('callbacks=[progress_bar,lr_monitor,early_stopping]')",
    "logger": "the logger group ('logger=[tensorboard,csv]')",
    "default_root_dir": "hydra.run.dir (or hydra.sweep.dir for a sweep)",
}
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")
PRECISIONS = (
    "auto",
    "64-true",
    "32-true",
    "16-true",
    "bf16-true",
    "16-mixed",
    "bf16-mixed",
    "64",
    "32",
    "16",
    "bf16",
    64,
    32,
    16,
)
SEED_MAX = 2**32 - 1


def closest(name: Any, valid: Iterable[str]) -> str:
    """The hint ' (did you mean X?)' with the valid name closest to `name`, or '' if none is."""
    match = difflib.get_close_matches(str(name), [str(v) for v in valid], n=1, cutoff=0.5)
    return f" (did you mean {match[0]}?)" if match else ""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class Checks:
    """Collects one sentence per problem found in a config."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def add(self, sentence: str) -> None:
        self.problems.append(sentence)

    def integer(
        self,
        key: str,
        value: Any,
        low: int | None = None,
        high: int | None = None,
        example: Any = None,
        optional: bool = False,
    ) -> bool:
        """An integer in [low, high]; None is accepted when `optional`."""
        if value is None and optional:
            return True
        where = _range(low, high)
        hint = f", e.g. {key}={example}" if example is not None else ""
        if not _is_int(value):
            self.add(f"{key}={value!r} is not a whole number; give one that is {where}{hint}.")
            return False
        if (low is not None and value < low) or (high is not None and value > high):
            self.add(f"{key}={value} is out of range; it must be {where}{hint}.")
            return False
        return True

    def number(
        self,
        key: str,
        value: Any,
        low: float,
        high: float | None = None,
        open_low: bool = False,
        open_high: bool = False,
        example: Any = None,
    ) -> bool:
        """A number in the interval from low to high (each end open or closed)."""
        if high is None:
            where = f"more than {low}" if open_low else f"{low} or more"
        else:
            where = f"in {'(' if open_low else '['}{low}, {high}{')' if open_high else ']'}"
        hint = f", e.g. {key}={example}" if example is not None else ""
        if not _is_number(value):
            self.add(f"{key}={value!r} is not a number; give one {where}{hint}.")
            return False
        too_low = value <= low if open_low else value < low
        too_high = high is not None and (value >= high if open_high else value > high)
        if too_low or too_high:
            self.add(f"{key}={value} is out of range; it must be {where}{hint}.")
            return False
        return True

    def choice(self, key: str, value: Any, valid: Iterable[Any]) -> bool:
        valid = list(valid)
        if value in valid:
            return True
        self.add(
            f"{key}={value!r} is not known{closest(value, valid)}; use one of "
            f"{', '.join(str(v) for v in valid)}."
        )
        return False

    def boolean(self, key: str, value: Any) -> bool:
        if isinstance(value, bool):
            return True
        self.add(f"{key}={value!r} is not true or false; write {key}=true or {key}=false.")
        return False


def _range(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"in {low}..{high}"
    if low is not None:
        return f"{low} or more"
    if high is not None:
        return f"{high} or less"
    return ""


def problems(cfg: DictConfig) -> list[str]:
    """Every problem of one job's composed config, one sentence each (empty: fine)."""
    checks = Checks()
    check_seeds(checks, cfg)
    check_model(checks, cfg)
    check_transfer(checks, cfg)
    check_data(checks, cfg)
    check_backbone(checks, cfg)
    for phase in ("source", "target"):
        check_phase(checks, cfg, phase)
    check_trainer(checks, cfg)
    check_lr_scale(checks, cfg)
    check_paper(checks, cfg)
    return checks.problems


PAPER_STATISTICS = ("last", "mean_best")  # or null: no paper


def check_paper(checks: Checks, cfg: DictConfig) -> None:
    """`paper.*` names a statistic the report knows, and sensible epochs and counts for it."""
    paper = cfg.get("paper")
    if paper is None:
        return
    if paper.get("statistic") is not None:
        checks.choice("paper.statistic", paper.get("statistic"), PAPER_STATISTICS)
    checks.integer("paper.epoch", paper.get("epoch"), 1, optional=True, example=60)
    checks.integer("paper.best_n", paper.get("best_n", 10), 1, example=10)


def check_lr_scale(checks: Checks, cfg: DictConfig) -> None:
    """transfer.lr_scale is not silently ignored (each phase's monitor: check_phase)."""
    scheduler = cfg.target.get("scheduler") or {}
    lr_scale = cfg.transfer.get("lr_scale")
    if _is_number(lr_scale) and lr_scale != 1 and "PhaseRates" in str(scheduler.get("_target_")):
        checks.add(
            f"transfer.lr_scale={lr_scale} has no effect under a phases schedule, which sets the "
            "copied stages' rate itself; set it in target.scheduler.phases or leave lr_scale at 1."
        )


def validate(cfg: DictConfig) -> None:
    """Raise UserError naming every problem of the config, one sentence per line."""
    found = problems(cfg)
    if found:
        raise UserError("\n".join(found))


def check_seeds(checks: Checks, cfg: DictConfig) -> None:
    checks.integer("seed", cfg.get("seed"), 0, SEED_MAX, example=0)
    checks.integer("data.split_seed", cfg.data.get("split_seed"), 0, SEED_MAX, example=0)


def check_model(checks: Checks, cfg: DictConfig) -> None:
    beta, heads = cfg.model.get("beta"), cfg.model.get("binary_heads")
    beta_ok = checks.number("model.beta", beta, 0, 1, example=0.4)
    heads_ok = checks.integer("model.binary_heads", heads, 0, example=1)
    if beta_ok and heads_ok and beta > 0 and heads == 0:
        checks.add("model.beta > 0 needs binary heads; set model.binary_heads to 1 or more.")


def check_transfer(checks: Checks, cfg: DictConfig) -> None:
    from transfer_lab.transfer.arms import TREATMENTS, arm_examples, parse_arm

    transfer = cfg.transfer
    checks.number("transfer.lr_scale", transfer.get("lr_scale"), 0, example=1.0)
    checks.boolean("transfer.freeze", transfer.get("freeze"))
    if "freeze_bn_stats" in transfer:
        checks.boolean("transfer.freeze_bn_stats", transfer.freeze_bn_stats)
    for key in ("depth", "freeze_depth"):
        depth = transfer.get(key)
        if depth is None or isinstance(depth, str):
            continue  # all, or a stage name: checked against the backbone's stages
        checks.integer(f"transfer.{key}", depth, 0, example=3)
    arm = transfer.get("arm")
    if arm:
        try:
            parse_arm(arm)
        except UserError as error:
            match = difflib.get_close_matches(str(arm), arm_examples(), n=1, cutoff=0.5)
            hint = f" Did you mean {match[0]}?" if match else ""
            checks.add(str(error) + hint)
    else:
        checks.choice("transfer.treatment", transfer.get("treatment"), TREATMENTS)


def _class_count(value: Any) -> int | None:
    """How many classes a class setting asks for (None: every remaining one)."""
    if value is None:
        return None
    return value if _is_int(value) else len(set(value))


def check_classes(checks: Checks, key: str, value: Any, total: int | None) -> bool:
    """A class setting: null, a count of at least 2, or a list of at least 2 distinct ids."""
    if value is None:
        return True
    if _is_int(value):
        high = total if total is not None else None
        return checks.integer(key, value, 2, high, example=5)
    if isinstance(value, list):
        if not all(_is_int(c) for c in value):
            checks.add(f"{key}={value} must list whole class ids, e.g. {key}=[0,1,2].")
            return False
        if len(set(value)) != len(value):
            checks.add(f"{key}={value} lists a class twice; list each class once.")
            return False
        if len(value) < 2:
            checks.add(f"{key}={value} lists fewer than 2 classes; a task needs at least 2.")
            return False
        if total is not None and [c for c in value if not 0 <= c < total]:
            bad = [c for c in value if not 0 <= c < total]
            checks.add(
                f"{key} lists class ids {bad}, which do not exist; this dataset has ids "
                f"0..{total - 1}."
            )
            return False
        return True
    checks.add(f"{key}={value!r} is neither a number of classes nor a list of class ids.")
    return False


def check_data(checks: Checks, cfg: DictConfig) -> None:
    from transfer_lab.data.augment import RECIPES
    from transfer_lab.data.loading import STATS
    from transfer_lab.data.tasks import BINARY, SPLITS

    data = OmegaConf.to_container(cfg.data, resolve=False)
    checks.number("data.val_fraction", data.get("val_fraction"), 0, 1, True, True, example=0.1)
    if data.get("per_class") is None:
        checks.number("data.fraction", data.get("fraction"), 0, 1, open_low=True, example=0.05)
    else:
        checks.integer("data.per_class", data.get("per_class"), 1, example=60)
    for key in ("batch_size", "eval_batch_size"):
        checks.integer(f"data.{key}", data.get(key), 1, example=64)
    if "num_workers" in data:
        checks.integer("data.num_workers", data["num_workers"], 0, example=4)
    if data.get("image_size") is not None:
        checks.integer("data.image_size", data["image_size"], 4, example=32)
    checks.choice("data.direction", data.get("direction", "AB"), ("AB", "BA"))
    checks.choice("data.split", data.get("split", "random"), SPLITS)
    checks.choice("data.binary", data.get("binary", "random"), BINARY)
    checks.choice("data.augment", data.get("augment", "none"), RECIPES)
    if "val_from_budget" in data:
        checks.boolean("data.val_from_budget", data["val_from_budget"])

    total = data.get("num_classes")
    total = total if _is_int(total) else None
    source, target = data.get("source_classes"), data.get("target_classes")
    in_domain = data.get("target") is None
    ok = check_classes(checks, "data.source_classes", source, total)
    if in_domain:
        ok = check_classes(checks, "data.target_classes", target, total) and ok
        if ok and isinstance(source, list) and isinstance(target, list):
            shared = sorted(set(source) & set(target))
            if shared:
                checks.add(
                    f"data.source_classes and data.target_classes share classes {shared}; "
                    f"A and B must be disjoint."
                )
        elif ok and total is not None and data.get("split", "random") == "random":
            wanted = _class_count(source) + (_class_count(target) or 0)
            if target is not None and wanted > total:
                checks.add(
                    f"data.source_classes={source} and data.target_classes={target} ask for "
                    f"{wanted} classes but {data.get('name')} has {total}; make them add up to "
                    f"at most {total}."
                )
    else:
        target_data = data["target"]
        target_total = target_data.get("num_classes")
        target_total = target_total if _is_int(target_total) else None
        check_classes(checks, "data.target.classes", target_data.get("classes"), target_total)
        checks.choice("data.target.augment", target_data.get("augment", "none"), RECIPES)
        checks.choice("data.target.stats", target_data.get("stats", "own"), STATS)


def check_backbone(checks: Checks, cfg: DictConfig) -> None:
    from transfer_lab.models.registry import list_backbones

    backbone = cfg.get("backbone") or {}
    if "_target_" in backbone:
        return
    name = backbone.get("name")
    checks.choice("backbone.name", name, list_backbones())


def phase_settings(cfg: DictConfig, phase: str) -> list[tuple[str, DictConfig]]:
    """(key prefix, settings) of a phase, and of target.scratch merged over the target's."""
    phase_cfg = cfg[phase]
    found = [(phase, phase_cfg)]
    scratch = phase_cfg.get("scratch")
    if phase == "target" and scratch:
        found.append(("target.scratch", OmegaConf.merge(phase_cfg, scratch)))
    return found


def check_phase(checks: Checks, cfg: DictConfig, phase: str) -> None:
    on_source = phase == "source"
    beta = cfg.model.get("beta") if on_source else 0.0
    heads = cfg.model.get("binary_heads") if on_source else 0
    for prefix, settings in phase_settings(cfg, phase):
        if "monitor" in settings and _is_number(beta) and _is_int(heads):
            try:
                monitor_for(settings, beta, heads)
            except UserError as error:
                text = str(error)
                checks.add(f"{prefix}.{text}" if text.startswith("monitor") else text)
        checks.integer(f"{prefix}.epochs", settings.get("epochs"), 1, example=20)
        checks.integer(
            f"{prefix}.early_stopping", settings.get("early_stopping"), 1, optional=True, example=5
        )
        if "select" in settings:
            checks.choice(f"{prefix}.select", settings.get("select"), ("best", "last"))
        if "test_epochs" in settings and _is_int(settings.get("epochs")):
            from transfer_lab.train.epoch_tests import resolve_test_epochs

            try:
                resolve_test_epochs(settings.get("test_epochs"), int(settings.epochs))
            except (UserError, TypeError, ValueError) as error:
                checks.add(f"{prefix}.{error}")
        optim = settings.get("optim") or {}
        if "lr" in optim:
            checks.number(f"{prefix}.optim.lr", optim.lr, 0, open_low=True, example=0.01)
        if "weight_decay" in optim:
            checks.number(f"{prefix}.optim.weight_decay", optim.weight_decay, 0, example=5e-4)
        if "momentum" in optim:
            checks.number(f"{prefix}.optim.momentum", optim.momentum, 0, 1, open_high=True)
        scheduler = settings.get("scheduler") or {}
        if "gamma" in scheduler:
            checks.number(f"{prefix}.scheduler.gamma", scheduler.gamma, 0, open_low=True)
        milestones = scheduler.get("milestones")
        if milestones is not None and not all(_is_int(m) and m >= 0 for m in milestones):
            checks.add(f"{prefix}.scheduler.milestones must list epochs (whole numbers ≥ 0).")


def check_trainer(checks: Checks, cfg: DictConfig) -> None:
    trainer = OmegaConf.to_container(cfg.trainer, resolve=False)
    for key, instead in RESERVED_TRAINER_KEYS.items():
        if key in trainer:
            checks.add(f"trainer.{key} is set by transfer_lab itself; use {instead} instead.")
    accelerator = trainer.get("accelerator", "auto")
    precision = trainer.get("precision", "auto")
    if checks.choice("trainer.accelerator", accelerator, ACCELERATORS):
        check_devices(checks, accelerator, trainer.get("devices", 1))
    checks.choice("trainer.precision", precision, PRECISIONS)
    from transfer_lab.train.trainer import strategy_for

    try:
        strategy_for(trainer)
    except UserError as error:
        checks.add(str(error))
    if "deterministic" in trainer and trainer["deterministic"] != "warn":
        checks.boolean("trainer.deterministic", trainer["deterministic"])
    if trainer.get("log_every_n_steps") is not None:
        checks.integer("trainer.log_every_n_steps", trainer["log_every_n_steps"], 1)
    if trainer.get("num_sanity_val_steps") is not None:
        checks.integer("trainer.num_sanity_val_steps", trainer["num_sanity_val_steps"], -1)
    for key in ("limit_train_batches", "limit_val_batches", "limit_test_batches"):
        value = trainer.get(key)
        if value is None or (_is_int(value) and value >= 1):
            continue
        checks.number(f"trainer.{key}", value, 0, 1, open_low=True, example=0.5)


def check_devices(checks: Checks, accelerator: str, devices: Any) -> None:
    """Devices that are not there: a GPU without CUDA, more GPUs or CPU processes than exist.

    "There" is the machine the job runs on: this one, or for launcher=slurm what each job asks
    SLURM for (hydra.launcher.gpus_per_node, cpus_per_task), so that a sweep planned on a
    GPU-less login node for GPU nodes is not refused (transfer_lab.machine).
    """
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
        missing = [d for d in devices if not _is_int(d) or not 0 <= d < there]
        if on_gpu and missing:
            checks.add(
                f"trainer.devices lists {missing}, but {machine.has(there, kind)} with ids "
                f"0..{there - 1}; list ids that exist."
            )
        return
    if not _is_int(devices) or devices < 1:
        checks.add(f"trainer.devices={devices!r} is not a positive number of devices (or auto).")
    elif devices > there:
        more = (
            f"ask for more with hydra.launcher.{'gpus_per_node' if on_gpu else 'cpus_per_task'}"
            f"={devices}, or use trainer.devices={there}"
            if machine.requested
            else f"use trainer.devices={there} or fewer"
        )
        checks.add(f"trainer.devices={devices} but {machine.has(there, kind)}; {more}.")
