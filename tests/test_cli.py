"""The command word, unique sweep folders, help and listing."""

from __future__ import annotations

from datetime import datetime

import pytest

from transfer_lab.cli.main import split_command
from transfer_lab.config.folders import unique_dir


def test_the_command_word_may_stand_anywhere():
    assert split_command(["+experiment=x", "sweep", "model.beta=0"]) == (
        "sweep",
        ["+experiment=x", "model.beta=0"],
    )
    assert split_command(["model.beta=0.4"]) == ("run", ["model.beta=0.4"])
    assert split_command(["report", "multirun/a/b"]) == ("report", ["multirun/a/b"])
    with pytest.raises(SystemExit):
        split_command(["run", "sweep"])


def test_two_sweeps_in_the_same_second_get_different_folders(tmp_path):
    now = datetime(2026, 1, 2, 3, 4, 5)
    first, second, third = (unique_dir(tmp_path, now) for _ in range(3))
    assert len({first, second, third}) == 3
    assert first.name == "03-04-05" and first.parent.name == "2026-01-02"
    assert all(p.is_dir() for p in (first, second, third))


def test_list_shows_experiments_datasets_and_backbones(cli):
    out = cli(["list"]).stdout
    for word in ("digits_beta", "digits", "lenet"):
        assert word in out
    backbones = cli(["list", "backbones"]).stdout
    assert "conv1 conv2 fc1 fc2" in backbones and "digits_beta" not in backbones


def test_help_names_the_commands(cli):
    out = cli(["--help"]).stdout
    assert "usage: python -m transfer_lab [run|sweep|report|list]" in out
    groups = {line.split(":")[0]: line for line in out.splitlines() if ": " in line}
    assert "digits_beta" in groups["experiment"] and "lenet" in groups["backbone"]


def test_report_without_sweeps_says_what_to_do(cli):
    done = cli(["report"], check=False)
    assert done.returncode == 2
    assert "no sweep found" in done.stderr


def test_bad_value_is_one_sentence_and_a_nonzero_exit(cli):
    done = cli(["model.beta=1.5", "trainer.enable_progress_bar=false"], check=False)
    assert done.returncode == 2
    assert "model.beta=1.5 is out of range; it must be in [0, 1]" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["list", "backbone"], ["no list named 'backbone' (did you mean backbones?)"]),
        (["list", "--patern=x"], ["unrecognized arguments: --patern=x", "did you mean --pattern"]),
        (["report", "--no-figres"], ["unrecognized arguments", "did you mean --no-figures"]),
        (["report", "--statistic=papr"], ["invalid choice: 'papr'"]),
    ],
)
def test_misused_words_get_one_sentence_with_the_closest_name(cli, args, words):
    done = cli(args, check=False)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ") and all(word in lines[0] for word in words)


def test_list_datasets_as_the_readme_says(cli):
    out = cli(["list", "datasets"]).stdout
    assert "fashion_mnist" in out and "digits_beta" not in out


@pytest.mark.slow
def test_errors_inside_jobs_go_to_stderr(cli, monkeypatch):
    # a callback that builds (the checks before the run pass it) and fails once training starts
    monkeypatch.setenv("STOP_AT", "0")
    done = cli(
        ["sweep", "data.split_seed=0,1", "+callbacks.bad._target_=tests.distributed_helpers.StopAt"]
        + ["source.epochs=1", "target.epochs=1", "trainer.enable_progress_bar=false"],
        check=False,
    )
    assert done.returncode == 1
    assert "failed: " in done.stderr and "stopped at epoch 0" in done.stderr
    assert "failed: " not in done.stdout


def interrupt(args: list[str], cwd, started) -> tuple[int, list[str]]:
    """Run the CLI in a new process, send it Ctrl-C once `started()` holds; (exit, stderr lines)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import REPO

    env = {**os.environ, "PYTHONPATH": str(REPO), "TRANSFER_LAB_CACHE": str(cwd / "cache")}
    command = [sys.executable, "-m", "transfer_lab", *args, "trainer.enable_progress_bar=false"]
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while not started() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)  # into the training loop
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    return process.returncode, err.strip().splitlines()


@pytest.mark.slow
def test_ctrl_c_says_what_stopped_and_how_to_go_on(tmp_path):
    sweep = ["sweep", "data.split_seed=0,1", "source.epochs=50", "target.epochs=50"]
    code, lines = interrupt(sweep, tmp_path, lambda: any(tmp_path.glob("multirun/*/*/*/*/.hydra")))
    assert code == 130 and len(lines) == 1, lines
    assert lines[0].startswith("error: interrupted: the sweep in multirun/")
    assert lines[0].endswith("python -m transfer_lab sweep --resume")
    run = ["source.epochs=50", "target.epochs=50", "hydra.run.dir=job"]
    code, lines = interrupt(run, tmp_path, lambda: (tmp_path / "job" / ".hydra").exists())
    assert code == 130 and len(lines) == 1, lines
    assert lines[0] == (
        "error: interrupted: the job in job stopped; go on from where it stopped with: "
        "python -m transfer_lab source.epochs=50 target.epochs=50 hydra.run.dir=job "
        "trainer.enable_progress_bar=false"
    )
    assert not (tmp_path / "job" / "results.json").exists()  # nothing half-done recorded as done
