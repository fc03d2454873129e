"""The source cache: one training per key across processes, atomic writes, verified loads."""

from __future__ import annotations

import contextlib
import grp
import json
import multiprocessing as mp
import os
import pwd
import shutil
import stat
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
import torch

from transfer_lab.machine import cpu_kind
from transfer_lab.store.cache import SourceCache, cache_key

DEFINITION = {"dataset": "digits", "classes": [1, 2, 3], "beta": 0.4, "seed": 0}


def slow_training(root: str, log: str) -> bool:
    def train():
        with open(log, "a") as f:
            f.write("trained\n")
        time.sleep(1.0)
        return {"state_dict": {"w": torch.arange(4.0)}, "metrics": {"val_acc": 0.5}}

    _, _, trained = SourceCache(root).fetch_or_train(DEFINITION, train)
    return trained


def test_key_is_stable_and_sensitive():
    assert cache_key(DEFINITION) == cache_key(dict(reversed(list(DEFINITION.items()))))
    assert cache_key(DEFINITION) != cache_key({**DEFINITION, "beta": 0.2})


def test_two_processes_needing_the_same_source_train_it_once(tmp_path):
    log = tmp_path / "log.txt"
    ctx = mp.get_context("spawn")
    with ctx.Pool(2) as pool:
        trained = pool.starmap(slow_training, [(str(tmp_path / "c"), str(log))] * 2)
    assert sorted(trained) == [False, True]
    assert log.read_text().count("trained") == 1


def test_reuse_returns_the_stored_weights_and_metrics(tmp_path):
    cache = SourceCache(tmp_path)
    first, key, trained = cache.fetch_or_train(
        DEFINITION, lambda: {"state_dict": {"w": torch.ones(3)}, "metrics": {"val_acc": 0.9}}
    )
    again, key2, trained2 = cache.fetch_or_train(DEFINITION, lambda: 1 / 0)
    assert (trained, trained2, key) == (True, False, key2)
    assert torch.equal(again["state_dict"]["w"], torch.ones(3))
    assert again["metrics"] == {"val_acc": 0.9} and again["sha256"] == first["sha256"]


def test_a_damaged_checkpoint_is_noticed_and_retrained(tmp_path):
    cache = SourceCache(tmp_path)
    cache.fetch_or_train(DEFINITION, lambda: {"state_dict": {"w": torch.ones(3)}, "metrics": {}})
    (checkpoint,) = Path(tmp_path).glob("*/*.pt")
    checkpoint.write_bytes(checkpoint.read_bytes()[:-10])  # half-written
    fresh, _, trained = cache.fetch_or_train(
        DEFINITION, lambda: {"state_dict": {"w": torch.zeros(3)}, "metrics": {}}
    )
    assert trained and torch.equal(fresh["state_dict"]["w"], torch.zeros(3))
    assert cache.load(cache_key(DEFINITION)) is not None


def test_a_failed_training_leaves_nothing_behind(tmp_path):
    cache = SourceCache(tmp_path)

    def broken():
        raise RuntimeError("out of memory")

    with contextlib.suppress(RuntimeError):
        cache.fetch_or_train(DEFINITION, broken)
    assert not list(Path(tmp_path).glob("*/*.pt")) and not list(Path(tmp_path).glob("*/*.tmp"))


def _stored(tmp_path) -> tuple[SourceCache, Path]:
    cache = SourceCache(tmp_path)
    cache.fetch_or_train(DEFINITION, lambda: {"state_dict": {"w": torch.ones(3)}, "metrics": {}})
    (checkpoint,) = Path(tmp_path).glob("*/*.pt")
    return cache, checkpoint


def test_an_unreadable_or_missing_record_means_retrain(tmp_path):
    cache, checkpoint = _stored(tmp_path)
    key, record = checkpoint.stem, checkpoint.with_suffix(".json")
    record.write_text('{"key": "trunc')  # a record cut short
    assert cache.load(key) is None
    record.write_text('{"key": "another", "sha256": "0"}')  # a record of another entry
    assert cache.load(key) is None
    record.unlink()  # killed between the checkpoint and its record
    assert cache.load(key) is None
    fresh, _, trained = cache.fetch_or_train(
        DEFINITION, lambda: {"state_dict": {"w": torch.zeros(3)}, "metrics": {}}
    )
    assert trained and cache.load(key) is not None


def test_a_killed_writes_temporary_file_is_removed_under_the_lock(tmp_path):
    cache, checkpoint = _stored(tmp_path)
    leftover = checkpoint.parent / f".{checkpoint.name}.abc123.tmp"
    leftover.write_bytes(b"half a checkpoint")
    _, _, trained = cache.fetch_or_train(DEFINITION, lambda: 1 / 0)
    assert not trained and not leftover.exists()


