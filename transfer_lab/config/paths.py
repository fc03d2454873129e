"""Where the Hydra configs are: conf/ beside the package in a checkout, inside it in a wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]  # transfer_lab/


def config_dir() -> Path:
    for candidate in (_PACKAGE.parent / "conf", _PACKAGE / "conf"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise FileNotFoundError(
        f"transfer_lab's configs are missing: looked for conf/config.yaml in {_PACKAGE.parent} "
        f"and {_PACKAGE}; reinstall the package."
    )
