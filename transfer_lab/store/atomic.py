"""Files that are either whole or absent: write beside, fsync, rename. Torch-free on purpose, so
the report can use it without importing torch."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _new_temporary(path: Path) -> Path:
    """A new, empty file beside `path`, made as a plain `open` would make it: mode 0666 less the
    umask (tempfile.mkstemp makes 0600, and the rename keeps it, so nobody else could read a
    shared cache or a sweep's results)."""
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write(tmp)` on a temporary file beside `path`, flush it to disk, rename it into place.

    A process killed at any point leaves either the old file or the new one, never a mix. An
    OSError names `path` (a write through a file object names no file), so it can be told in
    one sentence (config/folders.py).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_temporary(path)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as error:
        if error.filename is None:
            raise OSError(error.errno, error.strerror, str(path)) from error
        raise
    finally:
        tmp.unlink(missing_ok=True)


def write_json_atomically(path: Path, data: Any) -> None:
    write_atomically(
        path, lambda tmp: tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    )
