"""The studies end to end: each source network is trained once per split seed, then reused."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest

from tests.conftest import TINY

pytestmark = pytest.mark.slow


def sweep_results(cwd):
    (sweep,) = list((cwd / "multirun").glob("*/*"))
    return [json.loads(p.read_text()) for p in sorted(sweep.glob("*/results.json"))]


def test_yosinski_sweep_trains_two_sources_per_split_seed(cli):
    arms = "baseB,B1B,B2B+,B4B,A1B,A3B+,A4B"
    cli(
        [
            "+experiment=digits_yosinski",
            "sweep",
            f"transfer.arm={arms}",
            "data.split_seed=0,1",
            *TINY,
        ]
    )
    results = sweep_results(cli.cwd)
    assert len(results) == 14 and {r["status"] for r in results} == {"ok"}
    trained, keys = defaultdict(int), defaultdict(set)
    for r in results:
        # baseB's own network is the BnB jobs' source: stored under one key, trained once
        network = r["target"] if r["label"] == "baseB" else r["source"]
        if r["label"] == "baseB":
            assert r["source"]["trained"] is False and r["source"]["cache_key"] is None
        trained[r["split_seed"]] += network["trained"]
        keys[(r["split_seed"], r["label"][0].upper())].add(network["cache_key"])  # b(aseB) → B
    assert dict(trained) == {0: 2, 1: 2}  # baseA and baseB, once each
    assert all(len(k) == 1 for k in keys.values()) and len(keys) == 4
    by_label = {(r["split_seed"], r["label"]): r for r in results}
    assert by_label[(0, "A3B+")]["freeze"] is False and by_label[(0, "A1B")]["freeze"] is True
    assert by_label[(0, "B4B")]["depth"] == 4


def test_fraction_sweep_reuses_the_source_across_budgets(cli):
    cli(
        [
            "+experiment=digits_fraction",
            "sweep",
            "data.fraction=0.1,0.5",
            "data.split_seed=0",
            *TINY,
        ]
    )
    results = sweep_results(cli.cwd)
    transfer = [r for r in results if r["label"] == "A4B+"]
    assert sorted(r["source"]["trained"] for r in transfer) == [False, True]
    sizes = {
        (r["label"], r["config"]["data"]["fraction"]): r["sizes"]["target_train"] for r in results
    }
    assert sizes[("baseB", 0.1)] == sizes[("A4B+", 0.1)] < sizes[("A4B+", 0.5)]
