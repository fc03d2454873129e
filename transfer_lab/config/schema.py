"""Every setting's type and range, declared once as typed models; `value_problems(cfg)` says
what a composed config breaks, one sentence per problem.

The models type what `conf/` sets; a key they do not know is refused. Vocabularies come from
their owners (a torch-importing owner's names are read from its source, so a refusal imports
no torch); what a `_target_` takes (backbone options, an optimiser's, a callback's) is left to
that class, which `config/runs.py` and the registry check. Validators beside the settings
relate them; rules that need the backbone, the data or the machine are in `config/checks.py`.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

from omegaconf import DictConfig, OmegaConf
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from transfer_lab.config.sentences import AT, closest, problems_of, refuse
from transfer_lab.data.loading import STATS
from transfer_lab.data.tasks import BINARY, SPLITS
from transfer_lab.test_epochs import WORDS as TEST_EPOCH_WORDS
from transfer_lab.train.selection import SELECTABLE
from transfer_lab.transfer.arms import RANDOM_FROZEN, SCRATCH

SEED_MAX = 2**32 - 1
# Trainer keyword arguments transfer_lab passes itself; checks.py says where to set them.
RESERVED_TRAINER_KEYS = {
    "max_epochs": "source.epochs and target.epochs",
    "min_epochs": "source.epochs and target.epochs",
    "callbacks": "the callbacks group ('callbacks=[progress_bar,lr_monitor,early_stopping]')",
    "logger": "the logger group ('logger=[tensorboard,csv]')",
    "default_root_dir": "hydra.run.dir (or hydra.sweep.dir for a sweep)",
}


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@functools.cache
def _source_of(module: str) -> ast.Module:
    """A module's parsed source, found without importing it or its package."""
    top, *rest = module.split(".")
    folder = Path(importlib.util.find_spec(top).origin).parent
    return ast.parse(folder.joinpath(*rest[:-1], f"{rest[-1]}.py").read_text())


@functools.cache
def owned(module: str, name: str) -> tuple:
    """The names a module's top-level `name = (…)` or `{…}` defines, read from its source, so
    that checking a value against them imports nothing (the owner may import torch)."""
    for node in _source_of(module).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == name for t in node.targets):
            value = node.value
            items = value.keys if isinstance(value, ast.Dict) else value.elts
            return tuple(ast.literal_eval(item) for item in items)
    raise LookupError(f"{module} defines no {name}")


@functools.cache
def trainer_arguments() -> tuple[str, ...]:
    """Lightning Trainer's keyword arguments, read from its source (importing Lightning takes
    seconds; tests/test_validation.py holds this to `inspect.signature(pl.Trainer)`)."""
    for node in ast.walk(_source_of("pytorch_lightning.trainer.trainer")):
        if isinstance(node, ast.ClassDef) and node.name == "Trainer":
            init = next(f for f in node.body if getattr(f, "name", "") == "__init__")
            arguments = init.args.args[1:] + init.args.kwonlyargs
            return tuple(a.arg for a in arguments)
    raise LookupError("pytorch_lightning's Trainer has no __init__")


def _unique(values: list) -> list:
    if len({repr(v) for v in values}) < len(values):
        raise PydanticCustomError("unique", "lists a value twice")
    return values


def Whole(low: int | None = 0, high: int | None = None, example: Any = None) -> Any:
    """A whole number in low..high."""
    return Annotated[StrictInt, Field(ge=low, le=high, examples=_eg(example))]


def Real(
    low: float = 0, high: float | None = None, gt: bool = False, lt: bool = False, example=None
):
    """A finite number from low to high; `gt`, `lt`: the end itself excluded."""
    ends = {"gt" if gt else "ge": low, ("lt" if lt else "le"): high}
    return Annotated[float, Field(**ends, examples=_eg(example))]


def _eg(example: Any) -> list | None:
    return None if example is None else [example]


def OneOf(names: Iterable[Any]) -> Any:
    return Literal[tuple(names)]


