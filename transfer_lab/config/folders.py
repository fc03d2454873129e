"""Where a run writes: each folder can be written, and holds nothing of another run; a new
run's or sweep's folder is named by its date and time.

OS errors become one sentence (the folder, why, what to do); a sweep folder or a job folder
that holds another sweep's or job's settings is refused rather than mixed.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import sys
import tempfile
import threading
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from transfer_lab.errors import UserError
from transfer_lab.store.atomic import HYDRA_WRITES, refuse_links

# Why a write fails that the user can fix: a full disk, no permission, a file in the way.
WRITE_ERRNOS = {
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
    errno.ENOTDIR,
}


# What the probe writes: room for what Hydra writes before the job can say anything (its three
# config files and the log's first lines, about 20 KB). An empty file would not do: a full disk
# still makes one, and Hydra, failing there, leaves empty config.yaml and job.log behind.
PROBE_BYTES = 64 * 1024


def check_writable(folder: Path, setting: str) -> None:
    """Write PROBE_BYTES to a file in `folder`, or in the nearest folder above it that exists
    (nothing is made before the job runs), or say in one sentence why not."""
    folder = Path(folder)
    existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("."))
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".write-test-") as probe:
            probe.write(bytes(PROBE_BYTES))
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as error:
        raise UserError(os_error_sentence(error, folder, setting)) from None


def os_error_sentence(error: OSError, folder: Path | None = None, setting: str = "") -> str:
    """One sentence for a write that failed: the folder, why, and what to do."""
    where = folder if folder is not None else Path(error.filename or ".").parent
    fix = f"set {setting} to another folder" if setting else "write somewhere else"
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"the disk holding {where} is full; free space there or {fix}."
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"cannot write in {where} (permission denied or read-only); {fix}."
    if error.errno in (errno.ENOTDIR, errno.EEXIST):
        return f"cannot make the folder {where}: a file of that name is in the way; {fix}."
    return f"cannot write in {where} ({error.strerror or error}); {fix}."


def job_fault_sentence(error: OSError, job_dir: Path, cache_dir: Path, multirun: bool) -> str:
    """One sentence for a write of a running job that failed: the folder (the job's, when the
    error names no file), why, and the setting that moves it."""
    failed = Path(error.filename).parent if error.filename else Path(job_dir)
    if Path(cache_dir).resolve() in (failed.resolve(), *failed.resolve().parents):
        setting = "paths.cache_dir (or $TRANSFER_LAB_CACHE)"
    else:
        setting = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    return os_error_sentence(error, failed, setting)


def guard_hydra_config_save() -> None:
    """Hydra's first writes in a job folder (.hydra/*.yaml, after it opened job.log) that fail
    for a reason in WRITE_ERRNOS end the run in one sentence, exit 2, and leave no empty file
    behind; without this, Hydra prints a traceback and leaves an empty config.yaml and job.log.

    The check before a run (check_writable) makes this rare: it is for a disk that fills
    between that check and the job, or in the middle of a sweep.
    """
    import hydra.core.utils as hydra_utils

    save = hydra_utils._save_config
    if getattr(save, "says_write_errors", False):  # installed already
        return

    def guarded(cfg: object, filename: str, output_dir: Path) -> None:
        try:
            save(cfg, filename, output_dir)
        except OSError as error:
            if error.errno not in WRITE_ERRNOS:
                raise
            from hydra.core.hydra_config import HydraConfig
            from hydra.types import RunMode

            multirun = HydraConfig.get().mode == RunMode.MULTIRUN
            setting = "hydra.sweep.dir" if multirun else "hydra.run.dir"
            job_dir = Path(output_dir).parent
            remove_empty_files(job_dir)
            print(f"error: {os_error_sentence(error, job_dir, setting)}", file=sys.stderr)
            raise SystemExit(2) from None

    guarded.says_write_errors = True
    hydra_utils._save_config = guarded


def remove_empty_files(folder: Path) -> None:
    """The empty files a failed write left in a job folder (log files are closed first)."""
    for handler in list(logging.getLogger().handlers):
        if isinstance(handler, logging.FileHandler) and Path(handler.baseFilename).is_relative_to(
            folder
        ):
            handler.close()
            logging.getLogger().removeHandler(handler)
    for path in Path(folder).rglob("*"):
        if path.is_file() and path.stat().st_size == 0:
            path.unlink()


def quiet_write_errors_in_threads() -> None:
    """A write that fails for a reason in WRITE_ERRNOS in a library's thread (TensorBoard's event
    writer) prints no traceback there: the library raises it again in the job's own thread,
    where it becomes one sentence (job/task.py). Other errors in threads print as before."""
    previous = threading.excepthook
    if getattr(previous, "quiets_write_errors", False):  # installed already
        return

    def hook(args: threading.ExceptHookArgs) -> None:
        if not (isinstance(args.exc_value, OSError) and args.exc_value.errno in WRITE_ERRNOS):
            previous(args)

    hook.quiets_write_errors = True
    threading.excepthook = hook


def check_sweep_folder(folder: Path, overrides: list[str]) -> None:
    """A sweep folder that already holds a sweep with other settings would mix two sweeps."""
    saved = Path(folder) / "multirun.yaml"
    if not saved.is_file():
        return
    try:
        before = OmegaConf.load(saved).hydra.overrides.task
    except Exception:  # unreadable: not ours to judge, Hydra will overwrite it
        return
    if _settings(before) != _settings(overrides):
        raise UserError(
            f"{folder} already holds a different sweep ({' '.join(before) or 'no overrides'}); "
            f"give a new hydra.sweep.dir or leave it out for a fresh folder."
        )


def check_run_folder(folder: Path, overrides: list[str]) -> None:
    """A job folder whose finished results.json records other settings is another job's (a
    failed or stopped job's folder may be run again, e.g. to resume it); one where Hydra's own
    files (`.hydra/`, `job.log`) or the TensorBoard folder are links would be written through."""
    refuse_links(Path(folder) / name for name in (*HYDRA_WRITES, "tensorboard"))
    saved = Path(folder) / "results.json"
    if not saved.is_file():
        return
    try:
        record = json.loads(saved.read_text())
    except (OSError, ValueError):
        return
    if record.get("status") != "ok":
        return
    before = record.get("overrides", [])
    if _settings(before) != _settings(overrides):
        raise UserError(
            f"{folder} already holds the results of a different job "
            f"({' '.join(before) or 'no overrides'}); give a new hydra.run.dir or leave it out."
        )


def _settings(overrides: Iterable[str]) -> list[str]:
    """The overrides that change what is computed (not where it is written)."""
    return sorted(o for o in overrides if not o.lstrip("+~").startswith("hydra."))


def check_folders(master: DictConfig, multirun: bool) -> None:
    """The cache and the output folder can be written, and hold nothing of another job."""
    task_overrides = list(master.hydra.overrides.task)
    given = {
        o.split("=", 1)[0].lstrip("+~"): o.split("=", 1)[1]
        for o in master.hydra.overrides.hydra
        if "=" in o
    }
    cache = Path(master.paths.cache_dir)
    if not (cache.is_dir() and not os.access(cache, os.W_OK)):  # a read-only cache is read
        check_writable(cache, "paths.cache_dir (or $TRANSFER_LAB_CACHE)")
    if multirun and "hydra.sweep.dir" in given:
        folder = Path(given["hydra.sweep.dir"])
        check_sweep_folder(folder, task_overrides)
        check_writable(folder, "hydra.sweep.dir")
    elif not multirun and "hydra.run.dir" in given:
        folder = Path(given["hydra.run.dir"])
        check_run_folder(folder, task_overrides)
        check_writable(folder, "hydra.run.dir")


def _candidates(root: Path, now: datetime | None):
    now = now or datetime.now()
    base = root / now.strftime("%Y-%m-%d") / now.strftime("%H-%M-%S")
    for attempt in range(1, 10_000):
        yield base if attempt == 1 else base.with_name(f"{base.name}-{attempt}")


def unique_dir(root: Path, now: datetime | None = None, first: Path | None = None) -> Path:
    """root/<date>/<time> (or `first`, a name chosen before), made now; a second made in the
    same second gets a suffix."""
    for candidate in [first] if first else _candidates(root, now):
        candidate.parent.mkdir(parents=True, exist_ok=True)
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    if first:  # taken meanwhile
        return unique_dir(root, now)
    raise RuntimeError(f"could not make a new folder under {root}")


def free_dir(root: Path, now: datetime | None = None) -> Path:
    """The name unique_dir would make now, not made yet (the checks compose with it first)."""
    return next(c for c in _candidates(root, now) if not c.exists())
