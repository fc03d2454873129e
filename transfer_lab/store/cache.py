"""A content-addressed store of trained source networks, shared by every job of every sweep.

The key is a hash of everything that determines the source network, so a job that needs a
source some earlier job trained reuses it. A per-key file lock makes two processes that need
the same missing source train it once; checkpoints are written to a temporary file and renamed,
and carry their SHA-256, so a half-written or damaged one is noticed on load and retrained.

Entries are loaded with `weights_only=True`: a planted pickle runs no code, fails to load, and is
retrained like a damaged entry. A cache this user may only read (a colleague's) is read; a
source missing from it is one sentence.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from transfer_lab.errors import UserError
from transfer_lab.store.atomic import (
    file_sha256,
    open_lock,
    own_folder,
    write_atomically,
    write_json_atomically,
)

log = logging.getLogger(__name__)

Trained = dict[str, Any]  # {"state_dict": ..., "metrics": {...}}
READ_ONLY = (errno.EACCES, errno.EPERM, errno.EROFS)


def save_atomically(path: Path, payload: Any) -> None:
    """torch.save, whole or absent; a full disk raises the OSError it is, and Ctrl-C during the
    write the KeyboardInterrupt it is. (torch reports either as "enforce fail … unexpected
    pos": saving to a path always, to a file object when closing the archive fails after the
    write that failed, which it keeps as the error's context.)"""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            try:
                torch.save(payload, f)
            except RuntimeError as error:
                if isinstance(error.__context__, (OSError, KeyboardInterrupt)):
                    raise error.__context__ from None
                raise

    write_atomically(path, write)


def cache_key(definition: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a source network's definition."""
    text = json.dumps(definition, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class SourceCache:
    """Source checkpoints under `root/<key[:2]>/<key>.pt`, each with its definition and hash."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _paths(self, key: str) -> tuple[Path, Path, Path]:
        folder = self.root / key[:2]
        return folder / f"{key}.pt", folder / f"{key}.json", folder / f"{key}.lock"

    @contextmanager
    def _locked(self, key: str) -> Iterator[bool]:
        """Hold the key's lock; yields False, holding none, in a cache this user cannot write
        (nobody can be made to wait for a source this user could not store anyway)."""
        lock_path = self._paths(key)[2]
        try:
            own_folder(lock_path.parent)  # a shard that is a link is refused
            lock = open_lock(lock_path)  # NFS locks want writing
        except OSError as error:
            if error.errno not in READ_ONLY:
                raise
            yield False
            return
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield True
        finally:
            os.close(lock)  # closing releases the lock

    def contains(self, key: str) -> bool:
        """Whether a source is stored under this key (its bytes are checked when loaded)."""
        checkpoint, meta_path, _ = self._paths(key)
        return checkpoint.exists() and meta_path.exists()

    def _remove_leftovers(self, key: str) -> None:
        """Temporary files of a write that was killed; only the lock holder writes this key."""
        for leftover in self._paths(key)[0].parent.glob(f".{key}.*.tmp"):
            leftover.unlink(missing_ok=True)

    def load(self, key: str) -> Trained | None:
        """The stored source, or None if absent, or if its record is unreadable, names another
        key, holds a definition that does not hash to its key, or its bytes no longer match
        their hash (a killed write, a damaged disk, a hand edit): such an entry is retrained."""
        checkpoint, meta_path, _ = self._paths(key)
        if not checkpoint.exists():
            return None
        try:
            meta = json.loads(meta_path.read_text())
            agrees = meta.get("key") == key and cache_key(meta["definition"]) == key
            sha = meta["sha256"] if agrees else None
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            sha = None
        if sha is None or file_sha256(checkpoint) != sha:
            log.warning("cached source %s is incomplete or damaged; training it again", key[:12])
            return None
        try:  # tensors and plain values only: a planted pickle runs nothing, it fails here
            trained = torch.load(checkpoint, map_location="cpu", weights_only=True)
        except Exception as error:  # noqa: BLE001 (torch raises UnpicklingError, RuntimeError, …)
            reason = str(error).strip().splitlines()[0] if str(error).strip() else error
            log.warning("cached source %s does not load (%s); training it again", key[:12], reason)
            return None
        if not isinstance(trained, dict) or not isinstance(trained.get("state_dict"), dict):
            log.warning("cached source %s holds no network; training it again", key[:12])
            return None
        trained["sha256"] = sha
        return trained

    def store(self, key: str, trained: Trained, definition: Mapping[str, Any]) -> str:
        """Write a source atomically; returns the checkpoint's SHA-256."""
        checkpoint, meta_path, _ = self._paths(key)
        save_atomically(checkpoint, trained)
        sha = file_sha256(checkpoint)
        write_json_atomically(meta_path, {"key": key, "sha256": sha, "definition": definition})
        return sha

    def fetch_or_train(
        self, definition: Mapping[str, Any], train: Callable[[], Trained]
    ) -> tuple[Trained, str, bool]:
        """(source, key, trained_now): reuse the stored source or train and store it, once."""
        key = cache_key(definition)
        with self._locked(key) as writable:
            if writable:
                self._remove_leftovers(key)
            found = self.load(key)
            if found is not None:
                return found, key, False
            if not writable:
                raise UserError(
                    f"the source cache {self.root} is read-only to you and does not hold the "
                    f"source this job needs ({key[:12]}); set paths.cache_dir (or "
                    "$TRANSFER_LAB_CACHE) to a folder you can write, or ask the cache's owner "
                    "to run this job first."
                )
            trained = train()
            trained["sha256"] = self.store(key, trained, definition)
            return trained, key, True
