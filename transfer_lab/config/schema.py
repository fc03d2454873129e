"""Every setting's type and range, declared once; the per-value checks follow from it.

`SCHEMA` maps each dotted key (shell-style patterns allowed) to a rule; `value_problems(cfg)`
walks a composed config and checks every value against its key's rule, one sentence per
problem. A key with no rule is refused (tests/test_validation.py walks every config file, so
a key cannot be added to `conf/` without one). Rules that relate several settings live in
`config/checks.py`. Torch-free, so a bad value is refused before torch is imported.
"""

from __future__ import annotations

import difflib
import fnmatch
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from transfer_lab.train.selection import SELECTABLE

SEED_MAX = 2**32 - 1
# Names the data code knows (data/augment.RECIPES, data/tasks.SPLITS and BINARY,
# data/loading.STATS); tests/test_validation.py pins them to the code's own.
AUGMENT_RECIPES = ("none", "cifar", "svhn", "flip")
SPLITS = ("random", "superclasses")
BINARY = ("random", "superclasses")
TARGET_STATS = ("own", "source")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")
PRECISIONS = ("auto", "64-true", "32-true", "16-true", "bf16-true", "16-mixed", "bf16-mixed")
PRECISIONS += ("64", "32", "16", "bf16", 64, 32, 16)


def closest(name: Any, valid: Iterable[Any]) -> str:
    """The hint ' (did you mean X?)' with the valid name closest to `name`, or '' if none is."""
    match = difflib.get_close_matches(str(name), [str(v) for v in valid], n=1, cutoff=0.5)
    return f" (did you mean {match[0]}?)" if match else ""


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class Whole:
    """A whole number in low..high; `high` may name the phase's epochs ("epochs")."""

    low: int | None = 0
    high: int | str | None = None
    example: Any = None
    null: bool = False

    def problem(self, key: str, value: Any, bounds: Mapping[str, Any]) -> str | None:
        high = bounds.get(self.high) if isinstance(self.high, str) else self.high
        where = _span(self.low, high)
        if isinstance(self.high, str) and high is not None:
            where += " (the phase's epochs)"
        hint = f", e.g. {key}={self.example}" if self.example is not None else ""
        if not is_int(value):
            return f"{key}={value!r} is not a whole number; give one that is {where}{hint}."
        if (self.low is not None and value < self.low) or (high is not None and value > high):
            return f"{key}={value} is out of range; it must be {where}{hint}."
        return None


@dataclass(frozen=True)
class Real:
    """A finite number between low and high, each end open or closed."""

    low: float = 0
    high: float | None = None
    open_low: bool = False
    open_high: bool = False
    example: Any = None
    null: bool = False

    def problem(self, key: str, value: Any, bounds: Mapping[str, Any]) -> str | None:
        if self.high is None:
            where = f"more than {self.low}" if self.open_low else f"{self.low} or more"
        else:
            left, right = "(" if self.open_low else "[", ")" if self.open_high else "]"
            where = f"in {left}{self.low}, {self.high}{right}"
        hint = f", e.g. {key}={self.example}" if self.example is not None else ""
        if not is_number(value):
            return f"{key}={value!r} is not a number; give one {where}{hint}."
        if not math.isfinite(value):
            return f"{key}={value} is not a finite number; give one {where}{hint}."
        too_low = value <= self.low if self.open_low else value < self.low
        too_high = self.high is not None and (
            value >= self.high if self.open_high else value > self.high
        )
        if too_low or too_high:
            return f"{key}={value} is out of range; it must be {where}{hint}."
        return None


@dataclass(frozen=True)
class Flag:
    """true or false, nothing else (YAML's and Hydra's booleans)."""

    null: bool = False

    def problem(self, key: str, value: Any, bounds: Mapping[str, Any]) -> str | None:
        if isinstance(value, bool):
            return None
        return f"{key}={value!r} is not true or false; write {key}=true or {key}=false."


@dataclass(frozen=True)
class OneOf:
    """One of a fixed list of names."""

    values: tuple
    null: bool = False

    def problem(self, key: str, value: Any, bounds: Mapping[str, Any]) -> str | None:
        if not isinstance(value, (list, dict)) and value in self.values:
            return None
        return (
            f"{key}={value!r} is not known{closest(value, self.values)}; use one of "
            f"{', '.join(str(v) for v in self.values)}."
        )


