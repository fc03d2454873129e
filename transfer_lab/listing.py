"""`python -m transfer_lab list`: the experiments, datasets and backbones there are."""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

from transfer_lab.paths import config_dir


def description(path: Path) -> str:
    """The first comment line of a config file that is not a Hydra directive."""
    for line in path.read_text().splitlines():
        text = line.strip()
        if text.startswith("#") and not text.startswith("# @"):
            return text.lstrip("# ").strip()
        if text and not text.startswith("#"):
            break
    return ""


def config_table(group: str, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("name", style="bold")
    table.add_column("what it is")
    for path in sorted((config_dir() / group).glob("*.yaml")):
        table.add_row(path.stem, description(path))
    return table


def backbone_table(pattern: str) -> Table:
    from transfer_lab.models import create_backbone
    from transfer_lab.models.registry import default_input, list_backbones

    table = Table(title="backbones (backbone=NAME; cut depth n counts the stages)",
                  title_justify="left")
    for column in ("name", "params", "stages"):
        table.add_column(column, style="bold" if column == "name" else None)
    configs = {p.stem: yaml.safe_load(p.read_text()) for p in (config_dir() / "backbone").glob("*.yaml")}
    for name in list_backbones(pattern):
        kwargs = {k: v for k, v in (configs.get(name) or {}).items() if k != "name"}
        channels, size = default_input(name)
        backbone = create_backbone(name, channels, size, **kwargs)
        params = sum(p.numel() for p in backbone.parameters())
        stages = backbone.stage_names
        shown = " ".join(stages) if len(stages) <= 12 else (
            " ".join(stages[:5]) + f" … ({len(stages)} stages) … " + " ".join(stages[-3:]))
        table.add_row(name, f"{params:,}", shown)
    return table


def main(args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m transfer_lab list",
                                     description="List experiments, datasets and backbones.")
    parser.add_argument("what", nargs="?", choices=("experiments", "data", "backbones"),
                        help="only this list")
    parser.add_argument("--pattern", default="*", help="backbone names to show, e.g. 'resnet*'")
    options = parser.parse_args(args)
    console = Console()
    if options.what in (None, "experiments"):
        console.print(config_table("experiment", "experiments (+experiment=NAME)"))
    if options.what in (None, "data"):
        console.print(config_table("data", "datasets (data=NAME)"))
    if options.what in (None, "backbones"):
        console.print(backbone_table(options.pattern))
    return 0
