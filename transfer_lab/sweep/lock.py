"""One sweep per folder at a time: the sweeper holds a lock on its folder while it plans and
runs, and a second sweep started there is refused in one sentence naming the first.

The lock is the kernel's (flock on `.sweep.lock`), held by the open file: it goes with the
process on every exit (the end, a failure, Ctrl-C, kill -9), so a lock left by a dead process
never blocks. The file only names the holder (pid and host) for the sentence.
"""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from transfer_lab.errors import UserError
from transfer_lab.store.atomic import open_lock

LOCK_FILE = ".sweep.lock"


@contextmanager
def sweep_lock(sweep_dir: Path) -> Iterator[None]:
    """Hold the sweep folder's lock, or refuse in one sentence when another process holds it."""
    path = Path(sweep_dir) / LOCK_FILE
    descriptor = open_lock(path)  # never through a link
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 200, 0).decode(errors="replace").strip()
            raise UserError(
                f"another sweep ({holder or 'a process'}) is running in {sweep_dir}; wait for "
                "it to end, or give this one a new folder (--new, or a new hydra.sweep.dir)."
            ) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"pid {os.getpid()} on {socket.gethostname()}".encode(), 0)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock
