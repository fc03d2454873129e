"""Misused command words as one sentence, with the closest valid word.

argparse's own errors are two lines (usage, then the message); `OneLineParser` prints one,
with the nearest option, so `list`, `report` and the command word read alike.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import NoReturn

from transfer_lab.config.schema import closest


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr, exit 2."""

    def error(self, message: str) -> NoReturn:
        options = [o for action in self._actions for o in action.option_strings]
        unknown = re.search(r"unrecognized arguments: (\S+)", message)
        hint = closest(unknown.group(1), options) if unknown else ""
        self.exit(2, f"error: {self.prog}: {message}{hint}; see {self.prog} --help.\n")


# Hydra's own flags, which `run` and `sweep` pass on; `--resume` and `--new` are ours, for `sweep`.
HYDRA_FLAGS = [
    "--help",
    "-h",
    "--hydra-help",
    "--version",
    "--cfg",
    "-c",
    "--resolve",
    "--package",
    "-p",
    "--run",
    "-r",
    "--multirun",
    "-m",
    "--shell-completion",
    "-sc",
    "--config-path",
    "-cp",
    "--config-name",
    "-cn",
    "--config-dir",
    "-cd",
    "--experimental-rerun",
    "--info",
    "-i",
]

SWEEP_FLAGS = ("--resume", "--new")


def not_a_command(word: str, commands: tuple[str, ...], command: str = "run") -> str | None:
    """A sentence for an argument that is neither a setting nor a flag run/sweep take, else None."""
    if word.startswith("-"):
        flag = word.split("=")[0]
        if flag in SWEEP_FLAGS and command != "sweep":
            return f"{flag} goes with sweep: python -m transfer_lab sweep {flag}."
        if flag in (*HYDRA_FLAGS, *SWEEP_FLAGS):
            return None
        hint = closest(flag, (*HYDRA_FLAGS, *SWEEP_FLAGS))
        return f"{flag} is not an option of {command}{hint}; see python -m transfer_lab --help."
    if "=" in word or word.startswith(("+", "~")):
        return None
    return (
        f"{word!r} is neither a command nor a KEY=VALUE setting{closest(word, commands)}; "
        f"the commands are {', '.join(commands)} (python -m transfer_lab --help)."
    )


def refuse(sentence: str) -> NoReturn:
    print(f"error: {sentence}", file=sys.stderr)
    raise SystemExit(2)
