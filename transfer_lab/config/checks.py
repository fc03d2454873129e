"""Refuse a composed config that cannot mean anything, before any work is done or written.

`problems(cfg)` lists every problem of one job's config, one sentence each (what is wrong, how
to fix it); `validate(cfg)` raises them as one UserError. `cli.main` calls `check_command_line`
first, which composes every job of a run or sweep as Hydra will and checks each, so a bad
setting stops the command before a folder is made or data is read.
"""

from __future__ import annotations

import difflib
import errno
import json
import tempfile
from collections.abc import Iterable
from pathlib import Path
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
# Why a write fails that the user can fix: a full disk, no permission, a file in the way.
WRITE_ERRNOS = {
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
    errno.ENOTDIR,
}


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
    for stage in ("source", "target"):
        check_stage(checks, cfg, stage)
    check_trainer(checks, cfg)
    check_selection(checks, cfg)
    return checks.problems


def check_selection(checks: Checks, cfg: DictConfig) -> None:
    """Each stage's selection monitor exists for its β and K; lr_scale is not silently ignored."""
    beta, heads = cfg.model.get("beta"), cfg.model.get("binary_heads")
    if not (_is_number(beta) and _is_int(heads)):
        return  # already reported by check_model
    for stage, stage_beta, stage_heads in (("source", beta, heads), ("target", 0.0, 0)):
        try:
            monitor_for(cfg[stage], float(stage_beta), int(stage_heads))
        except UserError as error:
            checks.add(str(error))
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
    from transfer_lab.transfer.treatments import TREATMENTS, parse_arm

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
            examples = ["baseB"] + [f"{x}{n}B{p}" for x in "AB" for n in range(1, 10) for p in "+"]
            examples += [f"{x}{n}B" for x in "AB" for n in range(1, 10)]
            examples += [f"random{n}B" for n in range(1, 10)]
            match = difflib.get_close_matches(str(arm), examples, n=1, cutoff=0.5)
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


def check_backbone(checks: Checks, cfg: DictConfig) -> None:
    from transfer_lab.models.registry import list_backbones

    backbone = cfg.get("backbone") or {}
    if "_target_" in backbone:
        return
    name = backbone.get("name")
    checks.choice("backbone.name", name, list_backbones())


def stage_settings(cfg: DictConfig, stage: str) -> list[tuple[str, DictConfig]]:
    """(key prefix, settings) of a stage, and of target.scratch merged over the target's."""
    stage_cfg = cfg[stage]
    found = [(stage, stage_cfg)]
    scratch = stage_cfg.get("scratch")
    if stage == "target" and scratch:
        found.append(("target.scratch", OmegaConf.merge(stage_cfg, scratch)))
    return found


def check_stage(checks: Checks, cfg: DictConfig, stage: str) -> None:
    from transfer_lab.train.selection import monitor_for

    on_source = stage == "source"
    beta = cfg.model.get("beta") if on_source else 0.0
    heads = cfg.model.get("binary_heads") if on_source else 0
    for prefix, settings in stage_settings(cfg, stage):
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


def check_writable(folder: Path, setting: str) -> None:
    """Write a file in `folder`, or in the nearest folder above it that exists (nothing is made
    before the job runs), or say in one sentence why not."""
    folder = Path(folder)
    existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("."))
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".write-test-"):
            pass
    except OSError as error:
        raise UserError(os_error_sentence(error, folder, setting)) from None


def os_error_sentence(error: OSError, folder: Path | None = None, setting: str = "") -> str:
    """One sentence for a write that failed: the folder, why, and what to do."""
    where = folder if folder is not None else Path(error.filename or ".").parent
    fix = f"set {setting} to another folder" if setting else "write somewhere else"
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"the disk holding {where} is full; free space there or {fix}."
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"cannot write in {where} (permission denied or read-only); {fix}."
    if error.errno in (errno.ENOTDIR, errno.EEXIST):
        return f"cannot make the folder {where}: a file of that name is in the way; {fix}."
    return f"cannot write in {where} ({error.strerror or error}); {fix}."