def test_a_checkpoint_write_that_fails_leaves_the_previous_file_whole(tmp_path):
    from transfer_lab.train.callbacks import AtomicCheckpointIO

    io, path = AtomicCheckpointIO(), tmp_path / "checkpoints" / "target.ckpt"
    io.save_checkpoint({"state_dict": {"w": torch.ones(3)}}, path)
    before = path.read_bytes()

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("killed mid-write")

    with contextlib.suppress(RuntimeError):
        io.save_checkpoint({"state_dict": {"w": torch.zeros(3)}, "x": Unpicklable()}, path)
    assert path.read_bytes() == before
    assert list(path.parent.iterdir()) == [path]  # no temporary file left


def test_a_record_whose_definition_does_not_hash_to_its_key_is_retrained(tmp_path):
    cache, checkpoint = _stored(tmp_path)
    key, record = checkpoint.stem, checkpoint.with_suffix(".json")
    meta = json.loads(record.read_text())
    meta["definition"]["beta"] = 0.2  # the checkpoint, its hash and its key stay as they were
    record.write_text(json.dumps(meta))
    assert cache.load(key) is None
    fresh, _, trained = cache.fetch_or_train(
        DEFINITION, lambda: {"state_dict": {"w": torch.zeros(3)}, "metrics": {}}
    )
    assert trained and torch.equal(cache.load(key)["state_dict"]["w"], torch.zeros(3))


def test_two_cpu_thread_counts_give_two_source_keys():
    from tests.test_slurm_plan import job_config
    from transfer_lab.job.pipeline import source_needed

    cfg, threads = job_config(["transfer.arm=A2B"]), torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = source_needed(cfg)
        torch.set_num_threads(2)
        two = source_needed(cfg)
    finally:
        torch.set_num_threads(threads)
    assert (one["cpu_threads"], two["cpu_threads"]) == (1, 2)
    assert cache_key(one) != cache_key(two)
    assert one["cpu_kernels"] == cpu_kind()  # they move the last bits too


def test_the_cpu_kernels_are_keyed_only_for_a_cpu_job_on_this_machine():
    from transfer_lab.machine import Machine
    from transfer_lab.store.keys import cpu_kernels

    here, node = Machine(0, 8, requested=False), Machine(0, 8, requested=True)
    assert cpu_kernels("cpu", here) == cpu_kind()
    assert cpu_kind().startswith(torch.backends.cpu.get_cpu_capability() + " on ")
    assert cpu_kernels("cuda", here) is None  # a GPU job's numbers come from the GPU
    assert cpu_kernels("cpu", node) is None  # SLURM: the planner cannot know the node's CPU


def test_the_planner_keys_the_threads_each_launcher_gives_its_jobs():
    from transfer_lab.machine import job_threads, worker_threads

    joblib = {"_target_": "hydra_plugins.hydra_joblib_launcher.JoblibLauncher", "n_jobs": 2}
    assert job_threads(joblib) == worker_threads(2) == max(1, (os.cpu_count() or 1) // 2)
    assert job_threads({"_target_": "x.TransferLabSlurmLauncher", "cpus_per_task": 6}) == 6
    local = {"_target_": "hydra._internal.core_plugins.basic_launcher.BasicLauncher"}
    assert job_threads(local) == torch.get_num_threads()


def test_threads_follow_the_usable_cores_the_jobs_at_once_and_a_smaller_omp_setting(
    monkeypatch,
):
    from transfer_lab import machine

    monkeypatch.setattr(machine.os, "sched_getaffinity", lambda pid: set(range(8)))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert machine.usable_cpus() == 8  # a container's share, not the machine's count
    assert [machine.worker_threads(n) for n in (1, 2, 3, 8, 16, 0)] == [8, 4, 2, 1, 1, 1]
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert [machine.worker_threads(n) for n in (1, 2, 8)] == [2, 2, 1]  # asked fewer: fewer
    joblib = {"_target_": "hydra_plugins.hydra_joblib_launcher.JoblibLauncher", "n_jobs": 4}
    assert machine.jobs_at_once(joblib) == 4
    assert machine.jobs_at_once({"_target_": "x.BasicLauncher"}) == 1
    assert machine.jobs_at_once({"_target_": "x.TransferLabSlurmLauncher"}) is None
    line = machine.threads_line(joblib)
    assert line.startswith("CPU: 2 thread(s) (8 usable CPU(s), 4 job(s) at a time, OMP_NUM_")
    assert "CPU kernels: " in line


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664)])
def test_atomic_writes_make_files_as_a_plain_open_would(tmp_path, umask, mode):
    from transfer_lab.store.atomic import write_json_atomically
    from transfer_lab.train.callbacks import AtomicCheckpointIO, BestWeights

    previous = os.umask(umask)
    try:
        (tmp_path / "plain.txt").write_text("")
        write_json_atomically(tmp_path / "results.json", {"status": "ok"})
        AtomicCheckpointIO().save_checkpoint({"epoch": 0}, tmp_path / "target-last.ckpt")
        best = BestWeights()
        best.state, best.score, best.epoch = {"w": torch.ones(2)}, torch.tensor(0.5), 0
        best.save(tmp_path / "target.ckpt")
        SourceCache(tmp_path / "cache").fetch_or_train(
            DEFINITION, lambda: {"state_dict": {"w": torch.ones(3)}, "metrics": {}}
        )
    finally:
        os.umask(previous)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {p.suffix for p in files} == {".txt", ".json", ".ckpt", ".pt", ".lock"}
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in files} == {p.name: mode for p in files}


