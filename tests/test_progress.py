"""A sweep you can watch: each finished job's line (k/N, elapsed, ETA, metric, failures), the
round's tally shared through the sweep folder, and Lightning's srun hint only under SLURM."""

from __future__ import annotations

import warnings

import pytest

from transfer_lab.sweep import progress
from transfer_lab.sweep.progress import Tally, clock, progress_text


def test_a_finished_jobs_line_says_where_the_round_stands():
    line = progress_text("jobs", Tally(4, 32, 1, 62.0), "011-A4B+-beta0.4-split3", 0.9123, True)
    # 62 s for 4 jobs: 15.5 s each, 28 to go
    assert line == (
        "jobs 4/32 · 1:02 elapsed · ETA 7:14 · 011-A4B+-beta0.4-split3 target test acc 91.2%"
        " · 1 failed"
    )
    source = progress_text("sources", Tally(2, 2, 0, 3725.0), "source-A-split1-1a2b3c4d", 0.5, True)
    assert source == (
        "sources 2/2 · 1:02:05 elapsed · round done · source-A-split1-1a2b3c4d source test acc"
        " 50.0% · 0 failed"
    )
    assert progress_text("jobs", Tally(1, 3, 1, 5.0), "000-baseB-split0", None, False).endswith(
        "ETA 0:10 · 000-baseB-split0 failed · 1 failed"
    )
    assert clock(59.6) == "1:00" and clock(3600) == "1:00:00"


def test_the_tally_counts_every_job_of_the_round_and_starts_anew_on_resume(tmp_path):
    assert progress.record(tmp_path, "jobs", "000-baseB-split0", True) is None  # no round
    progress.start_round(tmp_path, "jobs", 3)
    progress.record(tmp_path, "jobs", "000-baseB-split0", True)
    tally = progress.record(tmp_path, "jobs", "001-A1B-split0", False)
    assert (tally.done, tally.total, tally.failed) == (2, 3, 1) and 0 <= tally.elapsed < 60
    progress.start_round(tmp_path, "jobs", 1)  # sweep --resume: the one job left
    tally = progress.record(tmp_path, "jobs", "001-A1B-split0", True)
    assert (tally.done, tally.total, tally.failed) == (1, 1, 0)


def test_plain_log_lines_when_stdout_is_not_a_terminal(tmp_path, caplog, capsys):
    progress.start_round(tmp_path, "sources", 2)
    with caplog.at_level("INFO", logger="transfer_lab"):
        progress.show("sources", Tally(1, 2, 0, 10.0), "source-A-split0-abcd1234", 0.75, True)
    assert caplog.messages == [
        "sources 1/2 · 0:10 elapsed · ETA 0:10 · source-A-split0-abcd1234 source test acc 75.0%"
        " · 0 failed"
    ]
    assert "━" not in capsys.readouterr().out  # no bar outside a terminal


def srun_hints(monkeypatch) -> list[str]:
    """The warnings Lightning's SLURM check gives on a machine with srun, after our filters."""
    import shutil

    from lightning_fabric.plugins.environments import SLURMEnvironment

    from transfer_lab.job.task import quiet_libraries

    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.delenv("SLURM_NTASKS", raising=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_libraries()
        SLURMEnvironment._validate_srun_used()
    return [str(w.message) for w in caught if "srun" in str(w.message)]


def test_the_srun_hint_is_silenced_outside_a_slurm_job(monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    assert srun_hints(monkeypatch) == []


def test_the_srun_hint_stays_inside_a_slurm_job(monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    assert len(srun_hints(monkeypatch)) == 1


@pytest.mark.slow
def test_a_tiny_digits_sweep_shows_both_rounds_and_gives_baseb_its_session(cli):
    """Round 1 trains baseB's network (what B1B copies); in round 2 baseB finds it cached and
    still gets an hparams session, in a run named by design."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import metadata

    from tests.conftest import TINY

    done = cli(
        ["+experiment=digits_yosinski", "sweep", "transfer.arm=baseB,B1B", "data.split_seed=0"]
        + ["measures.enabled=false", *TINY]
    )
    out = done.stdout + done.stderr
    assert "sources 1/1 · " in out and "round done · source-baseB-split0-" in out
    assert "jobs 1/2 · " in out and "ETA" in out and "jobs 2/2 · " in out
    assert " target test acc " in out and "· 0 failed" in out
    assert "srun" not in out
    (sweep,) = list((cli.cwd / "multirun").glob("*/*"))
    runs = sorted(p.name for p in (sweep / "tensorboard").iterdir())
    assert runs[:2] == ["000-baseB-split0", "001-B1B-split0"]
    assert runs[2].startswith("source-baseB-split0-") and len(runs) == 3
    for run, phase in [(runs[0], "target"), (runs[1], "target"), (runs[2], "source")]:
        events = EventAccumulator(str(sweep / "tensorboard" / run / phase))
        events.Reload()
        plugin = events.PluginTagToContent(metadata.PLUGIN_NAME)
        assert metadata.SESSION_START_INFO_TAG in plugin, run
        assert "epoch" not in events.Tags()["scalars"]
    baseb = EventAccumulator(str(sweep / "tensorboard" / runs[0] / "target"))
    baseb.Reload()
    assert {"trial/target_test_acc", "trial/target_val_acc"} <= set(baseb.Tags()["scalars"])
