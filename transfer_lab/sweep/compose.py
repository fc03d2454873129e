"""Each sweep job's config composed once per process, where Hydra would compose it three times.

The pre-flight checks every job, the sweeper plans every job, and the in-process launcher runs
every job, each from Hydra's `load_sweep_config` (0.7–0.9 s a job on a 2-core machine). They
run in one process (`job/task.run_hydra` calls `hydra.main` in-process), so they share one
composition, keyed by what Hydra composes from: the folder, the config files, the sweep's Hydra
overrides and the job's.
The launch takes the job's config out of the memo, since the job then writes into it.

Jobs of a grid differ mostly in plain values (transfer.arm=A3B, data.split_seed=4): those are
set on a copy of one composition of everything else, as Hydra sets them after composing, and
the job's override lists and folder name are written as Hydra writes them
(`derived_config`; tests/test_sweep_once.py checks it against Hydra's own composition). A
job's config then costs a copy (milliseconds) instead of a composition (0.16 s).
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Sequence
from typing import Any

from omegaconf import DictConfig, OmegaConf

_COMPOSED: dict[tuple, DictConfig] = {}
_BASES: dict[tuple, DictConfig] = {}  # compositions of everything but a job's plain values


def _key(master: DictConfig, overrides: Sequence[str]) -> tuple:
    """What a composition depends on: the folder it runs in and where its config files are
    (relative sweep folders of two runs can read alike), the config's name, the overrides."""
    hydra = master.hydra
    sources = OmegaConf.select(master, "hydra.runtime.config_sources", default=None)
    if OmegaConf.is_config(sources):
        sources = OmegaConf.to_container(sources)
    return (
        os.getcwd(),
        json.dumps(sources, sort_keys=True, default=str),
        str(hydra.job.config_name),
        tuple(hydra.overrides.hydra),
        tuple(overrides),
    )


def sweep_config(loader: Any, master: DictConfig, overrides: Sequence[str]) -> DictConfig:
    """Hydra's `loader.load_sweep_config(master, overrides)`, composed once per process."""
    key = _key(master, overrides)
    if key not in _COMPOSED:
        _COMPOSED[key] = composed(loader, master, overrides)
    cfg = _COMPOSED[key]
    OmegaConf.copy_cache(from_config=master, to_config=cfg)  # this sweep's ${now:} and the like
    return cfg


def _overlap(a: str, b: str) -> bool:
    return a == b or a.startswith(f"{b}.") or b.startswith(f"{a}.")


def plain_values(loader: Any, overrides: Sequence[Any]) -> list[Any]:
    """The overrides that only set a value Hydra sets after composing (`key=value` of a key that
    is no config group, on no other override's key), which a composition does not depend on."""
    repository = getattr(loader, "repository", None)
    if repository is None:
        return []
    candidates = [
        o
        for o in overrides
        if o.type.name == "CHANGE"
        and o.package is None
        and not o.is_sweep_override()
        and "/" not in o.key_or_group
        and not o.key_or_group.startswith("hydra.searchpath")
        and not repository.group_exists(o.key_or_group.replace(".", "/"))
    ]
    others = [o.key_or_group for o in overrides if all(o is not c for c in candidates)]
    return [o for o in candidates if not any(_overlap(o.key_or_group, k) for k in others)]


def _holds(cfg: DictConfig, dotted: str) -> bool:
    """Whether the config has this key (resolving nothing: its value may interpolate a value
    the launch sets, such as ${hydra.job.num})."""
    node: Any = cfg
    for part in dotted.split("."):
        if not isinstance(node, DictConfig):
            return False
        node = node._get_node(part, throw_on_missing_key=False)
        if node is None:
            return False
    return True


def derived_config(loader: Any, master: DictConfig, overrides: Sequence[str]) -> DictConfig | None:
    """The job's config as Hydra composes it, from a copy of the composition of its other
    overrides; None where it has no plain values to set or one does not apply (Hydra's own
    composition then says what is wrong)."""
    from hydra._internal.config_loader_impl import get_overrides_dirname
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    parsed = parser.parse_overrides(list(overrides))
    plain = plain_values(loader, parsed)
    if not plain:
        return None
    rest = [o.input_line for o in parsed if all(o is not p for p in plain)]
    base_key = _key(master, rest)
    if base_key not in _BASES:
        _BASES[base_key] = loader.load_sweep_config(master, rest)
    cfg = copy.deepcopy(_BASES[base_key])
    for override in plain:
        if not _holds(cfg, override.key_or_group):
            return None
        OmegaConf.update(cfg, override.key_or_group, override.value(), merge=True)
    every = parser.parse_overrides([*master.hydra.overrides.hydra, *overrides])
    task = [o for o in every if not o.is_hydra_override()]
    cfg.hydra.overrides.hydra = [o.input_line for o in every if o.is_hydra_override()]
    cfg.hydra.overrides.task = [o.input_line for o in task]
    dirname = cfg.hydra.job.config.override_dirname
    cfg.hydra.job.override_dirname = get_overrides_dirname(
        overrides=task,
        kv_sep=dirname.kv_sep,
        item_sep=dirname.item_sep,
        exclude_keys=dirname.exclude_keys,
    )
    return cfg


def composed(loader: Any, master: DictConfig, overrides: Sequence[str]) -> DictConfig:
    """The job's config: derived from a shared composition where it can be, else Hydra's."""
    derived = derived_config(loader, master, overrides)
    if derived is None:
        return loader.load_sweep_config(master, list(overrides))
    OmegaConf.copy_cache(from_config=master, to_config=derived)  # as Hydra's does
    return derived


def forget() -> None:
    """Drop every composition kept (a test that edits config files between sweeps)."""
    _COMPOSED.clear()
    _BASES.clear()


class ComposedOnce:
    """Hydra's config loader, except that a job's config comes out of the memo when it is there.

    Given to the in-process launcher, so the launch of a job the sweeper planned costs nothing;
    a job it did not plan (a source of the first round) is derived where it can be
    (`composed`), and every other call goes to Hydra's loader.
    """

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def __getattr__(self, name: str) -> Any:
        if name == "loader":  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.loader, name)

    def load_sweep_config(self, master: DictConfig, overrides: list[str]) -> DictConfig:
        cfg = _COMPOSED.pop(_key(master, overrides), None)
        if cfg is None:
            return composed(self.loader, master, overrides)
        OmegaConf.copy_cache(from_config=master, to_config=cfg)
        OmegaConf.set_readonly(cfg.hydra, None)  # HydraConfig.set_config locked it; Hydra writes
        return cfg
