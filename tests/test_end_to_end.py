"""The CLI from the outside: one job, a sweep, its report."""

from __future__ import annotations

import json

import pytest

from tests.conftest import TINY

pytestmark = pytest.mark.slow


def test_sweep_writes_one_folder_per_job_and_a_report(cli):
    done = cli(
        ["+experiment=digits_beta", "sweep", "model.beta=0,0.4", "data.split_seed=0,1", *TINY]
    )
    sweeps = list((cli.cwd / "multirun").glob("*/*"))
    assert len(sweeps) == 1
    jobs = sorted(p for p in sweeps[0].iterdir() if (p / ".hydra").is_dir())
    assert len(jobs) == 4
    results = [json.loads((job / "results.json").read_text()) for job in jobs]
    assert {r["status"] for r in results} == {"ok"}
    assert sorted((r["beta"], r["split_seed"]) for r in results) == [
        (0, 0),
        (0, 1),
        (0.4, 0),
        (0.4, 1),
    ]
    for r in results:
        assert r["experiment"] == "digits_beta"
        assert set(r["source_classes"]).isdisjoint(r["target_classes"])
        assert r["source"]["trained"] is True and 0 <= r["target"]["test_acc"] <= 1
    assert "job 4/4" in done.stdout
    summary = (sweeps[0] / "summary.csv").read_text().splitlines()
    header = summary[0].split(",")
    assert "beta" in header and "n" in header
    assert len(summary) == 3  # header + β=0 + β=0.4
    assert "summary.md" in done.stdout


def test_run_writes_results_json_in_its_job_folder(cli):
    cli(["transfer.treatment=scratch", "data.fraction=0.2", *TINY])
    (job,) = list((cli.cwd / "outputs").glob("*/*"))
    results = json.loads((job / "results.json").read_text())
    assert results["status"] == "ok"
    assert results["treatment"] == "scratch" and results["label"] == "baseB"
    assert results["source"]["trained"] is False and results["source"]["cache_key"] is None
    for key in ("val_acc", "test_acc", "test_loss", "epochs", "seconds"):
        assert key in results["target"]
