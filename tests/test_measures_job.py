"""Transferability measures inside jobs: a measure-only job, a transfer job, refusals."""

from __future__ import annotations

import json

import pytest

from tests.conftest import TINY

pytestmark = pytest.mark.slow


def only_results(cli):
    (job,) = list((cli.cwd / "outputs").glob("*/*"))
    return json.loads((job / "results.json").read_text())


def test_measure_only_job_measures_the_source_on_b_and_compares_it_with_base_b(cli):
    cli(["+experiment=digits_transferability", "source.epochs=1", *TINY])
    results = only_results(cli)
    assert results["status"] == "ok" and results["target"] is None
    assert results["label"] == "sources" and results["depth"] is None
    stages = results["stages"]
    source = results["source"]
    assert set(source["measures"]) == {"probe", "knn", "logme", "hscore", "transrate"}
    for name, values in source["measures"].items():
        assert len(values) == len(stages), name
    assert set(source["output_measures"]) == {"leep", "nce"}
    assert len(source["cka"]["baseB"]) == len(stages)
    assert all(0 <= v <= 1 + 1e-9 for v in source["cka"]["baseB"])
    stored = list((cli.cwd / "cache" / "measures").rglob("*.json"))
    assert len(stored) == 1  # kept beside the source cache for the next job on this B


def test_transfer_job_records_measures_and_how_far_each_stage_moved(cli):
    cli(["transfer.arm=A2B", "model.binary_heads=0", "measures.enabled=true", *TINY])
    results = only_results(cli)
    assert len(results["source"]["measures"]["logme"]) == len(results["stages"])
    moved = results["target"]["cka"]["source"]
    assert moved[:2] == pytest.approx([1.0, 1.0])  # frozen stages are the source's own
    assert len(moved) == len(results["stages"])


def test_measures_can_be_switched_off(cli):
    cli(["transfer.arm=A1B+", "model.binary_heads=0", *TINY])  # off by default
    results = only_results(cli)
    assert results["source"]["measures"] is None and results["target"]["cka"] is None


def test_measure_only_refuses_an_arm_without_a_source(cli):
    done = cli(["transfer.arm=baseB", "measures.only=true", *TINY], check=False)
    assert done.returncode != 0
    assert "measures.only=true" in done.stdout + done.stderr
    assert not list((cli.cwd / "cache").rglob("*.pt"))
