"""Every setting the checks pass also runs: each phase's optimiser and scheduler, the callbacks,
the loggers and Lightning's Trainer are built once from the config, without data, so that a
value their classes refuse is one sentence before a folder is made, not a crash in the job.

What a class takes is its own to say (its signature, its checks); nothing here copies it.
Imports torch and Lightning, so `cli/preflight.py` asks only once every torch-free check passed.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import typing
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from transfer_lab.config.schema import closest
from transfer_lab.errors import UserError


def run_problems(cfg: DictConfig, here: bool = True, lightning: bool = True) -> list[str]:
    """One sentence per part of the job that its settings would not build (`here`: this
    machine runs the job, so the Trainer is built for it too; `lightning`: the callbacks,
    loggers and Trainer are built at all, which imports Lightning)."""
    with _quiet():
        found = optimiser_problems(cfg)
        if not lightning:
            return found
        if not found:  # Lightning's import takes seconds: only once torch's parts are fine
            found += component_problems(cfg) + trainer_names(cfg)
        if here and not found:
            found += trainer_problems(cfg)
    return found


def _why(error: BaseException) -> str:
    """The innermost cause of an error, on one line."""
    while error.__cause__ is not None:
        error = error.__cause__
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Lightning's notes on what it found ("GPU available: …") are not the user's business here."""
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(logging.NOTSET)


def copies_stages(cfg: DictConfig) -> bool:
    """Whether the job's target network has copied stages (a 'copied' parameter group)."""
    from transfer_lab.transfer.arms import SELFFER, TRANSFER, parse_arm

    arm = cfg.transfer.get("arm")
    treatment = parse_arm(arm)[0] if arm else cfg.transfer.get("treatment")
    return treatment in (TRANSFER, SELFFER)


def optimiser_problems(cfg: DictConfig) -> list[str]:
    """Each phase's optimiser built on one parameter per group, as job/networks.py builds it,
    and its scheduler on that (torch, no Lightning: these refusals come first)."""
    import torch
    from hydra.utils import instantiate

    from transfer_lab.config.checks import phase_settings

    found = []
    for phase in ("source", "target"):
        for prefix, settings in phase_settings(cfg, phase):
            roles = ["new", "copied"] if prefix == "target" and copies_stages(cfg) else ["new"]
            groups = [
                {"params": [torch.nn.Parameter(torch.zeros(1))], "name": r, "role": r}
                for r in roles
            ]
            try:
                optimizer = instantiate(settings.optim)(groups)
            except Exception as error:  # noqa: BLE001 (what the class says is the answer)
                found.append(_refused(f"{prefix}.optim", settings.optim, error))
                continue
            scheduler = settings.get("scheduler")
            try:
                if scheduler:
                    instantiate(scheduler)(optimizer)
            except UserError as error:  # our schedules' own sentences
                found.append(f"{prefix}.{error}")
            except Exception as error:  # noqa: BLE001
                found.append(_refused(f"{prefix}.scheduler", scheduler, error))
    return found


def _refused(key: str, section: Any, error: BaseException) -> str:
    """A `_target_` section its class would not build: name the key it does not take, or say
    what the class said."""
    target = section.get("_target_")
    why = _why(error)
    if "unexpected keyword argument" in why:
        name = why.rsplit("'", 2)[-2] if why.count("'") >= 2 else "?"
        return (
            f"{key}.{name} is not an argument of {target}; remove it (~{key}.{name}) or choose "
            f"a class that takes it."
        )
    return f"{key} ({target}) does not build with these settings ({why}); fix the value."


def component_problems(cfg: DictConfig) -> list[str]:
    """Each callback built as a phase builds it; each logger built, and one that writes files
    written once, in a folder that is thrown away (its writer is made on first use)."""
    from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger

    from transfer_lab.train.folders import RunFolders
    from transfer_lab.train.selection import monitor_for
    from transfer_lab.train.trainer import configured_callbacks, configured_loggers

    found = []
    monitor = monitor_for(cfg.source, cfg.model.beta, cfg.model.binary_heads)
    quiet = OmegaConf.create({"trainer": {"enable_progress_bar": False}})
    for name, entry in (cfg.get("callbacks") or {}).items():
        try:
            configured_callbacks(OmegaConf.merge(quiet, {"callbacks": {name: entry}}), {}, monitor)
        except Exception as error:  # noqa: BLE001
            found.append(_refused(f"callbacks.{name}", entry, error))
    with tempfile.TemporaryDirectory() as folder:
        where = RunFolders(job_dir=Path(folder), tensorboard_dir=Path(folder), run="check")
        for name, entry in (cfg.get("logger") or {}).items():
            try:
                one = OmegaConf.create({name: entry})
                for logger in configured_loggers(one, where, "source"):
                    if isinstance(logger, (CSVLogger, TensorBoardLogger)):  # files: write once
                        logger.log_metrics({"check": 0.0}, step=0)
                        logger.finalize("success")
            except Exception as error:  # noqa: BLE001
                found.append(_refused(f"logger.{name}", entry, error))
    return found


def trainer_names(cfg: DictConfig) -> list[str]:
    """The accelerator and precision are names Lightning knows (on any machine)."""
    from lightning_fabric.accelerators import ACCELERATOR_REGISTRY
    from lightning_fabric.plugins.precision.precision import _PRECISION_INPUT

    found = []
    accelerator = cfg.trainer.get("accelerator", "auto")
    accelerators = ["auto", "gpu", *sorted(ACCELERATOR_REGISTRY.available_accelerators())]
    precision = cfg.trainer.get("precision", "auto")
    precisions = ["auto", *_literals(_PRECISION_INPUT)]
    for key, value, names in (
        ("accelerator", accelerator, accelerators),
        ("precision", precision, precisions),
    ):
        if value not in names:
            found.append(
                f"trainer.{key}={value!r} is not known{closest(value, names)}; use one of "
                f"{', '.join(str(n) for n in names)}."
            )
    return found


def _literals(kind: Any) -> list[Any]:
    """The values of a Literal, or of a Union of Literals."""
    found = []
    for arg in typing.get_args(kind):
        found += _literals(arg) if typing.get_args(arg) else [arg]
    return list(dict.fromkeys(found))


def trainer_problems(cfg: DictConfig) -> list[str]:
    """The Trainer built for this machine as a phase builds it; a setting it refuses is found
    by building it without each of the user's settings in turn."""
    import pytorch_lightning as pl

    from transfer_lab.train.trainer import trainer_settings

    def build(trainer: dict) -> None:
        with tempfile.TemporaryDirectory() as folder:
            settings = trainer_settings(OmegaConf.create(trainer))
            settings.setdefault("enable_checkpointing", False)
            pl.Trainer(max_epochs=1, logger=False, default_root_dir=folder, **settings)

    trainer = OmegaConf.to_container(cfg.trainer, resolve=True)
    try:
        build(trainer)
        return []
    except Exception as error:  # noqa: BLE001
        why = _why(error)
    for key in trainer:
        with contextlib.suppress(Exception):
            build({k: v for k, v in trainer.items() if k != key})
            value = trainer[key]
            if key == "accelerator":
                return [
                    f"trainer.accelerator={value} is not available on this machine ({why}); "
                    f"use trainer.accelerator=cpu, or auto for what is there."
                ]
            return [f"trainer.{key}={value!r} does not run: Lightning's Trainer says {why}"]
    return [f"the trainer settings do not run together: Lightning's Trainer says {why}"]