def Unique(item: Any) -> Any:
    return Annotated[list[item], AfterValidator(_unique)]


Flag = StrictBool
Text = Annotated[StrictStr, Field(pattern=r"\S")]
POSITIVE = Real(0, gt=True)
CLASSES = Whole(2) | Unique(Whole(0)) | None
SOURCE_CLASSES = Whole(0, 0) | CLASSES  # 0: no A, every class to B (a pretrained source)


class Settings(BaseModel):
    """A group of settings: only the declared keys, Hydra's values taken as they are."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class Instantiated(BaseModel):
    """A `_target_` section: what it takes beyond the declared keys is its class's to say."""

    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False)
    target: Text = Field(alias="_target_")
    partial: Flag = Field(False, alias="_partial_")


class Model(Settings):
    beta: Real(0, 1, example=0.4)
    binary_heads: Whole(0, example=1)

    @model_validator(mode="after")
    def heads_for_beta(self) -> Model:
        if self.beta > 0 and self.binary_heads == 0:
            raise refuse("model.beta > 0 needs binary heads; set model.binary_heads to 1 or more.")
        return self


DEPTH = Whole(0, example=3) | Text | None  # n, all, or a stage's name


class Transfer(Settings):
    arm: Text | None = None
    treatment: Text  # checked against transfer/arms.TREATMENTS in checks.py
    depth: DEPTH = "all"
    freeze: Flag = False
    freeze_depth: DEPTH = None
    lr_scale: Real(0, example=1.0) = 1.0
    freeze_bn_stats: Flag = True


class Measures(Settings):
    enabled: Flag = False
    only: Flag = False


class Paper(Settings):
    statistic: Literal["last", "mean_best"] | None = None  # report/statistic.py scores them
    epoch: Whole(1, example=60) | None = None
    best_n: Whole(1, example=10) = 10


class Biases(Settings):
    lr_mult: Real(0, example=1.0) = 1.0
    decay_mult: Real(0, example=1.0) = 1.0


class Optim(Instantiated):
    """The project's ranges for the usual keys; the optimiser's class checks the rest."""

    lr: Real(0, gt=True, example=0.01) = 0.01
    momentum: Real(0, 1, lt=True) = 0
    weight_decay: Real(0, example=5e-4) = 0
    nesterov: Flag = False

    @model_validator(mode="after")
    def takes_parameter_groups(self) -> Optim:
        if not self.partial:
            raise refuse(
                f"{AT}._partial_=false builds the optimiser before its parameters exist; keep "
                f"{AT}._partial_=true, so the job can give it its parameter groups."
            )
        return self


class Rates(Settings):
    epoch: Whole(1)
    new: POSITIVE
    copied: POSITIVE = None


class Scheduler(Instantiated):
    convert: Literal["none", "partial", "object", "all"] = Field("none", alias="_convert_")
    T_max: Whole(1) = 1
    eta_min: Real(0) = 0
    gamma: POSITIVE = 0.1
    milestones: list[Whole(1)] = []
    phases: list[Rates] = []


MODES = Literal["auto", "max", "min"]