LAB_GROUP = "nogroup"  # the group the lab's users share (nobody's own)


def become(user: str, umask: int) -> None:
    """Run the rest of this (forked) process as `user`, in the lab's group, with `umask`."""
    gid = grp.getgrnam(LAB_GROUP).gr_gid
    os.setgroups([gid])
    os.setgid(pwd.getpwnam(user).pw_gid)
    os.setuid(pwd.getpwnam(user).pw_uid)
    os.umask(umask)


def use_cache(root: str, definition: dict, value: float) -> tuple[bool, list[float], int]:
    """Fetch a source, training it with weights `value` if missing: (trained, weights, uid)."""
    found, _, trained = SourceCache(root).fetch_or_train(
        definition, lambda: {"state_dict": {"w": torch.full((3,), value)}, "metrics": {}}
    )
    return trained, found["state_dict"]["w"].tolist(), os.getuid()


def as_user(user: str):
    """A worker process that runs as `user` (forked: the interpreter lives under /root, which
    only root can read, and everything the cache needs is already imported)."""
    context = mp.get_context("fork")
    return ProcessPoolExecutor(1, mp_context=context, initializer=become, initargs=(user, 0o002))


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_a_shared_cache_is_written_and_read_by_two_users():
    for name in ("nobody", "daemon"):
        pwd.getpwnam(name)  # a KeyError fails the test: the machine lacks the user
    shared = Path(tempfile.mkdtemp(prefix="lab-cache-"))  # /tmp: every user can reach it
    try:
        os.chown(shared, -1, grp.getgrnam(LAB_GROUP).gr_gid)
        shared.chmod(0o2775)  # the lab's group writes; new folders inherit the group
        root, mine = str(shared / "cache"), {**DEFINITION, "seed": 1}
        previous = os.umask(0o002)
        try:
            assert use_cache(root, DEFINITION, 1.0)[:2] == (True, [1.0] * 3)  # root writes
        finally:
            os.umask(previous)
        with as_user("nobody") as nobody:
            # nobody reads root's source, then writes one of its own
            assert nobody.submit(use_cache, root, DEFINITION, 9.0).result() == (
                False,
                [1.0] * 3,
                65534,
            )
            assert nobody.submit(use_cache, root, mine, 2.0).result()[:2] == (True, [2.0] * 3)
        with as_user("daemon") as daemon:  # a second user without root's rights
            assert daemon.submit(use_cache, root, mine, 9.0).result()[:2] == (False, [2.0] * 3)
            (key,) = [p.stem for p in shared.rglob("*.pt") if p.stem != cache_key(DEFINITION)]
            record = next(shared.rglob(f"{key}.json"))
            record.write_text("{}")  # damaged: daemon trains it again over nobody's files
            assert daemon.submit(use_cache, root, mine, 3.0).result()[:2] == (True, [3.0] * 3)
        with as_user("nobody") as nobody:
            assert nobody.submit(use_cache, root, mine, 9.0).result()[:2] == (False, [3.0] * 3)
        assert use_cache(root, mine, 9.0)[:2] == (False, [3.0] * 3)  # and root reads theirs
        previous = os.umask(0o022)  # a colleague outside the group may still read
        try:
            readable = str(shared / "readable")
            assert use_cache(readable, DEFINITION, 4.0)[:2] == (True, [4.0] * 3)
        finally:
            os.umask(previous)
        with as_user("nobody") as nobody:
            assert nobody.submit(use_cache, readable, DEFINITION, 9.0).result()[:2] == (
                False,
                [4.0] * 3,
            )
        owners = {pwd.getpwuid(p.stat().st_uid).pw_name for p in shared.rglob("*.pt")}
        assert owners == {"root", "daemon"}
    finally:
        shutil.rmtree(shared)
