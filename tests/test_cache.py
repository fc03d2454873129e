"""The source cache: one training per key across processes, atomic writes, verified loads."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import time
from pathlib import Path

import torch

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
