"""The command word, unique sweep folders, help and listing."""

from __future__ import annotations

from datetime import datetime

import pytest

from transfer_lab.cli.main import split_command, unique_dir


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
