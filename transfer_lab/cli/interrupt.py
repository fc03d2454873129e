"""Ctrl-C: the work stops, and one line says what stopped and the command that goes on."""

from __future__ import annotations

import contextlib
import signal
import sys


class Interrupted:
    """Whether Ctrl-C stopped the work (Lightning turns it into SystemExit(1) on its way out)."""

    def __init__(self) -> None:
        self.seen = False

    def __bool__(self) -> bool:
        return self.seen


@contextlib.contextmanager
def interruptible():
    """Note a Ctrl-C and swallow what it raises (KeyboardInterrupt, or Lightning's exit)."""
    interrupted = Interrupted()
    previous = signal.getsignal(signal.SIGINT)

    def on_sigint(number, frame):
        interrupted.seen = True
        signal.default_int_handler(number, frame)

    signal.signal(signal.SIGINT, on_sigint)
    try:
        yield interrupted
    except (KeyboardInterrupt, SystemExit):
        if not interrupted:
            raise
    finally:
        signal.signal(signal.SIGINT, previous)


def stopped(what: str, command: str) -> int:
    """The one line Ctrl-C gets: what stopped, and the command that goes on from there."""
    print(
        f"error: interrupted: {what} stopped; go on from where it stopped with: {command}",
        file=sys.stderr,
        flush=True,
    )
    return 130