@dataclass(frozen=True)
class Text:
    """A non-empty string (a name, a path, a dotted `_target_`)."""

    null: bool = False

    def problem(self, key: str, value: Any, bounds: Mapping[str, Any]) -> str | None:
        if isinstance(value, str) and value.strip():
            return None
        return f"{key}={value!r} is not a name; give {key} a non-empty value."


@dataclass(frozen=True)
class Many:
    """A list of items of one rule; with `unique`, each at most once (classes, epochs)."""

    item: Any
    unique: bool = False
    null: bool = False

    def problem(self, key: str, value: Any, bounds: Mapping[str, Any]) -> str | None:
        if not isinstance(value, list):
            return f"{key}={value!r} is not a list; write it as {key}=[…]."
        for i, item in enumerate(value):
            found = self.item.problem(f"{key}[{i}]", item, bounds)
            if found:
                return found
        if self.unique and len({json.dumps(v) for v in value}) < len(value):
            return f"{key}={value} lists a value twice; list each once."
        return None


@dataclass(frozen=True)
class Either:
    """The first rule that accepts the value; else the sentence of the first rule of the value's
    kind (a list's, or a single value's)."""

    rules: tuple
    null: bool = False

    def problem(self, key: str, value: Any, bounds: Mapping[str, Any]) -> str | None:
        found = [rule.problem(key, value, bounds) for rule in self.rules]
        if None in found:
            return None
        alike = [
            f
            for r, f in zip(self.rules, found, strict=True)
            if isinstance(r, Many) == isinstance(value, list)
        ]
        return (alike or found)[0]


@dataclass(frozen=True)
class Record:
    """A mapping with these fields (a schedule's phase: {epoch, new, copied})."""

    fields: Mapping[str, Any]
    null: bool = False

    def problem(self, key: str, value: Any, bounds: Mapping[str, Any]) -> str | None:
        if not isinstance(value, dict) or set(value) - set(self.fields):
            return f"{key} entries take only {', '.join(self.fields)}; got {value!r}."
        for name, item in value.items():
            found = self.fields[name].problem(f"{key}.{name}", item, bounds)
            if found:
                return found
        return None


@dataclass(frozen=True)
class Section:
    """A group of settings, or null for none (`data.target`: no second dataset)."""

    null: bool = True

    def problem(self, key: str, value: Any, bounds: Mapping[str, Any]) -> str | None:
        return f"{key}={value!r} is not a group of settings; write {key}=null or use its group."


