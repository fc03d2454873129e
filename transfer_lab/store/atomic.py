"""Files that are either whole or absent: write beside, fsync, rename. Torch-free on purpose, so
the report can use it without importing torch.

This is the one way the tool writes a file, and no write follows a link: a new file is made
with O_EXCL (which never follows one) and renamed over its path (which replaces a link, not
what it points at); a lock is opened with O_NOFOLLOW; a folder the tool makes inside its own
folders (a cache shard, figures/, checkpoints/) that is a link is refused. So a colleague who
can write a shared folder cannot make a rerun overwrite a file elsewhere with the user's rights.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from transfer_lab.errors import UserError


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


def write_text_atomically(path: Path, text: str) -> None:
    write_atomically(path, lambda tmp: tmp.write_text(text))


def write_json_atomically(path: Path, data: Any) -> None:
    write_atomically(
        path, lambda tmp: tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    )


def link_sentence(path: Path) -> str:
    return (
        f"{path} is a symbolic link, and transfer_lab never writes through one; remove the "
        "link (someone who can write this folder may have planted it) and run again."
    )


# What Hydra writes in a job's folder itself, with a plain open() that follows a link; checked
# before it runs (sweep/plan.py for a sweep's jobs, config/folders.py for a run's own folder).
HYDRA_WRITES = (
    ".hydra",
    ".hydra/config.yaml",
    ".hydra/hydra.yaml",
    ".hydra/overrides.yaml",
    "job.log",
)


def refuse_links(paths: Iterable[Path]) -> None:
    """The first of `paths` that is a link, refused in one sentence (for files a library
    writes with a plain open, which follows one)."""
    for path in paths:
        if Path(path).is_symlink():
            raise UserError(link_sentence(Path(path)))


def own_folder(folder: Path, mode: int = 0o777) -> Path:
    """`folder`, made if missing (with `mode`, less the umask); a link in its place is refused
    in one sentence."""
    folder = Path(folder)
    if folder.is_symlink():
        raise UserError(link_sentence(folder))
    folder.mkdir(mode=mode, parents=True, exist_ok=True)
    return folder


def private_folder(folder: Path, why: str) -> Path:
    """`folder`, made writable by this user alone if missing; a link, or one another user owns
    or may write, is refused in one sentence that says `why` it matters."""
    folder = own_folder(folder, mode=0o700)
    if not folder.stat().st_mode & 0o022 and folder.stat().st_uid == os.getuid():
        return folder
    raise UserError(
        f"{folder} can be written by other users, and {why}; make it yours alone "
        f"(chmod go-w {folder}, or remove it if another user owns it) and run again."
    )


def open_lock(path: Path, flags: int = os.O_RDWR | os.O_CREAT) -> int:
    """A lock file's descriptor, opened without following a link (a planted one is refused in
    one sentence) and made as a plain `open` makes a file."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW, 0o666)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UserError(link_sentence(Path(path))) from None
        raise


def append_line(path: Path, line: str) -> None:
    """Append one line to an existing file, never through a link (O_APPEND: whole, even from
    several processes)."""
    descriptor = open_lock(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(descriptor, (line + "\n").encode())
    finally:
        os.close(descriptor)
