"""Disk and OS faults are one sentence wherever they happen (before the run, in Hydra's first
writes, in torch.save, in TensorBoard's writer thread), exit 2, and leave no empty file.

A full or read-only disk is a tiny tmpfs mounted for the test (that needs root, as the tests
run here); a read-only folder is a read-only tmpfs as root, a chmod-ed folder otherwise.
"""

from __future__ import annotations

import errno
import os
import subprocess
import threading
from pathlib import Path

import pytest

from tests.conftest import TINY


@pytest.fixture
def disk(tmp_path):
    """mount(kilobytes, read_only=False) → a folder on a fresh tmpfs of that size."""
    mounted: list[Path] = []

    def mount(kilobytes: int, read_only: bool = False) -> Path:
        where = tmp_path / f"disk{len(mounted)}"
        where.mkdir()
        options = f"size={kilobytes}k" + (",ro" if read_only else "")
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            pytest.skip(f"a small disk is a tmpfs mount, which needs root: {done.stderr.strip()}")
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        subprocess.run(["umount", "-l", str(where)], check=False)


def full(disk) -> Path:
    """A folder on a disk with no byte left."""
    where = disk(64)
    fd = os.open(where / "fill", os.O_WRONLY | os.O_CREAT)
    try:
        with pytest.raises(OSError) as stop:
            while True:
                os.write(fd, bytes(4096))
    finally:
        os.close(fd)
    assert stop.value.errno == errno.ENOSPC
    return where


@pytest.fixture
def read_only(disk, tmp_path):
    """A folder nobody here can write in: a read-only tmpfs as root, chmod 555 otherwise."""
    if os.geteuid() == 0:
        return disk(64, read_only=True)
    where = tmp_path / "read-only"
    where.mkdir(mode=0o555)
    return where


def files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def empty_files(folder: Path) -> list[Path]:
    """Zero-byte files, but the cache's lock files (empty by design: only their lock counts)."""
    return [
        p
        for p in folder.rglob("*")
        if p.is_file() and p.stat().st_size == 0 and p.suffix != ".lock"
    ]


def test_a_run_into_a_full_disk_is_one_sentence_and_nothing_is_made(cli, disk):
    where = full(disk)
    done = cli([f"hydra.run.dir={where / 'job'}", *TINY], check=False)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"error: the disk holding {where / 'job'} is full; free space there or set "
        "hydra.run.dir to another folder."
    ]
    assert files(where) == ["fill"]  # no job folder, no empty config.yaml or job.log


def test_a_disk_that_fills_before_hydra_saves_the_config_is_one_sentence(cli, disk, monkeypatch):
    monkeypatch.setattr("transfer_lab.config.folders.check_writable", lambda *args: None)
    where = full(disk)  # as if it filled between the check and the job
    done = cli([f"hydra.run.dir={where / 'job'}", *TINY], check=False)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"error: the disk holding {where / 'job'} is full; free space there or set "
        "hydra.run.dir to another folder."
    ]
    assert [p for p in files(where) if (where / p).is_file()] == ["fill"]  # no empty file


def test_a_sweep_into_a_read_only_folder_is_one_sentence_and_nothing_is_made(cli, read_only):
    done = cli(["sweep", "model.beta=0,0.4", f"hydra.sweep.dir={read_only / 'sweep'}"], check=False)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"error: cannot write in {read_only / 'sweep'} (permission denied or read-only); set "
        "hydra.sweep.dir to another folder."
    ]
    assert files(read_only) == []


def test_a_full_cache_disk_is_refused_before_the_run(cli, disk):
    where = full(disk)
    done = cli([f"paths.cache_dir={where / 'cache'}", *TINY], check=False)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"error: the disk holding {where / 'cache'} is full; free space there or set "
        "paths.cache_dir (or $TRANSFER_LAB_CACHE) to another folder."
    ]
    assert files(where) == ["fill"]


def test_report_on_a_read_only_sweep_folder_is_one_sentence(cli, disk):
    from tests.test_report import make_job, ok_results

    where = disk(256)
    make_job(where, 0, ["model.beta=0"], ok_results(0.8, split_seed=0))
    subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True)
    done = cli(["report", str(where), "--no-figures"], check=False)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"error: cannot write in {where} (permission denied or read-only); write somewhere else."
    ]


def test_a_write_error_in_tensorboards_writer_thread_prints_no_traceback(disk, monkeypatch):
    from torch.utils.tensorboard import SummaryWriter

    from transfer_lab.config.folders import quiet_write_errors_in_threads

    printed = []  # what the default hook would print
    monkeypatch.setattr(threading, "excepthook", lambda args: printed.append(args.exc_type))
    quiet_write_errors_in_threads()
    where = full(disk)
    with pytest.raises(OSError) as raised:  # raised again here, in the job's own thread
        writer = SummaryWriter(log_dir=str(where / "tb"))  # its thread writes the file's header
        for step in range(100):
            writer.add_scalar("loss", 1.0, step)
            writer.flush()
    assert raised.value.errno == errno.ENOSPC
    assert printed == []

    other = threading.Thread(target=lambda: 1 / 0)  # any other error in a thread still prints
    other.start()
    other.join()
    assert printed == [ZeroDivisionError]


@pytest.mark.slow
def test_a_job_folder_that_fills_mid_run_is_one_sentence_and_leaves_no_empty_file(cli, disk):
    where = disk(160)  # room for Hydra's files and the first events, not for a checkpoint
    job = where / "job"
    done = cli(
        [f"hydra.run.dir={job}", "source.epochs=1", "target.epochs=1", *TINY[2:]], check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 2
    sentence = (
        f"the disk holding {job / 'checkpoints'} is full; free space there or set "
        "hydra.run.dir to another folder."
    )
    assert output.count(sentence) == 1 and "Traceback" not in output
    assert empty_files(where) == []
    assert not list(where.rglob("*.tmp"))


@pytest.mark.slow
def test_a_cache_disk_that_fills_mid_run_is_called_full_not_an_enforce_fail(cli, disk):
    where = disk(100)  # passes the check before the run, holds no source checkpoint
    cache = where / "cache"
    args = [f"paths.cache_dir={cache}", "hydra.run.dir=job", "source.epochs=1", "target.epochs=1"]
    done = cli([*args, *TINY[2:]], check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 2
    assert "enforce fail" not in output and "Traceback" not in output
    (folder,) = [p for p in cache.iterdir() if p.is_dir()]
    sentence = (
        f"the disk holding {folder} is full; free space there or set paths.cache_dir "
        "(or $TRANSFER_LAB_CACHE) to another folder."
    )
    assert output.count(sentence) == 1
    import json

    record = json.loads((cli.cwd / "job" / "results.json").read_text())
    assert (record["status"], record["reason"]) == ("failed", sentence)
    assert empty_files(where) == [] and not list(where.rglob("*.tmp"))
