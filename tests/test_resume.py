"""Sweeps and jobs that resume: finished jobs are skipped, stopped ones go on from their last
checkpoint and end where an uninterrupted run ends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from tests.conftest import REPO, TINY


def test_a_different_grid_in_the_same_folder_is_refused(cli):
    sweep = cli.cwd / "sweep"
    sweep.mkdir()
    (sweep / "jobs.json").write_text(json.dumps([["model.beta=0"], ["model.beta=0.5"]]))
    done = cli(["sweep", "model.beta=0,0.2", "hydra.sweep.dir=sweep"], check=False)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: sweep holds a sweep of a different grid; run the same command as before to "
        "resume it, or give a new hydra.sweep.dir."
    ]


def test_resume_without_an_unfinished_sweep_says_so(cli):
    done = cli(["sweep", "--resume"], check=False)
    assert done.returncode == 2
    assert "no unfinished sweep" in done.stderr


def stamped_checkpoint(path, cfg):
    """A last checkpoint as Lightning lays one out, stamped by `cfg`."""
    from transfer_lab.train.callbacks import ConfigStamp
    from transfer_lab.train.fit import config_fingerprint

    stamp = ConfigStamp(config_fingerprint(cfg))
    state = {"epoch": 1, "state_dict": {"w": torch.ones(100)}, "loops": {}, "optimizer_states": []}
    torch.save({**state, "callbacks": {stamp.state_key: stamp.state_dict()}}, path)


def test_a_last_checkpoint_of_another_config_is_not_resumed(tmp_path):
    from omegaconf import OmegaConf

    from transfer_lab.train.fit import resumable

    last = tmp_path / "target-last.ckpt"
    assert not resumable(last, OmegaConf.create({"seed": 0}))  # nothing yet: start
    stamped_checkpoint(last, OmegaConf.create({"seed": 0}))
    assert resumable(last, OmegaConf.create({"seed": 0}))
    assert not resumable(last, OmegaConf.create({"seed": 1}))
    assert not last.exists()


@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage"])
def test_a_last_checkpoint_that_does_not_load_is_moved_aside_with_a_warning(
    tmp_path, caplog, damage
):
    from omegaconf import OmegaConf

    from transfer_lab.train.fit import resumable

    last, cfg = tmp_path / "target-last.ckpt", OmegaConf.create({"seed": 0})
    stamped_checkpoint(last, cfg)
    data = last.read_bytes()
    last.write_bytes(
        {"empty": b"", "truncated": data[: len(data) // 2], "garbage": b"x" * 99}[damage]
    )
    with caplog.at_level("WARNING", logger="transfer_lab.train.fit"):
        assert not resumable(last, cfg)
    assert not last.exists()
    assert (tmp_path / "target-last.ckpt.damaged").exists()
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warning == (
        f"{last} does not load; moved it to {last}.damaged and training this phase again"
    )


def selected_weights(job_dir):
    return torch.load(job_dir / "checkpoints" / "target.ckpt", weights_only=True)["state_dict"]


@pytest.mark.slow
def test_a_stopped_job_resumes_from_its_last_checkpoint_to_the_same_selection(cli, monkeypatch):
    common = [
        "+callbacks.stop._target_=tests.distributed_helpers.StopAt",  # stops at $STOP_AT
        "transfer.arm=A4B+",
        "source.epochs=1",
        "target.epochs=4",
        "target.test_epochs=all",  # the per-epoch tests resume with the stage
        "trainer.deterministic=true",
        "trainer.accelerator=cpu",
        *TINY[2:],
    ]
    cli([*common, "hydra.run.dir=whole"])
    monkeypatch.setenv("STOP_AT", "2")
    assert cli([*common, "hydra.run.dir=cut"], check=False).returncode != 0
    monkeypatch.delenv("STOP_AT")
    cut = cli.cwd / "cut"
    assert "stopped at epoch 2" in json.loads((cut / "results.json").read_text())["reason"]
    assert torch.load(cut / "checkpoints" / "target-last.ckpt", weights_only=True)["epoch"] == 1
    cli([*common, "hydra.run.dir=cut"])
    assert "resuming from" in (cut / "job.log").read_text()

    whole, resumed = (
        json.loads((cli.cwd / d / "results.json").read_text()) for d in ("whole", "cut")
    )
    assert resumed["status"] == "ok"
    for key in ("val_acc", "test_acc", "epochs", "test_history", "history", "convergence"):
        assert resumed["target"][key] == whole["target"][key], key
    assert resumed["target"]["test_history"]["epoch"] == [1, 2, 3, 4]
    assert len(resumed["target"]["history"]["train_loss"]) == 4  # the epoch history resumes too
    a, b = selected_weights(cli.cwd / "whole"), selected_weights(cut)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not (cut / "checkpoints" / "target-last.ckpt").exists()  # done: nothing to resume


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_a_damaged_last_checkpoint_starts_the_phase_over_to_a_clean_runs_metrics(
    cli, monkeypatch, damage
):
    common = [
        "+callbacks.stop._target_=tests.distributed_helpers.StopAt",  # stops at $STOP_AT
        "transfer.arm=A2B+",  # trains its target (baseB's would come from the cache)
        "source.epochs=1",
        "target.epochs=3",
        "trainer.deterministic=true",
        "trainer.accelerator=cpu",
        *TINY[2:],
    ]
    cli([*common, "hydra.run.dir=clean"])
    monkeypatch.setenv("STOP_AT", "2")
    assert cli([*common, "hydra.run.dir=cut"], check=False).returncode != 0
    monkeypatch.delenv("STOP_AT")
    cut = cli.cwd / "cut"
    last = cut / "checkpoints" / "target-last.ckpt"
    data = last.read_bytes()
    last.write_bytes(b"" if damage == "empty" else data[: len(data) // 3])

    cli([*common, "hydra.run.dir=cut"])
    log = (cut / "job.log").read_text()
    assert log.count("does not load; moved it to") == 1
    assert not list((cut / "checkpoints").glob("*-last.*"))  # finished: the .damaged file too
    clean, rerun = (
        json.loads((cli.cwd / d / "results.json").read_text()) for d in ("clean", "cut")
    )
    assert rerun["status"] == "ok"
    for key in ("val_acc", "test_acc", "test_loss", "epochs"):
        assert rerun["target"][key] == clean["target"][key], key


@pytest.mark.slow
def test_a_sweep_killed_and_run_again_runs_only_the_unfinished_jobs(tmp_path):
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "TRANSFER_LAB_CACHE": str(tmp_path / "cache"),
    }
    args = [
        sys.executable,
        "-m",
        "transfer_lab",
        "sweep",
        "transfer.arm=baseB",
        "data.split_seed=0,1,2",
        "target.epochs=1",
        "hydra.sweep.dir=sweep",
        *TINY[2:],
    ]
    sweep = tmp_path / "sweep"
    first = subprocess.Popen(
        args,
        cwd=tmp_path,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while not (sweep / "0" / "results.json").exists() and first.poll() is None:
            time.sleep(0.05)
        os.killpg(first.pid, signal.SIGKILL)
    finally:
        first.wait()
    finished = sorted(p.parent.name for p in sweep.glob("*/results.json"))
    assert "0" in finished and len(finished) < 3, finished
    before = {n: (sweep / n / "results.json").read_bytes() for n in finished}

    again = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-3000:]
    left = 3 - len(finished)
    assert f"then {left} target job(s) ({len(finished)} of 3 already finished)" in again.stdout
    for n, text in before.items():
        assert (sweep / n / "results.json").read_bytes() == text  # not run again
    assert all(
        json.loads((sweep / str(n) / "results.json").read_text())["status"] == "ok"
        for n in range(3)
    )


def test_slurm_tasks_as_ranks_are_refused_with_what_to_use(cli):
    args = ["sweep", "launcher=slurm", "hydra.launcher.tasks_per_node=4", "hydra.sweep.dir=s"]
    done = cli(args, check=False)
    assert done.returncode == 2
    assert "use trainer=ddp with hydra.launcher.gpus_per_node=N" in done.stderr
    assert not (cli.cwd / "s").exists()  # no folder, no command.json for `sweep --resume`


def test_resume_takes_the_newest_unfinished_sweep_and_its_arguments(tmp_path):
    import os

    from transfer_lab.store.results import JobResults
    from transfer_lab.sweep.resume import resume_arguments

    def sweep(name: str, done: int, mtime: int):
        folder = tmp_path / "2026-01-01" / name
        folder.mkdir(parents=True)
        grid = [["model.beta=0"], ["model.beta=0.4"]]
        (folder / "jobs.json").write_text(json.dumps(grid))
        (folder / "command.json").write_text(json.dumps([f"+experiment={name}", "x=1"]))
        for n in range(done):
            JobResults(status="ok", overrides=grid[n]).write(folder / str(n))
        os.utime(folder, (mtime, mtime))
        return folder

    sweep("old", done=1, mtime=1_000)
    newest_finished = sweep("finished", done=2, mtime=3_000)
    wanted = sweep("unfinished", done=1, mtime=2_000)
    folder, args = resume_arguments(tmp_path, [])
    assert folder == wanted != newest_finished
    assert args == ["+experiment=unfinished", "x=1", f"hydra.sweep.dir={wanted}"]


def test_the_same_command_finds_its_newest_sweep_folder_finished_or_not(tmp_path):
    from transfer_lab.store.results import JobResults
    from transfer_lab.sweep.resume import going_on_line, same_command_sweep

    grid = [["model.beta=0"], ["model.beta=0.4"]]

    def sweep(time: str, command: list[str], done: int, planned: bool = True):
        folder = tmp_path / "2026-01-02" / time
        folder.mkdir(parents=True)
        (folder / "command.json").write_text(json.dumps([*command, f"hydra.sweep.dir={folder}"]))
        if planned:
            (folder / "jobs.json").write_text(json.dumps(grid))
        for n in range(done):
            JobResults(status="ok", overrides=grid[n]).write(folder / str(n))
        return folder

    command = ["+experiment=digits_beta", "model.beta=0,0.4"]
    sweep("10-00-00", command, done=1)
    newest = sweep("11-00-00", command, done=2)
    sweep("12-00-00", ["+experiment=digits_beta"], done=0)  # another command
    sweep("13-00-00", command, done=0, planned=False)  # stopped before its plan: no grid
    assert same_command_sweep(tmp_path, command) == newest
    assert same_command_sweep(tmp_path, ["+experiment=other"]) is None
    assert going_on_line(newest) == (
        f"going on with the sweep in {newest} (all 2 jobs finished, nothing to train; "
        f"`sweep --new` starts afresh)"
    )


def test_new_takes_its_word_out_and_a_named_folder_is_kept(tmp_path):
    from pathlib import Path

    from transfer_lab.sweep.resume import folder_to_go_on

    args = ["model.beta=0,0.4", "--new"]
    assert folder_to_go_on(tmp_path, args) is None and args == ["model.beta=0,0.4"]
    args = ["hydra.sweep.dir=mine", "--new"]
    assert folder_to_go_on(tmp_path, args) == Path("mine") and args == ["hydra.sweep.dir=mine"]


def test_the_same_command_is_refused_while_its_sweep_runs(tmp_path):
    from transfer_lab.errors import UserError
    from transfer_lab.sweep.lock import sweep_lock
    from transfer_lab.sweep.resume import folder_to_go_on

    folder = tmp_path / "2026-01-02" / "10-00-00"
    folder.mkdir(parents=True)
    command = ["model.beta=0,0.4"]
    (folder / "command.json").write_text(json.dumps([*command, f"hydra.sweep.dir={folder}"]))
    (folder / "jobs.json").write_text(json.dumps([["model.beta=0"], ["model.beta=0.4"]]))
    with sweep_lock(folder), pytest.raises(UserError, match="another sweep .pid .*--new"):
        folder_to_go_on(tmp_path, list(command))
    assert folder_to_go_on(tmp_path, list(command)) == folder  # ended: it goes on


def test_new_and_resume_together_are_refused(cli):
    done = cli(["sweep", "--new", "--resume", "model.beta=0,0.4"], check=False)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: give --new (a new sweep) or --resume (the newest unfinished), not both."
    )
    assert cli(["--new"], check=False).stderr.strip() == (
        "error: --new goes with sweep: python -m transfer_lab sweep --new."
    )


@pytest.mark.slow
def test_the_same_sweep_command_goes_on_in_its_folder_and_new_starts_afresh(cli):
    args = ["sweep", "transfer.arm=baseB", "data.split_seed=0,1", "target.epochs=1"]
    args += ["trainer.limit_train_batches=2", *TINY[2:]]
    cli(args)
    (first,) = cli.cwd.glob("multirun/*/*")
    kept = (first / "0" / "results.json").read_bytes()
    (first / "1" / "results.json").unlink()  # as if the sweep had stopped during job 1

    again = cli(args)
    folder = first.relative_to(cli.cwd)
    assert again.stdout.splitlines()[0] == (
        f"going on with the sweep in {folder} (1 of 2 jobs finished; `sweep --new` starts afresh)"
    )
    assert "then 1 target job(s) (1 of 2 already finished)" in again.stdout
    assert list(cli.cwd.glob("multirun/*/*")) == [first]
    assert (first / "0" / "results.json").read_bytes() == kept  # not trained again

    finished = {p: p.read_bytes() for p in first.glob("*/results.json")}
    third = cli(args)
    assert "(all 2 jobs finished, nothing to train;" in third.stdout.splitlines()[0]
    assert "then 0 target job(s) (2 of 2 already finished)" in third.stdout
    assert list(cli.cwd.glob("multirun/*/*")) == [first]
    assert {p: p.read_bytes() for p in first.glob("*/results.json")} == finished

    fresh = cli([*args, "--new"])
    assert fresh.stdout.startswith("checking 2 jobs")
    assert len(list(cli.cwd.glob("multirun/*/*"))) == 2
