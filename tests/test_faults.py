"""Faults lose nothing: a diverging job, a killed job, a damaged cache, a code change, reruns."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import REPO
from transfer_lab.store.cache import SourceCache

pytestmark = pytest.mark.slow

QUIET = "trainer.enable_progress_bar=false"
ONE_EPOCH = ["source.epochs=1", "target.epochs=1", QUIET]


def results(folder: Path) -> dict:
    return json.loads((folder / "results.json").read_text())


def cached_entries(cache: Path) -> dict[str, Path]:
    """key → checkpoint of every source in a cache folder."""
    return {p.stem: p for p in cache.rglob("*.pt")}


def run_in_subprocess(args: list[str], cwd: Path, package_root: Path) -> subprocess.Popen:
    """`python -m transfer_lab ARGS` as a separate process that imports the package at root."""
    env = {**os.environ, "PYTHONPATH": str(package_root), "TRANSFER_LAB_CACHE": str(cwd / "cache")}
    return subprocess.Popen(
        [sys.executable, "-m", "transfer_lab", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_a_diverging_job_fails_in_a_sentence_and_the_sweep_goes_on(cli):
    done = cli(
        ["sweep", "transfer.treatment=scratch", "target.optim.lr=1e30,0.05", *ONE_EPOCH],
        check=False,
    )
    assert done.returncode == 1  # the sweep finished and says a job failed
    (sweep,) = (cli.cwd / "multirun").glob("*/*")
    first, second = results(sweep / "0"), results(sweep / "1")
    assert first["status"] == "failed"
    assert first["reason"] == (
        "the target training loss became NaN or infinite in epoch 1; lower target.optim.lr or "
        "use trainer.precision=32-true."
    )
    assert second["status"] == "ok" and second["target"]["test_acc"] > 0.5


def test_a_killed_job_leaves_no_half_file_and_the_rerun_completes(cli):
    job = cli.cwd / "job"
    args = [f"hydra.run.dir={job}", "source.epochs=1", QUIET]
    killed = run_in_subprocess([*args, "target.epochs=1000"], cli.cwd, REPO)
    try:
        while not (job / "checkpoints" / "target-last.ckpt").exists():  # mid-way through the target
            assert killed.poll() is None, killed.communicate()[0][-3000:]
            time.sleep(0.1)
    finally:
        killed.send_signal(signal.SIGKILL)
        killed.wait()
    assert not (job / "results.json").exists()  # whole or absent: absent
    (key,) = cached_entries(cli.cwd / "cache")
    assert SourceCache(cli.cwd / "cache").load(key) is not None  # the stored source is whole

    cli([*args, "target.epochs=2"])
    rerun = results(job)
    assert rerun["status"] == "ok"
    assert rerun["source"]["trained"] is False and rerun["source"]["cache_key"] == key
    assert not list(job.rglob("*.tmp"))


@pytest.mark.parametrize("damage", ["truncate", "corrupt_record"])  # the rest: test_cache.py
def test_a_damaged_cache_entry_is_retrained_not_loaded(cli, damage):
    cli(["hydra.run.dir=first", *ONE_EPOCH])
    (key, checkpoint) = next(iter(cached_entries(cli.cwd / "cache").items()))
    record = checkpoint.with_suffix(".json")
    data = checkpoint.read_bytes()
    if damage == "truncate":
        checkpoint.write_bytes(data[: len(data) // 2])
    else:
        record.write_text('{"key": "' + key[:10])

    cli(["hydra.run.dir=second", *ONE_EPOCH])
    again = results(cli.cwd / "second")
    assert again["status"] == "ok"
    assert again["source"]["trained"] is True and again["source"]["cache_key"] == key
    assert SourceCache(cli.cwd / "cache").load(key) is not None  # stored whole again


def test_a_change_to_the_code_trains_a_new_source(cli, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(
        REPO / "transfer_lab", copy / "transfer_lab", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copytree(REPO / "conf", copy / "conf")
    cli(["hydra.run.dir=first", *ONE_EPOCH])
    first = results(cli.cwd / "first")

    same = run_in_subprocess(["hydra.run.dir=same", *ONE_EPOCH], cli.cwd, copy)
    assert same.wait() == 0, same.communicate()[0][-3000:]
    unchanged = results(cli.cwd / "same")
    assert unchanged["code_sha256"] == first["code_sha256"]  # the hash is of content, not place
    assert unchanged["source"]["trained"] is False

    networks = copy / "transfer_lab" / "job" / "networks.py"
    networks.write_text(networks.read_text() + "# a comment changes nothing but the code hash\n")
    edited = run_in_subprocess(["hydra.run.dir=edited", *ONE_EPOCH], cli.cwd, copy)
    assert edited.wait() == 0, edited.communicate()[0][-3000:]
    changed = results(cli.cwd / "edited")
    assert changed["code_sha256"] != first["code_sha256"]
    assert changed["source"]["trained"] is True
    assert changed["source"]["cache_key"] != first["source"]["cache_key"]


def test_the_same_config_and_seeds_give_the_same_split_and_metrics(cli):
    settings = [
        "trainer.accelerator=cpu",
        "trainer.deterministic=true",
        "seed=3",
        "data.split_seed=2",
    ]
    for name in ("first", "second"):  # each with its own cache, so the source is trained twice
        cli(
            [
                f"hydra.run.dir={name}",
                f"paths.cache_dir={cli.cwd / name}-cache",
                *settings,
                *ONE_EPOCH,
            ]
        )
    first, second = results(cli.cwd / "first"), results(cli.cwd / "second")
    for key in ("source_classes", "target_classes", "binary_partitions", "sizes"):
        assert first[key] == second[key]
    for stage in ("source", "target"):
        for metric in ("val_acc", "test_acc", "test_loss", "epochs"):
            assert first[stage][metric] == second[stage][metric], (stage, metric)
    key = first["source"]["cache_key"]
    assert second["source"]["cache_key"] == key
    weights = [
        SourceCache(cli.cwd / f"{n}-cache").load(key)["state_dict"] for n in ("first", "second")
    ]
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_weights_that_diverge_after_the_last_step_fail_the_job_not_pass_as_ok(cli):
    # one step: its loss is finite (taken before the update), the update breaks the weights
    args = ["transfer.treatment=scratch", "target.optim.lr=1e30", "trainer.limit_train_batches=1"]
    done = cli([*args, "hydra.run.dir=job", *ONE_EPOCH], check=False)
    assert done.returncode == 2
    record = results(cli.cwd / "job")
    assert record["status"] == "failed"
    assert record["reason"].startswith("the target network's test/")
    assert record["reason"].endswith(
        "came out NaN or infinite (its weights diverged in the last training steps); lower "
        "target.optim.lr or use trainer.precision=32-true."
    )
