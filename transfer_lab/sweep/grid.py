"""A sweep's grid as Hydra's basic sweeper builds it; its size reaches each job's progress lines
through the environment (the sweeper sets it)."""

from __future__ import annotations

from typing import Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser

JOB_COUNT_ENV = "TRANSFER_LAB_JOB_COUNT"  # the sweep's number of jobs, for "job k/N"


def grid(
    params: dict[str, str] | None, arguments: list[str], loader: Any = None
) -> list[list[str]]:
    """Each job's overrides, in Hydra's order, from the sweeper's params and the command line
    (`loader`, Hydra's config loader, lets an override name a config group's options)."""
    texts = [f"{k}={v}" for k, v in (params or {}).items()] + list(arguments)
    overrides = OverridesParser.create(config_loader=loader).parse_overrides(texts)
    return [list(job) for batch in BasicSweeper.split_arguments(overrides, None) for job in batch]


def count_jobs(params: dict[str, str] | None, arguments: list[str]) -> int:
    """The size of that grid."""
    return len(grid(params, arguments))