class Phase(Settings):
    """One training phase (source, target, or target.scratch merged over the target)."""

    epochs: Whole(1, example=20)
    early_stopping: Whole(1, example=5) | None = None
    monitor: Text = "auto"
    monitor_mode: MODES = "auto"
    select: OneOf(owned("transfer_lab.train.callbacks", "SELECTS")) = "best"
    test_epochs: OneOf(TEST_EPOCH_WORDS) | Unique(Whole(1)) | None
    biases: Biases = Biases()
    optim: Optim
    scheduler: Scheduler | None = None  # none: `{}` (conf/scheduler/none.yaml)
    scratch: dict = {}  # target only: checked merged over the target (value_problems)

    @field_validator("scheduler", mode="before")
    @classmethod
    def no_scheduler(cls, value: Any) -> Any:
        return None if value == {} else value

    def within_epochs(self, key: str, epochs: Iterable[int]) -> None:
        for i, epoch in enumerate(epochs):
            if epoch > self.epochs:
                raise refuse(
                    f"{key}[{i}]={epoch} is out of range; it must be in 1..{self.epochs} "
                    f"(the phase's epochs) at {AT}.epochs={self.epochs}."
                )

    @model_validator(mode="after")
    def fits_its_epochs(self) -> Phase:
        """Milestones and tested epochs within the phase; rates its schedule can reach."""
        key = AT
        if isinstance(self.test_epochs, list):
            self.within_epochs(f"{key}.test_epochs", self.test_epochs)
        scheduler, optim = self.scheduler, self.optim
        if scheduler is None:
            return self
        self.within_epochs(f"{key}.scheduler.milestones", scheduler.milestones)
        if scheduler.target.endswith("CosineAnnealingLR") and scheduler.eta_min > optim.lr:
            raise refuse(
                f"{key}.scheduler.eta_min={scheduler.eta_min} is above the rate it anneals from "
                f"({key}.optim.lr={optim.lr}), so the rate would rise; give an eta_min below it."
            )
        return self

    @model_validator(mode="after")
    def nesterov_needs_momentum(self) -> Phase:
        key, optim = AT, self.optim
        if optim.nesterov and not optim.momentum > 0:
            raise refuse(
                f"{key}.optim.nesterov=true needs momentum; set {key}.optim.momentum "
                f"(e.g. 0.9) or {key}.optim.nesterov=false."
            )
        if optim.nesterov and (getattr(optim, "dampening", 0) or 0) != 0:
            raise refuse(f"{key}.optim.nesterov=true needs {key}.optim.dampening=0.")
        return self


class SourcePhase(Phase):
    """The source phase, which may take its network instead of training it."""

    pretrained: OneOf(owned("transfer_lab.models.pretrained", "KINDS")) | None = None
    weights: Text | None = None  # a torchvision weights name, a timm tag, or a file


class Reader(Instantiated):
    """A dataset's reader: its arguments are the reader's (the data registry checks them)."""

    eval_crop: OneOf(owned("transfer_lab.data.augment", "EVAL_CROPS")) = "center"


AUGMENT = OneOf(owned("transfer_lab.data.augment", "RECIPES"))


class Dataset(Settings):
    """What every dataset section has: which one, where, how it is read and normalised."""

    name: Text
    num_classes: Whole(2) | None = None
    root: Text
    download: Flag = False
    check_md5: Flag = True
    augment: AUGMENT = "none"
    mean: list[Real(0, 1)] | None = None
    std: list[POSITIVE] | None = None
    reader: Reader


class SecondData(Dataset):
    """`data.target`: B from a second dataset (out of domain)."""

    classes: CLASSES = None
    stats: OneOf(STATS) = "own"


class Data(Dataset):
    image_size: Whole(4, example=32) | None = None
    num_workers: Whole(0, example=4) = 0
    split_seed: Whole(0, SEED_MAX, example=0)
    split: OneOf(SPLITS) = "random"
    source_classes: SOURCE_CLASSES = None
    target_classes: CLASSES = None
    source_superclasses: Text = "natural"
    target_superclasses: Text = "manmade"
    direction: Literal["AB", "BA"] = "AB"
    binary: OneOf(BINARY) = "random"
    val_fraction: Real(0, 1, gt=True, lt=True, example=0.1)
    val_from_budget: Flag = False
    fraction: Real(0, 1, gt=True, example=0.05) = 1.0
    per_class: Whole(1, example=60) | None = None
    smallest_class: Whole(1) | None = None
    batch_size: Whole(1, example=64)
    eval_batch_size: Whole(1, example=64)
    target: SecondData | None = None


class Backbone(BaseModel):
    """A registered backbone's name (or a class of one's own); its options are its class's,
    which `create_backbone` checks against the constructor's signature."""

    model_config = ConfigDict(extra="allow", strict=True)
    name: Text | None = None
    target: Text | None = Field(None, alias="_target_")