def _span(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"in {low}..{high}"
    if low is not None:
        return f"{low} or more"
    return f"{high} or less" if high is not None else "any whole number"


TARGET = Text()  # Hydra's `_target_`: a dotted name Hydra instantiates
CONVERT = OneOf(("none", "partial", "object", "all"))
POSITIVE = Real(0, open_low=True)
FRACTION = Real(0, 1, open_high=True)
EPOCHS = Whole(1, example=20)


def _phase(prefix: str) -> dict[str, Any]:
    """The settings of one training phase (source, target, or target.scratch's replacements)."""
    return {
        f"{prefix}.epochs": EPOCHS,
        f"{prefix}.early_stopping": Whole(1, null=True, example=5),
        f"{prefix}.monitor": Text(),
        f"{prefix}.monitor_mode": OneOf(("auto", "max", "min")),
        f"{prefix}.select": OneOf(("best", "last")),
        f"{prefix}.test_epochs": Either(
            (OneOf(("auto", "last", "all", "none")), Many(Whole(1, "epochs"), unique=True)),
            null=True,
        ),
        f"{prefix}.biases.lr_mult": Real(0, example=1.0),
        f"{prefix}.biases.decay_mult": Real(0, example=1.0),
        f"{prefix}.optim._target_": TARGET,
        f"{prefix}.optim._partial_": Flag(),
        f"{prefix}.optim.lr": Real(0, open_low=True, example=0.01),
        f"{prefix}.optim.momentum": Real(0, 1, open_high=True),
        f"{prefix}.optim.dampening": Real(0, 1),
        f"{prefix}.optim.weight_decay": Real(0, example=5e-4),
        f"{prefix}.optim.nesterov": Flag(),
        f"{prefix}.optim.betas": Many(FRACTION),
        f"{prefix}.optim.eps": POSITIVE,
        f"{prefix}.optim.amsgrad": Flag(),
        f"{prefix}.scheduler._target_": TARGET,
        f"{prefix}.scheduler._partial_": Flag(),
        f"{prefix}.scheduler._convert_": CONVERT,
        f"{prefix}.scheduler.T_max": Whole(1),
        f"{prefix}.scheduler.eta_min": Real(0),
        f"{prefix}.scheduler.gamma": POSITIVE,
        f"{prefix}.scheduler.milestones": Many(Whole(1, "epochs")),
        f"{prefix}.scheduler.phases": Many(
            Record({"epoch": Whole(1), "new": POSITIVE, "copied": POSITIVE})
        ),
    }


SCHEMA: dict[str, Any] = {
    "seed": Whole(0, SEED_MAX, example=0),
    "checkpoint_every": Whole(0, example=1),
    "only_source": Flag(),
    "model.beta": Real(0, 1, example=0.4),
    "model.binary_heads": Whole(0, example=1),
    "transfer.arm": Text(null=True),
    "transfer.treatment": Text(),  # checked against transfer/arms.TREATMENTS
    "transfer.depth": Either((Whole(0, example=3), Text()), null=True),  # n, all, or a stage
    "transfer.freeze": Flag(),
    "transfer.freeze_depth": Either((Whole(0, example=3), Text()), null=True),
    "transfer.lr_scale": Real(0, example=1.0),
    "transfer.freeze_bn_stats": Flag(),
    "measures.enabled": Flag(),
    "measures.only": Flag(),
    "paper.statistic": OneOf(("last", "mean_best"), null=True),
    "paper.epoch": Whole(1, null=True, example=60),
    "paper.best_n": Whole(1, example=10),
    **_phase("source"),
    "source.pretrained": OneOf(("torchvision", "timm", "file"), null=True),  # pretrained.KINDS
    "source.weights": Text(null=True),  # a weights name, a timm tag, or a file
    **_phase("target"),
    **_phase("target.scratch"),
    "data.name": Text(),
    "data.num_classes": Whole(2, null=True),
    "data.root": Text(),
    "data.download": Flag(),
    "data.check_md5": Flag(),
    "data.image_size": Whole(4, null=True, example=32),
    "data.mean": Many(Real(0, 1), null=True),
    "data.std": Many(POSITIVE, null=True),
    "data.num_workers": Whole(0, example=4),
    "data.split_seed": Whole(0, SEED_MAX, example=0),
    "data.split": OneOf(SPLITS),
    "data.source_classes": Either(
        (Whole(2), Whole(0, 0), Many(Whole(0), unique=True)), null=True
    ),  # 0: no A, every class to B (a pretrained source)
    "data.target_classes": Either((Whole(2), Many(Whole(0), unique=True)), null=True),
    "data.source_superclasses": Text(),
    "data.target_superclasses": Text(),
    "data.direction": OneOf(("AB", "BA")),
    "data.binary": OneOf(BINARY),
    "data.val_fraction": Real(0, 1, open_low=True, open_high=True, example=0.1),
    "data.val_from_budget": Flag(),
    "data.fraction": Real(0, 1, open_low=True, example=0.05),
    "data.per_class": Whole(1, null=True, example=60),
    "data.smallest_class": Whole(1, null=True),
    "data.batch_size": Whole(1, example=64),
    "data.eval_batch_size": Whole(1, example=64),
    "data.augment": OneOf(AUGMENT_RECIPES),
    "data.reader._target_": TARGET,
    "data.reader.image_size": Whole(4, null=True),
    "data.reader.crop_size": Whole(1, null=True),
    "data.reader.resize_size": Whole(1, null=True),
    "data.reader.eval_crop": OneOf(("center", "train")),
    "data.reader.mean": Many(Real(0, 1), null=True),
    "data.reader.std": Many(POSITIVE, null=True),
    "data.reader.system_root": Text(),
    "data.reader.train_dir": Text(),
    "data.reader.test_dir": Text(null=True),
    "data.reader.name": Text(),
    "data.target": Section(),
    "data.target.name": Text(),
    "data.target.num_classes": Whole(2, null=True),
    "data.target.root": Text(),
    "data.target.download": Flag(),
    "data.target.check_md5": Flag(),
    "data.target.classes": Either((Whole(2), Many(Whole(0), unique=True)), null=True),
    "data.target.augment": OneOf(AUGMENT_RECIPES),
    "data.target.stats": OneOf(TARGET_STATS),
    "data.target.mean": Many(Real(0, 1), null=True),
    "data.target.std": Many(POSITIVE, null=True),
    "data.target.reader._target_": TARGET,
    "backbone.name": Text(),
    "backbone._target_": TARGET,
    "backbone.channels": Many(Whole(1)),
    "backbone.hidden": Either((Whole(1), Many(Whole(1)))),
    "backbone.dropout": FRACTION,
    "backbone.batch_norm": Flag(),
    "backbone.groups": Whole(1),
    "backbone.lrn": Flag(),
    "backbone.depth": Whole(1),
    "backbone.growth": Whole(1),
    "backbone.compression": Real(0, 1, open_low=True),
    "backbone.bottleneck": Flag(),
    "backbone.stages": OneOf(("blocks", "layers")),
    "backbone.width": Whole(1),
    "backbone.shortcut": OneOf(("A", "B")),
    "backbone.init": Text(),
    "backbone.model_name": Text(),  # backbone=timm: timm's model name
    "callbacks.*._target_": TARGET,
    "callbacks.early_stopping.monitor": OneOf(("auto", *sorted(SELECTABLE))),
    "callbacks.early_stopping.mode": OneOf(("auto", "max", "min")),
    "callbacks.early_stopping.patience": Whole(1),
    "callbacks.early_stopping.min_delta": Real(0),
    "callbacks.lr_monitor.logging_interval": OneOf(("step", "epoch"), null=True),
    "logger.*._target_": TARGET,
    "logger.tensorboard.default_hp_metric": Flag(),
    "logger.wandb.project": Text(),
    "logger.wandb.version": Text(null=True),
    "paths.root_dir": Text(),
    "paths.data_dir": Text(),
    "paths.cache_dir": Text(),
    "trainer.accelerator": OneOf(ACCELERATORS),
    "trainer.devices": Either((Whole(-1), Many(Whole(0)), Text())),  # checked in checks.py
    "trainer.precision": OneOf(PRECISIONS),
    "trainer.strategy": Text(),
    "trainer.num_nodes": Whole(1),
    "trainer.sync_batchnorm": Flag(),
    "trainer.benchmark": Flag(null=True),
    "trainer.channels_last": Flag(),  # ours: memory format of batches and network
    "trainer.deterministic": Either((Flag(), OneOf(("warn",))), null=True),
    "trainer.enable_progress_bar": Flag(null=True),
    "trainer.enable_model_summary": Flag(null=True),
    "trainer.enable_checkpointing": Flag(null=True),
    "trainer.log_every_n_steps": Whole(1, null=True),
    "trainer.num_sanity_val_steps": Whole(-1, null=True),
    "trainer.limit_train_batches": Either((Whole(1), Real(0, 1, open_low=True)), null=True),
    "trainer.limit_val_batches": Either((Whole(1), Real(0, 1, open_low=True)), null=True),
    "trainer.limit_test_batches": Either((Whole(1), Real(0, 1, open_low=True)), null=True),
    "trainer.accumulate_grad_batches": Whole(1, example=2),
    "trainer.gradient_clip_val": Real(0, null=True),
    "trainer.gradient_clip_algorithm": OneOf(("norm", "value"), null=True),
    "trainer.check_val_every_n_epoch": Whole(1, null=True),
    "trainer.val_check_interval": Either((Whole(1), Real(0, 1, open_low=True)), null=True),
    "trainer.fast_dev_run": Either((Flag(), Whole(1))),
    "trainer.overfit_batches": Either((Whole(0), Real(0, 1))),
    "trainer.detect_anomaly": Flag(),
    "trainer.inference_mode": Flag(),
    "trainer.barebones": Flag(),
    "trainer.max_steps": Whole(-1),
    "trainer.max_time": Text(null=True),
    "trainer.profiler": Text(null=True),
}
# Trainer keyword arguments transfer_lab passes itself; checks.py says where to set them.
RESERVED_TRAINER_KEYS = {
    "max_epochs": "source.epochs and target.epochs",
    "min_epochs": "source.epochs and target.epochs",
    "callbacks": "the callbacks group ('callbacks=[progress_bar,lr_monitor,early_stopping]')",
    "logger": "the logger group ('logger=[tensorboard,csv]')",
    "default_root_dir": "hydra.run.dir (or hydra.sweep.dir for a sweep)",
}
# Lightning Trainer's keyword arguments (tests/test_validation.py pins them to its signature).
TRAINER_ARGUMENTS = (
    "accelerator",
    "strategy",
    "devices",
    "num_nodes",
    "precision",
    "logger",
    "callbacks",
    "fast_dev_run",
    "max_epochs",
    "min_epochs",
    "max_steps",
    "min_steps",
    "max_time",
    "limit_train_batches",
    "limit_val_batches",
    "limit_test_batches",
    "limit_predict_batches",
    "overfit_batches",
    "val_check_interval",
    "check_val_every_n_epoch",
    "num_sanity_val_steps",
    "log_every_n_steps",
    "enable_checkpointing",
    "enable_progress_bar",
    "enable_model_summary",
    "accumulate_grad_batches",
    "gradient_clip_val",
    "gradient_clip_algorithm",
    "deterministic",
    "benchmark",
    "inference_mode",
    "use_distributed_sampler",
    "profiler",
    "detect_anomaly",
    "barebones",
    "plugins",
    "sync_batchnorm",
    "reload_dataloaders_every_n_epochs",
    "default_root_dir",
    "model_registry",
    "enable_autolog_hparams",
)


def rule_for(key: str) -> Any:
    """The rule declared for a dotted key (exact, else the first matching pattern), or None."""
    if key in SCHEMA:
        return SCHEMA[key]
    return next((rule for k, rule in SCHEMA.items() if fnmatch.fnmatchcase(key, k)), None)


def leaves(cfg: DictConfig) -> list[tuple[str, Any, bool]]:
    """(dotted key, value, inside a `_target_` section) of every setting but Hydra's own.

    A value that cannot be resolved here (an interpolation of Hydra's runtime) is left out.
    """
    found: list[tuple[str, Any, bool]] = []

    def walk(node: DictConfig, prefix: str, instantiated: bool) -> None:
        instantiated = instantiated or "_target_" in node
        for name in node:
            key = f"{prefix}{name}"
            if key == "hydra":
                continue
            child = node._get_node(name)
            if isinstance(child, DictConfig) and not child._is_none():
                walk(child, f"{key}.", instantiated)
                continue
            try:
                value = node[name]
            except Exception:  # ${hydra:...} outside a Hydra run, a missing env variable
                continue
            if isinstance(value, (DictConfig, ListConfig)):
                value = OmegaConf.to_container(value, resolve=True)
            found.append((key, value, instantiated))

    walk(cfg, "", False)
    return found


def epochs_of(cfg: DictConfig, key: str) -> Any:
    """The epochs of the phase a key belongs to (target.scratch's own, else the target's)."""
    for prefix in ("target.scratch", "source", "target"):
        if key.startswith(prefix + "."):
            value = OmegaConf.select(cfg, f"{prefix}.epochs", default=None)
            if value is None and prefix == "target.scratch":
                value = OmegaConf.select(cfg, "target.epochs", default=None)
            return value if is_int(value) else None
    return None


def undeclared(cfg: DictConfig) -> list[str]:
    """Every key of a config that has no rule, `_target_` sections' arguments included."""
    return [key for key, _, _ in leaves(cfg) if rule_for(key) is None]


def value_problems(cfg: DictConfig) -> list[str]:
    """One sentence per value that breaks its key's rule, or whose key is not a setting."""
    found = []
    for key, value, instantiated in leaves(cfg):
        rule = rule_for(key)
        if rule is None:
            sentence = unknown_key(key, instantiated)
        elif value is None:
            sentence = None if rule.null else f"{key} is empty (null); give it a value."
        else:
            sentence = rule.problem(key, value, {"epochs": epochs_of(cfg, key)})
        if sentence:
            found.append(sentence)
    return found


def unknown_key(key: str, instantiated: bool) -> str | None:
    """A key without a rule: an argument for a `_target_`, a Trainer argument, or a mistake."""
    if key.startswith("trainer."):
        name = key.split(".", 1)[1]
        if name in TRAINER_ARGUMENTS or "." in name:
            return None  # reserved keys and Lightning's own checks (checks.py, Trainer)
        return (
            f"{key} is not an argument of Lightning's Trainer{closest(name, TRAINER_ARGUMENTS)}; "
            f"remove it or check its spelling against the Trainer's arguments."
        )
    if instantiated:
        return None  # passed to the `_target_`, which Hydra's instantiate checks
    declared = [k for k in SCHEMA if "*" not in k]
    return f"{key} is not a setting{closest(key, declared)}; remove it or check its spelling."
