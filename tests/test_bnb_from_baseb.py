"""Yosinski's BnB is cut from baseB itself: the network the baseB arm trains, on the same data
with the same schedule, trained once per split however many BnB jobs need it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import TINY, source_jobs

SMALL = [
    "+experiment=digits_yosinski",
    *TINY,
    "source.epochs=1",
    "target.epochs=3",  # BnB's source must get these 3 epochs, not the source stage's 1
    "data.split_seed=1",
]


def results_of(folder: Path) -> dict[str, dict]:
    """Each arm's results by label; a sweep's source jobs (sources/<key>/) are not arms."""
    found = {}
    for path in sorted(p for p in folder.glob("**/results.json") if "sources" not in p.parts):
        results = json.loads(path.read_text())
        assert results["status"] == "ok", results.get("reason")
        found[results["label"]] = results
    return found


@pytest.mark.slow
def test_a_sweep_trains_baseb_once_and_cuts_bnb_from_it(cli):
    cli([*SMALL, "sweep", "transfer.arm=baseB,B2B,B2B+"])
    jobs = results_of(cli.cwd / "multirun")
    base, target = jobs["baseB"], jobs["baseB"]["target"]
    (sweep,) = (cli.cwd / "multirun").glob("*/*")
    (first,) = source_jobs(sweep)  # the sweep trains baseB's network first, once
    assert (
        first["source"]["trained"] is True and first["source"]["cache_key"] == target["cache_key"]
    )
    assert target["trained"] is False and target["cache_key"]  # the baseB job found it
    for label in ("B2B", "B2B+"):
        source = jobs[label]["source"]
        assert source["cache_key"] == target["cache_key"]
        assert source["trained"] is False  # reused: the sweep trained one network fewer
        assert source["epochs"] == 3 == target["epochs"]  # baseB's (target) schedule
        assert source["test_acc"] == target["test_acc"]  # the very network baseB selected
        assert jobs[label]["sizes"]["target_train"] == base["sizes"]["target_train"]
    cached = list((cli.cwd / "cache").glob("*/*.pt"))
    assert [p.stem for p in cached] == [target["cache_key"]]  # no separate selffer source


@pytest.mark.slow
def test_baseb_reuses_the_network_a_bnb_job_trained_first(cli):
    cli([*SMALL, "transfer.arm=B3B"])
    cli([*SMALL, "transfer.arm=baseB"])
    jobs = results_of(cli.cwd / "outputs")
    source, target = jobs["B3B"]["source"], jobs["baseB"]["target"]
    assert source["trained"] is True and target["trained"] is False
    assert source["cache_key"] == target["cache_key"]
    assert (target["test_acc"], target["val_acc"]) == (source["test_acc"], source["val_acc"])
    assert not list((cli.cwd / "outputs").glob("**/checkpoints/source.ckpt"))  # the cache has it
