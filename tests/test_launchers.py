"""Sweeps on Hydra's launchers: joblib workers and submitit's local executor (the SLURM path)."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO, TINY
from transfer_lab.sweep.workers import claim_slot

pytestmark = pytest.mark.slow


def test_a_worker_keeps_its_slot_and_the_next_worker_gets_the_next(tmp_path):
    assert claim_slot(tmp_path, 2) == claim_slot(tmp_path, 2)  # one slot for the process's life
    other = subprocess.run(
        [
            sys.executable,
            "-c",
            f"from transfer_lab.sweep.workers import claim_slot as c; "
            f"import pathlib; print(c(pathlib.Path({str(tmp_path)!r}), 2))",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    assert other.stdout.strip() == str(1 - claim_slot(tmp_path, 2))


def test_a_worker_gets_the_gpu_of_its_slot_and_its_share_of_the_cores(tmp_path):
    (tmp_path / ".workers").mkdir()
    held = open(tmp_path / ".workers" / "0.lock", "a")  # noqa: SIM115 (another worker's slot 0)
    fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    code = (
        "import os, pathlib, torch; from transfer_lab.sweep.workers import pin_worker; "
        f"print(pin_worker(pathlib.Path({str(tmp_path)!r}), 4)); "
        "print(os.environ['CUDA_VISIBLE_DEVICES'], torch.get_num_threads())"
    )
    env = {**os.environ, "TRANSFER_LAB_GPUS": "5,7", "PYTHONPATH": str(REPO)}
    env.pop("OMP_NUM_THREADS", None)  # the share alone decides
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    held.close()
    line, pinned = done.stdout.strip().splitlines()
    cpus = len(os.sched_getaffinity(0))
    threads = max(1, cpus // 4)
    assert line == f"worker 1: GPU 7, {threads} CPU thread(s) of {cpus} for 4 worker(s)"
    assert pinned == f"7 {threads}"


def jobs(sweep, count):
    return [json.loads((sweep / str(n) / "results.json").read_text()) for n in range(count)]


def test_parallel_workers_train_the_shared_source_once_before_any_target(cli, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    done = cli(
        [
            "sweep",
            "launcher=parallel",
            "hydra.launcher.n_jobs=2",
            "transfer.arm=A4B+,A3B,A2B+",
            "source.epochs=1",
            "target.epochs=1",
            "hydra.sweep.dir=sweep",
            *TINY[2:],
        ]
    )
    assert "plan: 1 source network(s) to train, then 3 target job(s)" in done.stdout
    sweep = cli.cwd / "sweep"
    results = jobs(sweep, 3)
    assert all(r["status"] == "ok" for r in results)
    assert len({r["source"]["cache_key"] for r in results}) == 1
    assert not any(r["source"]["trained"] for r in results)  # none trained it, none waited
    (source_job,) = (sweep / "sources").iterdir()
    assert json.loads((source_job / "results.json").read_text())["source"]["trained"]
    key = results[0]["source"]["cache_key"]
    stored = cli.cwd / "cache" / key[:2] / f"{key}.pt"
    for n in range(3):  # each target composed its config after the source was stored
        assert (sweep / str(n) / ".hydra" / "config.yaml").stat().st_mtime >= stored.stat().st_mtime
    assert len(list((sweep / ".workers").glob("*.lock"))) == 2


def test_submitit_local_sweep_runs_every_job(cli, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    done = cli(
        [
            "sweep",
            "launcher=submitit_local",
            "transfer.arm=baseB",  # no source: one phase, each job a process of its own
            "data.split_seed=0,1",
            "target.epochs=1",
            "hydra.sweep.dir=sweep",
            *TINY[2:],
        ]
    )
    assert "plan: 0 source network(s) to train, then 2 target job(s)" in done.stdout
    sweep = cli.cwd / "sweep"
    assert [r["status"] for r in jobs(sweep, 2)] == ["ok", "ok"]
    assert list((sweep / ".submitit").iterdir())  # the jobs went through submitit


def test_a_preempted_submitit_job_is_requeued_and_resumes_from_its_last_checkpoint(tmp_path):
    """The SLURM path on this machine: submitit's pre-emption signal, its requeue, our resume."""
    import signal
    import time

    marker = tmp_path / "paused"
    env = {**os.environ, "PYTHONPATH": str(REPO), "TRANSFER_LAB_CACHE": str(tmp_path / "cache")}
    args = [
        sys.executable,
        "-m",
        "transfer_lab",
        "sweep",
        "launcher=submitit_local",
        "transfer.arm=baseB",
        "target.epochs=4",
        "+callbacks.pause._target_=tests.distributed_helpers.PauseOnce",
        "+callbacks.pause.epoch=2",
        f"+callbacks.pause.marker={marker}",
        "hydra.sweep.dir=sweep",
        *TINY[2:],
    ]
    with open(tmp_path / "sweep.log", "w") as out:
        sweep = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=out, stderr=out)
        try:
            while not marker.exists() and sweep.poll() is None:
                time.sleep(0.1)
            assert marker.exists(), (tmp_path / "sweep.log").read_text()[-3000:]
            os.kill(int(marker.read_text()), signal.SIGUSR2)  # submitit's pre-emption signal
            assert sweep.wait(timeout=600) == 0, (tmp_path / "sweep.log").read_text()[-3000:]
        finally:
            if sweep.poll() is None:
                sweep.kill()
    job = tmp_path / "sweep" / "0"
    results = json.loads((job / "results.json").read_text())
    assert results["status"] == "ok" and results["target"]["epochs"] == 4
    assert "resuming from" in (job / "job.log").read_text()