class Component(Instantiated):
    """A callback or logger: its arguments are its class's (config/runs.py builds it)."""

    @model_validator(mode="after")
    def watches_a_logged_metric(self) -> Component:
        monitor = (self.model_extra or {}).get("monitor")
        if monitor is not None and monitor != "auto" and monitor not in SELECTABLE:
            raise refuse(
                f"{AT}.monitor={monitor!r} is not a metric the network logs"
                f"{closest(monitor, sorted(SELECTABLE))}; use auto or one of "
                f"{', '.join(sorted(SELECTABLE))}."
            )
        return self


class Paths(Settings):
    root_dir: Text
    data_dir: Text
    cache_dir: Text


LIMIT = Whole(1) | Real(0, 1, gt=True) | None


class Trainer(BaseModel):
    """Lightning's Trainer keywords: the ones `conf/trainer/` sets typed here, any other
    checked against the Trainer's own arguments (and built by config/runs.py)."""

    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False)
    accelerator: Text = "auto"
    devices: Whole(-1) | list[Whole(0)] | Text = 1  # checked against the machine (checks.py)
    precision: Text | StrictInt = "auto"  # Lightning's names (config/runs.py)
    strategy: Text = "auto"
    num_nodes: Whole(1) = 1
    sync_batchnorm: Flag = False
    benchmark: Flag | None = None
    channels_last: Flag = False  # ours: memory format of batches and network
    deterministic: Flag | Literal["warn"] | None = None
    enable_progress_bar: Flag | None = None
    enable_model_summary: Flag | None = None
    enable_checkpointing: Flag | None = None
    log_every_n_steps: Whole(1) | None = None
    num_sanity_val_steps: Whole(-1) | None = None
    limit_train_batches: LIMIT = None
    limit_val_batches: LIMIT = None
    limit_test_batches: LIMIT = None
    accumulate_grad_batches: Whole(1, example=2) = 1
    max_steps: Whole(-1) = -1
    min_steps: Whole(0) | None = None
    gradient_clip_val: Real(0) | None = None
    check_val_every_n_epoch: Whole(1) | None = None

    detect_anomaly: Flag = False
    inference_mode: Flag = True
    use_distributed_sampler: Flag = True
    barebones: Flag = False
    fast_dev_run: Flag | Whole(0) = False

    @model_validator(mode="after")
    def trains_something(self) -> Trainer:
        """A phase that would stop before it trained would still be cached as a source."""
        max_time = (self.model_extra or {}).get("max_time")
        no_time = isinstance(max_time, str) and max_time.replace(":", "").strip("0") == ""
        for key, value, stops in (
            ("max_steps", self.max_steps, self.max_steps == 0),
            ("max_time", max_time, no_time and max_time != ""),
        ):
            if stops:
                raise refuse(
                    f"trainer.{key}={value} trains nothing, and the untrained network would be "
                    f"cached as a source; give a positive limit, or none."
                )
        if self.fast_dev_run:
            given = str(self.fast_dev_run).lower()
            raise refuse(
                f"trainer.fast_dev_run={given} trains a batch or two and would cache that "
                f"network as a source; for a quick run use source.epochs=1 target.epochs=1 "
                f"trainer.limit_train_batches=2."
            )
        return self

    @model_validator(mode="after")
    def lightning_arguments(self) -> Trainer:
        for name in self.model_extra or {}:
            if name not in trainer_arguments():
                raise refuse(
                    f"trainer.{name} is not an argument of Lightning's Trainer"
                    f"{closest(name, trainer_arguments())}; remove it or check its spelling "
                    f"against the Trainer's arguments."
                )
        return self


