"""Every dotted name the configs and the sweeper hold resolves: a moved module or a renamed
class fails here, not in the middle of someone's sweep."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest
import yaml
from hydra.utils import get_object

from hydra_plugins.transfer_lab_sweeper import sweeper
from transfer_lab.config.paths import config_dir


def targets(node: object) -> list[str]:
    """Every `_target_` value anywhere in a loaded YAML document."""
    if isinstance(node, dict):
        found = [node["_target_"]] if isinstance(node.get("_target_"), str) else []
        return found + [t for value in node.values() for t in targets(value)]
    if isinstance(node, list):
        return [t for value in node for t in targets(value)]
    return []


def config_targets() -> list[tuple[str, str]]:
    conf = config_dir()
    return [
        (str(path.relative_to(conf)), target)
        for path in sorted(conf.rglob("*.yaml"))
        for target in targets(yaml.safe_load(path.read_text()))
    ]


def sweeper_imports() -> list[str]:
    """`from transfer_lab.X import Y` in the sweeper, as `transfer_lab.X.Y` (imported lazily,
    so nothing but a sweep would notice a moved name)."""
    tree = ast.parse(Path(sweeper.__file__).read_text())
    return [
        f"{node.module}.{alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("transfer_lab")
        for alias in node.names
    ]


def test_the_configs_and_the_sweeper_name_something():
    assert len(config_targets()) >= 15
    assert "transfer_lab.errors.UserError" in sweeper_imports()


@pytest.mark.parametrize(("path", "target"), config_targets())
def test_every_config_target_resolves(path, target):
    assert callable(get_object(target)), f"{path}: {target}"


@pytest.mark.parametrize("name", sweeper_imports())
def test_every_name_the_sweeper_imports_resolves(name):
    module, _, attribute = name.rpartition(".")
    assert hasattr(importlib.import_module(module), attribute), name


def test_the_sweeper_config_names_its_class():
    assert get_object(sweeper.SourcesFirstSweeperConf._target_) is sweeper.SourcesFirstSweeper
