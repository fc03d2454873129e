"""`python -m transfer_lab list`: the experiments, datasets and backbones there are.

`list` reads only the config files, so it starts in well under a second; `list backbones` also
builds each backbone on the meta device (no memory, no initialisation) to count its parameters
and name its stages, which needs torch: once per version of the code, then read from a cache.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import os
import re
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

from transfer_lab.cli.words import OneLineParser, refuse
from transfer_lab.config.paths import config_dir
from transfer_lab.config.schema import closest
from transfer_lab.errors import UserError
from transfer_lab.store.atomic import write_json_atomically


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


def backbone_configs() -> dict[str, dict]:
    """conf/backbone/*.yaml by file name: each names a registered backbone (or a `_target_`)."""
    return {
        p.stem: yaml.safe_load(p.read_text()) or {}
        for p in sorted((config_dir() / "backbone").glob("*.yaml"))
    }


def abbreviate(stages: list[str], limit: int = 12) -> str:
    """Every stage when there are few; else runs such as block1_layer01 … block1_layer16 are
    written block1_layer01…16, followed by the number of stages."""
    if len(stages) <= limit:
        return " ".join(stages)
    runs: list[list[tuple[str, str]]] = []  # [(prefix, digits), ...] of consecutive numbers
    for name in stages:
        match = re.fullmatch(r"(.*?)(\d+)", name)
        prefix, digits = (match.group(1), match.group(2)) if match else (name, "")
        last = runs[-1][-1] if runs else None
        if digits and last and last[0] == prefix and last[1] and int(last[1]) + 1 == int(digits):
            runs[-1].append((prefix, digits))
        else:
            runs.append([(prefix, digits)])
    words = [
        " ".join("".join(part) for part in run)
        if len(run) < 3
        else f"{''.join(run[0])}…{run[-1][1]}"
        for run in runs
    ]
    return " ".join(words) + f" ({len(stages)} stages)"


def backbone_rows(pattern: str) -> list[tuple[str, int, int, list[str]]]:
    """(backbone=CHOICE, parameters, feature width, stages) for each registered backbone whose
    name matches `pattern` and each config file that selects one with other settings (e.g.
    densenet_bc_layers). Building them needs torch and torchvision (seconds to import), so the
    table ships with the package for its own code (PACKAGED) and is kept in the user's cache
    for any other, keyed by the code and config files it comes from."""
    saved = rows_cache()
    try:
        rows = json.loads(saved.read_text())
    except (OSError, ValueError):
        rows = packaged_rows()
        if rows is None:
            rows = built_rows()
            with contextlib.suppress(OSError):  # a read-only cache only costs the next call time
                saved.parent.mkdir(parents=True, exist_ok=True)
                write_json_atomically(saved, rows)
    return [(c, p, w, stages) for name, c, p, w, stages in rows if fnmatch.fnmatch(name, pattern)]


# The table as this package's own code builds it, so a first `list backbones` imports no torch;
# tests/test_startup.py holds it to what built_rows() gives (write_packaged_table() renews it).
PACKAGED = Path(__file__).with_name("backbone_table.json")
OPTIONAL = {"timm": "timm"}  # a backbone whose library may be missing: listed only where it is


def code_digest() -> str:
    """A hash of what the table is built from: the models' code and conf/backbone/."""
    digest = hashlib.sha256()
    models = Path(__file__).resolve().parents[1] / "models"  # not imported: that is torch
    for path in [*sorted(models.glob("*.py")), *sorted((config_dir() / "backbone").glob("*"))]:
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def packaged_rows() -> list | None:
    """The shipped table, if it was built from this code (else None: build it)."""
    from importlib.util import find_spec

    try:
        packaged = json.loads(PACKAGED.read_text())
    except (OSError, ValueError):
        return None
    if packaged.get("code") != code_digest():
        return None
    missing = {name for name, module in OPTIONAL.items() if find_spec(module) is None}
    return [row for row in packaged["rows"] if row[0] not in missing]


def write_packaged_table() -> None:
    """Renew the shipped table from this code (after changing a backbone or its config)."""
    write_json_atomically(PACKAGED, {"code": code_digest(), "rows": built_rows()})


def rows_cache() -> Path:
    """Where the backbone table is kept: named by a hash of what it is built from (the models'
    code, conf/backbone/, the torch and torchvision versions)."""
    from importlib.metadata import version

    versions = f"{version('torch')} {version('torchvision')} {code_digest()}"
    digest = hashlib.sha256(versions.encode())
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "transfer_lab" / f"backbones-{digest.hexdigest()[:16]}.json"


def built_rows() -> list[tuple[str, str, int, int, list[str]]]:
    """(registered name, backbone=CHOICE, parameters, feature width, stages), each backbone
    built on the meta device."""
    import torch

    from transfer_lab.models import create_backbone
    from transfer_lab.models.registry import default_input, list_backbones

    configs = backbone_configs()
    rows = []
    for name in list_backbones():
        choices = [stem for stem, cfg in configs.items() if cfg.get("name") == name] or [name]
        for choice in sorted(choices, key=lambda c: (c != name, c)):
            kwargs = {k: v for k, v in configs.get(choice, {}).items() if k != "name"}
            channels, size = default_input(name)
            try:
                with torch.device("meta"):  # shapes only: no memory, no initialisation work
                    backbone = create_backbone(name, channels, size, **kwargs)
            except UserError:  # an optional library missing (backbone=timm without timm)
                continue
            params = sum(p.numel() for p in backbone.parameters())
            rows.append((name, choice, params, backbone.feature_dim, backbone.stage_names))
    return rows


def backbone_table(pattern: str) -> Table:
    table = Table(
        title="backbones (backbone=NAME; cut depth n counts the stages; params without "
        "the classifier head)",
        title_justify="left",
    )
    for column in ("name", "params", "features", "stages"):
        table.add_column(
            column,
            style="bold" if column == "name" else None,
            justify="right" if column in ("params", "features") else "left",
        )
    for choice, params, width, stages in backbone_rows(pattern):
        table.add_row(choice, f"{params:,}", str(width), abbreviate(stages))
    return table


LISTS = ("experiments", "datasets", "backbones")


def main(args: list[str]) -> int:
    parser = OneLineParser(
        prog="python -m transfer_lab list", description="List experiments, datasets and backbones."
    )
    parser.add_argument("what", nargs="?", help=f"only this list: {', '.join(LISTS)}")
    parser.add_argument("--pattern", default="*", help="backbone names to show, e.g. 'resnet*'")
    options = parser.parse_args(args)
    what = "datasets" if options.what == "data" else options.what
    if what not in (None, *LISTS):
        refuse(
            f"there is no list named {what!r}{closest(what, LISTS)}; use one of "
            f"{', '.join(LISTS)}, or none for all three."
        )
    console = Console()
    if what in (None, "experiments"):
        console.print(config_table("experiment", "experiments (+experiment=NAME)"))
    if what in (None, "datasets"):
        console.print(config_table("data", "datasets (data=NAME)"))
    if what is None:
        console.print(
            config_table(
                "backbone",
                "backbones (backbone=NAME; `list backbones` adds parameters and stages)",
            )
        )
    if what == "backbones":
        console.print(backbone_table(options.pattern))
    return 0
