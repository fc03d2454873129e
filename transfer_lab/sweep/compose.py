"""Each sweep job's config composed once per process, where Hydra would compose it three times.

The pre-flight checks every job, the sweeper plans every job, and the in-process launcher runs
every job, each from Hydra's `load_sweep_config` (0.7–0.9 s a job on a 2-core machine). They run
in one process (`cli/main.py` calls `hydra.main` in-process), so they share one composition,
keyed by what Hydra composes from: the folder, the config files, the sweep's Hydra overrides
and the job's.
The launch takes the job's config out of the memo, since the job then writes into it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from omegaconf import DictConfig, OmegaConf

_COMPOSED: dict[tuple, DictConfig] = {}


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
        _COMPOSED[key] = loader.load_sweep_config(master, list(overrides))
    cfg = _COMPOSED[key]
    OmegaConf.copy_cache(from_config=master, to_config=cfg)  # this sweep's ${now:} and the like
    return cfg


def forget() -> None:
    """Drop every composition kept (a test that edits config files between sweeps)."""
    _COMPOSED.clear()


class ComposedOnce:
    """Hydra's config loader, except that a job's config comes out of the memo when it is there.

    Given to the in-process launcher, so the launch of a job the sweeper planned costs nothing;
    every other call goes to Hydra's loader.
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
            return self.loader.load_sweep_config(master, overrides)
        OmegaConf.copy_cache(from_config=master, to_config=cfg)
        OmegaConf.set_readonly(cfg.hydra, None)  # HydraConfig.set_config locked it; Hydra writes
        return cfg
