"""The report's transferability section on hand-built sweep folders (made-up numbers)."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.test_report import make_job, ok_results, report, treatments_sweep

STAGES = ["conv1", "conv2", "fc1"]


def measured_sweep(root):
    """AnB loses 5 points per depth, AnB+ gains 1; the source's measures on seeds 0–2.

    probe falls with depth (AnB's order), logme rises (the reverse), hscore is flat.
    """
    sweep = root / "measured"
    number = 0
    for split_seed in range(3):
        measures = {
            "probe": [0.9 - 0.1 * n + 0.01 * split_seed for n in range(3)],
            "logme": [-1.0 + 0.2 * n for n in range(3)],
            "hscore": [2.0, 2.0, 2.0],
        }
        for freeze in (True, False):
            for depth in (1, 2, 3):
                shift = -0.05 * depth if freeze else 0.01 * depth
                results = ok_results(
                    0.8 + shift + 0.001 * split_seed,
                    split_seed=split_seed,
                    depth=depth,
                    freeze=freeze,
                    heads=0,
                )
                results["stages"] = STAGES
                results["source"]["measures"] = measures
                results["source"]["cache_key"] = f"source-{split_seed}"
                overrides = [f"transfer.arm=A{depth}B{'' if freeze else '+'}"]
                make_job(sweep, number, [*overrides, f"data.split_seed={split_seed}"], results)
                number += 1
    return sweep


def test_agreement_table_ranks_each_measure_against_each_curve(tmp_path):
    sweep = measured_sweep(tmp_path)
    problems, _ = report(sweep)
    assert problems == 0
    agreed = pd.read_csv(sweep / "agreement.csv").set_index(["curve", "measure"])
    assert agreed.loc[("AnB", "probe"), "kendall"] == pytest.approx(1.0)
    assert agreed.loc[("AnB", "logme"), "spearman"] == pytest.approx(-1.0)
    assert agreed.loc[("AnB+", "probe"), "kendall"] == pytest.approx(-1.0)
    assert agreed.loc[("AnB", "probe"), "seeds"] == 3
    assert agreed.loc[("AnB", "hscore"), "seeds"] == 0  # flat: no ranking to compare
    table = pd.read_csv(sweep / "measures.csv")
    assert len(table) == 9  # one row per split seed and depth, not per arm
    assert table.set_index(["split_seed", "depth"]).loc[(2, 3), "probe"] == pytest.approx(0.72)
    assert table.set_index(["split_seed", "depth"]).loc[(0, 2), "AnB"] == pytest.approx(0.7)
    text = (sweep / "summary.md").read_text()
    assert "Do the measures rank the cut depths as transfer did?" in text
    assert (sweep / "figures" / "measures.png").exists()


def test_summary_csv_has_the_measure_at_each_configurations_depth(tmp_path):
    sweep = measured_sweep(tmp_path)
    report(sweep)
    summary = pd.read_csv(sweep / "summary.csv").set_index("label")
    assert summary.loc["A2B", "source_probe_mean"] == pytest.approx(0.81)
    assert summary.loc["A3B+", "source_logme_mean"] == pytest.approx(-0.6)


def test_sweeps_without_measures_get_no_measures_section(tmp_path):
    sweep = treatments_sweep(tmp_path)
    report(sweep)
    assert not (sweep / "measures.csv").exists()
    assert "source_probe_mean" not in pd.read_csv(sweep / "summary.csv").columns
    assert "Transferability measures" not in (sweep / "summary.md").read_text()


def test_a_measure_only_sweep_reports_the_per_stage_means(tmp_path):
    sweep = tmp_path / "only"
    for split_seed in range(2):
        results = ok_results(0.0, split_seed=split_seed, heads=0)
        results["target"] = None
        results["stages"] = STAGES
        results["source"]["measures"] = {"probe": [0.5, 0.6, 0.7 + split_seed / 10]}
        results["source"]["cka"] = {"baseB": [0.9, 0.5, 0.3]}
        make_job(sweep, split_seed, [f"data.split_seed={split_seed}"], results)
    problems, _ = report(sweep)
    assert problems == 0
    text = (sweep / "summary.md").read_text()
    assert "Transferability measures of the source" in text
    assert "0.75" in text  # the probe at fc1, averaged over the two split seeds
    assert not (sweep / "agreement.csv").exists()  # nothing measured to agree with
    assert (sweep / "figures" / "measures.png").exists()
