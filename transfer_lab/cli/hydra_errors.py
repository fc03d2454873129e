"""Hydra's and OmegaConf's composition errors as one sentence each, with the closest valid name.

An unknown config name, a key that does not exist, an override Hydra cannot parse, a launcher
key the chosen launcher lacks: Hydra says these in its own words (often several lines and a
link); the pre-flight (cli/preflight.py) says them as what is wrong and how to fix it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from omegaconf import DictConfig

from transfer_lab.config.checks import RESERVED_TRAINER_KEYS, closest
from transfer_lab.errors import UserError


def composition_sentence(error: Exception, overrides: Iterable[str] = ()) -> str:
    """Hydra's or OmegaConf's message on one line, with the closest valid name or key."""
    from hydra.errors import MissingConfigException, OverrideParseException

    if isinstance(error, MissingConfigException) and error.missing_cfg_file:
        group, _, name = str(error.missing_cfg_file).rpartition("/")
        options = error.options or group_options(group)
        if options:
            return (
                f"there is no {group} config named {name!r}{closest(name, options)}; use one "
                f"of {', '.join(options)}."
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
    launcher_key = already or _quoted_after(message, "Could not override") or ""
    if launcher_key.startswith("hydra.launcher."):
        chosen = [o.split("=", 1)[1] for o in overrides if o.startswith("launcher=")]
        having = launchers_with(launcher_key)
        if not (already and chosen and chosen[-1] in having):
            return launcher_sentence(launcher_key, having)
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


def group_options(group: str) -> list[str]:
    """The config names of a group (`callbacks` → early_stopping, lr_monitor, …)."""
    from transfer_lab.config.paths import config_dir

    return sorted(p.stem for p in (config_dir() / group).glob("*.yaml"))


def launchers_with(key: str) -> list[str]:
    """The launcher configs that set a hydra.launcher key (n_jobs: parallel)."""
    import yaml

    from transfer_lab.config.paths import config_dir

    name = key.split(".")[2]
    return [
        p.stem
        for p in sorted((config_dir() / "launcher").glob("*.yaml"))
        if name in ((yaml.safe_load(p.read_text()) or {}).get("hydra") or {}).get("launcher", {})
    ]


def check_added_launcher_keys(overrides: list[str]) -> None:
    """`+hydra.launcher.KEY=…` composes only when the launcher in use lacks KEY (else Hydra says
    it is already there), and that launcher would then fail on it: name the launchers that have it."""
    for override in overrides:
        key = override.split("=", 1)[0]
        if key.startswith("+hydra.launcher.") and key.count(".") == 2:
            raise UserError(launcher_sentence(key[1:], launchers_with(key[1:])))


def launcher_sentence(key: str, having: list[str]) -> str:
    """A hydra.launcher key the chosen launcher lacks: name the launchers that have it."""
    if not having:
        return (
            f"{key} is not a setting of any launcher; the launchers are "
            f"{', '.join(group_options('launcher'))} (conf/launcher/)."
        )
    return (
        f"{key} is a setting of launcher={having[0]}, not of the launcher in use; add "
        f"launcher={having[0]} to the command (and write {key}=… without a leading +)."
    )


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