def check_sweep_folder(folder: Path, overrides: list[str]) -> None:
    """A sweep folder that already holds a sweep with other settings would mix two sweeps."""
    saved = Path(folder) / "multirun.yaml"
    if not saved.is_file():
        return
    try:
        before = OmegaConf.load(saved).hydra.overrides.task
    except Exception:  # unreadable: not ours to judge, Hydra will overwrite it
        return
    if _settings(before) != _settings(overrides):
        raise UserError(
            f"{folder} already holds a different sweep ({' '.join(before) or 'no overrides'}); "
            f"give a new hydra.sweep.dir or leave it out for a fresh folder."
        )


def check_run_folder(folder: Path, overrides: list[str]) -> None:
    """A job folder whose finished results.json records other settings is another job's (a
    failed or stopped job's folder may be run again, e.g. to resume it)."""
    saved = Path(folder) / "results.json"
    if not saved.is_file():
        return
    try:
        record = json.loads(saved.read_text())
    except (OSError, ValueError):
        return
    if record.get("status") != "ok":
        return
    before = record.get("overrides", [])
    if _settings(before) != _settings(overrides):
        raise UserError(
            f"{folder} already holds the results of a different job "
            f"({' '.join(before) or 'no overrides'}); give a new hydra.run.dir or leave it out."
        )


def _settings(overrides: Iterable[str]) -> list[str]:
    """The overrides that change what is computed (not where it is written)."""
    return sorted(o for o in overrides if not o.lstrip("+~").startswith("hydra."))


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
    mode = RunMode.MULTIRUN if multirun else RunMode.RUN
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
        loader = GlobalHydra.instance().config_loader()
        try:
            master = loader.load_configuration("config", overrides, run_mode=mode)
            jobs = [master] if not multirun else list(_sweep_jobs(loader, master, overrides))
        except Exception as error:
            raise UserError(composition_sentence(error)) from None
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
        HydraConfig.instance().set_config(master)
        check_folders(master, multirun)
    return master


def _sweep_jobs(loader: Any, master: DictConfig, overrides: list[str]) -> Iterable[DictConfig]:
    """Each job's config of a sweep, as Hydra's basic sweeper will compose it."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    sweeper = master.hydra.sweeper
    target = str(sweeper.get("_target_", ""))
    if not any(name in target for name in ("BasicSweeper", "SourcesFirstSweeper")):
        yield master  # Optuna, Ax, …: the points are chosen while the sweep runs
        return
    params = [f"{k}={v}" for k, v in (sweeper.get("params") or {}).items()]
    parsed = OverridesParser.create(config_loader=loader).parse_overrides(params + overrides)
    for batch in BasicSweeper.split_arguments(parsed, None):
        for job_overrides in batch:
            yield loader.load_sweep_config(master, list(job_overrides))


def check_folders(master: DictConfig, multirun: bool) -> None:
    """The cache and the output folder can be written, and hold nothing of another job."""
    task_overrides = list(master.hydra.overrides.task)
    given = {
        o.split("=", 1)[0].lstrip("+~"): o.split("=", 1)[1]
        for o in master.hydra.overrides.hydra
        if "=" in o
    }
    check_writable(Path(master.paths.cache_dir), "paths.cache_dir (or $TRANSFER_LAB_CACHE)")
    if multirun and "hydra.sweep.dir" in given:
        folder = Path(given["hydra.sweep.dir"])
        check_sweep_folder(folder, task_overrides)
        check_writable(folder, "hydra.sweep.dir")
    elif not multirun and "hydra.run.dir" in given:
        folder = Path(given["hydra.run.dir"])
        check_run_folder(folder, task_overrides)
        check_writable(folder, "hydra.run.dir")


def composition_sentence(error: Exception) -> str:
    """Hydra's or OmegaConf's message on one line, with the closest valid name or key."""
    from hydra.errors import MissingConfigException, OverrideParseException

    if isinstance(error, MissingConfigException) and error.missing_cfg_file and error.options:
        group, _, name = str(error.missing_cfg_file).rpartition("/")
        return (
            f"there is no {group} config named {name!r}{closest(name, error.options)}; use one "
            f"of {', '.join(error.options)}."
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