class Config(Settings):
    """A whole job's config (Hydra's own `hydra` section left out)."""

    seed: Whole(0, SEED_MAX, example=0)
    checkpoint_every: Whole(0, example=1) = 1
    only_source: Flag = False
    model: Model
    transfer: Transfer
    measures: Measures = Measures()
    paper: Paper = Paper()
    source: SourcePhase
    target: Phase
    data: Data
    backbone: Backbone
    callbacks: dict[str, Component] | None = None
    logger: dict[str, Component] | None = None
    paths: Paths
    trainer: Trainer

    @model_validator(mode="after")
    def the_paper_is_tested(self) -> Config:
        """What the paper's statistic reads is tested: per-epoch tests, an epoch B trains."""
        paper, phases = self.paper, {"source": self.source, "target": self.target}
        if paper.statistic == "mean_best":
            for name, phase in phases.items():
                if phase.test_epochs in (None, "none", []):
                    raise refuse(
                        f"paper.statistic=mean_best averages the best per-epoch tests, but "
                        f"{name}.test_epochs={phase.test_epochs} tests none; use "
                        f"{name}.test_epochs=auto (or all) or paper.statistic=null."
                    )
        epochs = self.target.epochs
        if paper.epoch is not None and paper.epoch > epochs and self.target.test_epochs == "auto":
            raise refuse(
                f"paper.epoch={paper.epoch} is past target.epochs={epochs}, so the paper's "
                f"epoch is never tested; use paper.epoch={epochs} or less, or paper.epoch=null "
                f"for the last."
            )
        return self

    @model_validator(mode="after")
    def random_stages_are_frozen(self) -> Config:
        transfer = self.transfer
        if transfer.treatment == RANDOM_FROZEN and not transfer.arm and not transfer.freeze:
            raise refuse(
                f"transfer.treatment={RANDOM_FROZEN} freezes its random stages, but "
                f"transfer.freeze=false asks to train them; set transfer.freeze=true, or use "
                f"transfer.treatment={SCRATCH} to train every stage."
            )
        return self

    @model_validator(mode="after")
    def lr_scale_has_an_effect(self) -> Config:
        """transfer.lr_scale is not silently ignored under a phases schedule."""
        scheduler, lr_scale = self.target.scheduler, self.transfer.lr_scale
        if scheduler and lr_scale != 1 and "PhaseRates" in scheduler.target:
            raise refuse(
                f"transfer.lr_scale={lr_scale} has no effect under a phases schedule, which sets "
                "the copied stages' rate itself; set it in target.scheduler.phases or leave "
                "lr_scale at 1."
            )
        return self


def plain(cfg: DictConfig) -> dict:
    """The config as plain values, without Hydra's section and what cannot be resolved here
    (an interpolation of Hydra's runtime outside a run)."""

    def walk(node: Any) -> Any:
        if isinstance(node, DictConfig):
            if node._is_none():
                return None
            out = {}
            for name in node:
                if node is cfg and name == "hydra":
                    continue
                try:
                    out[name] = walk(node[name])
                except Exception:  # ${hydra:...} outside a Hydra run: the text as written
                    out[name] = node._get_node(name)._value()
            return out
        return [walk(v) for v in node] if OmegaConf.is_list(node) else node

    return walk(cfg)


def merged(base: dict, over: dict) -> dict:
    """`over`'s settings replacing `base`'s, section by section (lists whole), as Hydra does."""
    out = dict(base)
    for name, value in over.items():
        both = isinstance(value, dict) and isinstance(out.get(name), dict)
        out[name] = merged(out[name], value) if both else value
    return out


def value_problems(cfg: DictConfig) -> list[str]:
    """One sentence per value that breaks its key's type or range, or whose key is not a
    setting; then the rules relating settings, where their values are fine."""
    values = plain(cfg)
    found = problems_of(values, Config)
    target = values.get("target")
    scratch = target.get("scratch") if isinstance(target, dict) else None
    if scratch and isinstance(scratch, dict) and not any(s.startswith("target") for s in found):
        found += problems_of(merged(target, {**scratch, "scratch": {}}), Phase, "target.scratch")
    return found
