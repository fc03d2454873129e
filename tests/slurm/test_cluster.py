"""Sweeps on a real SLURM cluster (the one-node cluster of tests/slurm/local_cluster.sh in CI):
sources trained once, a pre-empted job resuming to the same weights, a cancelled job recorded as
failed while the rest is reported, the driver as a job, and a rerun that submits nothing twice.

Every job asks for one CPU; the sweeps are a few tiny digits jobs each.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import REPO, TINY
from transfer_lab.slurm import claims, queue

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

SLURM = [
    "launcher=slurm",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.timeout_min=20",
    "hydra.launcher.poll_s=1",
    "hydra.launcher.report_s=30",
    "trainer.accelerator=cpu",
    *TINY[2:],
]


@pytest.fixture(scope="module", autouse=True)
def cluster():
    """Skip (with the reason) where no SLURM cluster answers."""
    try:
        subprocess.run(["sinfo", "-h"], capture_output=True, text=True, check=True, timeout=30)
    except FileNotFoundError:
        pytest.skip("no SLURM here (sinfo missing); run tests/slurm/local_cluster.sh start")
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        said = getattr(error, "stderr", "") or str(error)
        pytest.skip(
            f"no SLURM cluster answers ({said.strip()}); tests/slurm/local_cluster.sh start"
        )


def environment(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "TRANSFER_LAB_CACHE": str(tmp_path / "cache"),
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }


def driver(tmp_path: Path, args: list[str], log: str) -> subprocess.Popen:
    """A sweep's driver in a process of its own, its output in tmp_path/log."""
    out = open(tmp_path / log, "w")  # noqa: SIM115 (closed with the process)
    return subprocess.Popen(
        [sys.executable, "-m", "transfer_lab", "sweep", *args],
        cwd=tmp_path,
        env=environment(tmp_path),
        stdout=out,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for(predicate, what: str, timeout: float = 300, process=None, log=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        if process is not None and process.poll() is not None:
            break
        time.sleep(0.5)
    said = log.read_text()[-3000:] if log and log.exists() else ""
    raise AssertionError(f"waited in vain for {what}\n{said}")


def finish(process: subprocess.Popen, log: Path, timeout: float = 600) -> int:
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError(f"the driver did not finish\n{log.read_text()[-3000:]}") from None


def results(sweep: Path, job: str) -> dict:
    return json.loads((sweep / job / "results.json").read_text())


def test_a_digits_sweep_on_slurm_trains_its_source_once_and_names_its_jobs(cli):
    args = ["sweep", *SLURM, "transfer.arm=A2B,A2B+", "hydra.sweep.dir=sweep"]
    done = cli(args)
    assert "plan: 1 source network(s) to train, then 2 target job(s)" in done.stdout
    assert "slurm: submitted 1 sources job(s) as array" in done.stdout
    sweep = cli.cwd / "sweep"
    (source,) = (sweep / "sources").iterdir()
    trained = json.loads((source / "results.json").read_text())
    assert trained["status"] == "ok" and trained["source"]["trained"]
    for job in ("0", "1"):
        record = results(sweep, job)
        assert record["status"] == "ok"
        assert not record["source"]["trained"]  # found in the cache: trained once, first
        assert record["source"]["cache_key"].startswith(source.name)  # the key planned
    claimed = claims.read(sweep)
    shown = queue.run(["scontrol", "-o", "show", "job", claimed["1"]])
    assert "JobName=transfer_lab-1 " in shown  # experiment and job number, in squeue too
    again = cli(args)  # everything finished: nothing is submitted
    assert "then 0 target job(s) (2 of 2 already finished)" in again.stdout
    assert "slurm: submitted" not in again.stdout
    assert claims.read(sweep) == claimed


def test_a_gpu_sweep_from_this_gpu_less_machine_is_accepted_and_submitted(cli):
    assert not torch.cuda.is_available()
    base = ["sweep", "launcher=slurm", "hydra.launcher.cpus_per_task=1", "hydra.launcher.poll_s=1"]
    base += ["trainer=gpu", "transfer.arm=baseB", "target.epochs=1", *TINY[2:]]
    refused = cli([*base, "hydra.sweep.dir=no"], check=False)  # no GPU asked for
    assert refused.returncode == 2 and "each job asks SLURM for no GPU" in refused.stderr
    too_many = cli([*base, "hydra.launcher.gpus_per_node=8", "hydra.sweep.dir=no"], check=False)
    assert too_many.returncode == 2
    assert "no node of partition 'cpu' has 1 CPU(s), 8 GPU(s)" in too_many.stderr
    assert not (cli.cwd / "no").exists()  # refused before any folder or submission
    done = cli([*base, "hydra.launcher.gpus_per_node=1", "hydra.sweep.dir=gpu"], check=False)
    assert "plan: 0 source network(s) to train, then 1 target job(s)" in done.stdout
    assert "slurm: submitted 1 jobs job(s)" in done.stdout  # accepted up to submission
    # The local node's GPU is a name only: the job, on its node, finds no CUDA and says so.
    record = results(cli.cwd / "gpu", "0")
    assert record["status"] == "failed" and "ended" not in record["reason"]


def test_a_job_preempted_with_usr2_is_requeued_and_resumes_to_the_same_weights(tmp_path):
    marker = tmp_path / "paused"
    args = [
        *SLURM,
        "transfer.arm=A2B+",  # a target the cache does not keep: job 0 must resume it
        "source.epochs=1",
        "target.epochs=4",
        "trainer.deterministic=true",
        "+callbacks.pause._target_=tests.distributed_helpers.PauseOnce",
        "+callbacks.pause.epoch=2,99",  # job 0 pauses at epoch 2; job 1 runs straight through
        f"+callbacks.pause.marker={marker}",
        "hydra.sweep.dir=sweep",
    ]
    log = tmp_path / "driver.log"
    sweep_driver = driver(tmp_path, args, "driver.log")
    wait_for(marker.exists, "job 0 to pause at epoch 2", process=sweep_driver, log=log)
    job = claims.read(tmp_path / "sweep")["0"]
    queue.run(["scancel", "--signal=USR2", job])  # what SLURM sends before the time limit
    wait_for(lambda: queue.job_states([job])[job].state == "PENDING", "the requeue", log=log)
    assert queue.job_states([job])[job].reason == "BeginTime"  # held back ~2 minutes
    queue.run(["scontrol", "update", f"JobId={job}", "StartTime=now"])  # the test won't wait
    assert finish(sweep_driver, log) == 0, log.read_text()[-3000:]
    sweep = tmp_path / "sweep"
    assert "resuming from" in (sweep / "0" / "job.log").read_text()
    paused, straight = results(sweep, "0"), results(sweep, "1")
    assert paused["status"] == "ok" and paused["target"]["epochs"] == 4
    for key in ("val_acc", "test_acc", "epochs"):
        assert paused["target"][key] == straight["target"][key]
    a, b = (
        torch.load(sweep / n / "checkpoints" / "target.ckpt", weights_only=False)["state_dict"]
        for n in ("0", "1")
    )
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_cancelled_job_is_recorded_failed_and_the_rest_is_reported(tmp_path):
    held, release = tmp_path / "held", tmp_path / "release"
    args = [
        *SLURM,
        "transfer.arm=baseB",
        "seed=0,1",
        "+callbacks.hold._target_=tests.slurm.helpers.HoldUntil",  # the first job holds
        "+callbacks.hold.epoch=0",
        f"+callbacks.hold.held={held}",
        f"+callbacks.hold.release={release}",
        "hydra.sweep.dir=sweep",
    ]
    log = tmp_path / "driver.log"
    sweep_driver = driver(tmp_path, args, "driver.log")
    wait_for(held.exists, "a job to run", process=sweep_driver, log=log)
    sweep = tmp_path / "sweep"
    slurm_id = held.read_text()
    (number,) = [n for n, i in claims.read(sweep).items() if i == slurm_id]
    other = "1" if number == "0" else "0"
    queue.run(["scancel", slurm_id])
    assert finish(sweep_driver, log) == 1
    said = log.read_text()
    cancelled = results(sweep, number)
    assert cancelled["status"] == "failed" and "ended CANCELLED" in cancelled["reason"]
    assert results(sweep, other)["status"] == "ok"
    assert (sweep / "summary.md").exists() and (sweep / "jobs.csv").exists()
    (line,) = [x for x in said.splitlines() if x.startswith("error: 1 job(s) failed")]
    assert f"(jobs {number})" in line
    retry = shlex.split(line.split("retry them with: ", 1)[1])
    assert retry[:4] == ["python", "-m", "transfer_lab", "sweep"]
    release.touch()
    again = subprocess.run(
        [sys.executable, *retry[1:]],
        cwd=tmp_path,
        env=environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "then 1 target job(s) (1 of 2 already finished)" in again.stdout
    assert results(sweep, number)["status"] == "ok"


def test_the_driver_submitted_as_a_job_runs_the_sweep(cli):
    done = cli(["sweep", *SLURM, "transfer.arm=baseB", "hydra.launcher.driver=true"])
    line = next(x for x in done.stdout.splitlines() if x.startswith("submitted the sweep's"))
    job = line.split("SLURM job ", 1)[1].split()[0]
    sweep = Path(line.rsplit("sweep folder ", 1)[1])
    assert f"tail -f {sweep / 'driver.log'}" in done.stdout
    wait_for(lambda: not queue.job_states([job])[job].alive, "the driver job to end")
    said = (cli.cwd / sweep / "driver.log").read_text()
    assert "plan: 0 source network(s) to train, then 1 target job(s)" in said
    assert "report:" in said
    assert results(cli.cwd / sweep, "0")["status"] == "ok"
    resumed = cli(["sweep", "--resume"], check=False)  # finished: nothing left to resume
    assert "no unfinished sweep" in resumed.stderr


def test_a_rerun_after_its_driver_died_adopts_the_running_job_and_submits_nothing_twice(tmp_path):
    """The driver dies (a login session ends) while its SLURM job runs: the same sweep run again
    adopts that job instead of submitting it twice. (While the first driver lives, a second is
    refused by the folder's lock: tests/test_shared_folders.py.)"""
    held, release = tmp_path / "held", tmp_path / "release"
    args = [
        *SLURM,
        "transfer.arm=baseB",
        "+callbacks.hold._target_=tests.slurm.helpers.HoldUntil",
        "+callbacks.hold.epoch=0",
        f"+callbacks.hold.held={held}",
        f"+callbacks.hold.release={release}",
        "hydra.sweep.dir=multirun/study",  # a named folder: `sweep --resume` finds it
    ]
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    first = driver(tmp_path, args, "first.log")
    wait_for(held.exists, "the job to run", process=first, log=first_log)
    first.kill()  # the driver dies; its SLURM job runs on
    first.wait(timeout=60)
    second = driver(tmp_path, ["--resume"], "second.log")
    wait_for(
        lambda: "not submitting them again" in second_log.read_text(),
        "the rerun to adopt the running job",
        process=second,
        log=second_log,
    )
    release.touch()
    assert finish(second, second_log) == 0, second_log.read_text()[-3000:]
    said = second_log.read_text()
    assert "resuming multirun/study" in said
    assert "slurm: submitted" not in said
    sweep = tmp_path / "multirun" / "study"
    submitted = [p for p in (sweep / ".submitit").iterdir() if p.is_dir()]
    assert len(submitted) == 1  # one SLURM job folder: submitted once
    assert results(sweep, "0")["status"] == "ok"
