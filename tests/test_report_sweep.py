"""A real tiny sweep with a failing job: its report and its TensorBoard log tree."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import metadata

from tests.conftest import TINY

pytestmark = pytest.mark.slow


def events(run_dir) -> EventAccumulator:
    accumulator = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    accumulator.Reload()
    return accumulator


def test_sweep_with_a_failed_job_reports_the_rest_and_logs_hparams(cli):
    done = cli(
        [
            "+experiment=digits_beta",
            "sweep",
            "model.beta=0,0.4",
            "data.split_seed=0,1",
            # a rate that passes every check and diverges: these jobs fail while running
            "target.optim.lr=0.05,1e30",
            *TINY,
        ],
        check=False,
    )
    assert done.returncode == 1
    assert "4 job(s) failed or did not finish" in done.stderr
    (sweep,) = list((cli.cwd / "multirun").glob("*/*"))

    markdown = (sweep / "summary.md").read_text()
    assert "NaN or infinite" in markdown and "## Jobs that did not finish" in markdown
    summary = pd.read_csv(sweep / "summary.csv")
    assert summary["beta"].tolist() == [0.0, 0.4] and summary["n"].tolist() == [2, 2]
    paired = pd.read_csv(sweep / "paired.csv")
    row = paired[paired["metric"] == "target_test_acc"].iloc[0]
    assert (row["config"], row["baseline"], row["pairs"]) == ("β=0.4", "β=0", 2)
    assert "paired, β vs β=0" in done.stdout and "β=0.4" in done.stdout
    assert (sweep / "figures" / "beta.png").stat().st_size > 20_000

    jobs = [p for p in sweep.iterdir() if (p / "results.json").exists()]
    finished = [json.loads((p / "results.json").read_text()) | {"job": p.name} for p in jobs]
    finished = [r for r in finished if r["status"] == "ok"]
    assert len(finished) == 4
    for results in finished:
        # runs named by job number, arm, β and split seed
        run = f"{int(results['job']):03d}-{results['label']}-beta{results['beta']:g}"
        target = events(sweep / "tensorboard" / f"{run}-split{results['split_seed']}" / "target")
        start = metadata.parse_session_start_info_plugin_data(
            target.PluginTagToContent(metadata.PLUGIN_NAME)[metadata.SESSION_START_INFO_TAG]
        )
        hparams = {
            k: v.number_value for k, v in start.hparams.items() if v.HasField("number_value")
        }
        assert start.hparams["beta"].string_value == f"{results['beta']:g}"  # discrete in HPARAMS
        assert hparams["split_seed"] == results["split_seed"]
        assert start.hparams["label"].string_value == results["label"]
        final = {tag: target.Scalars(tag)[-1].value for tag in target.Tags()["scalars"]}
        assert final["trial/target_test_acc"] == pytest.approx(results["target"]["test_acc"])
        assert final["trial/source_val_acc"] == pytest.approx(results["source"]["val_acc"])
        assert {"target/train/acc", "target/val/acc", "target/test/acc"} <= set(final)
        assert "epoch" not in final
        # the sweep trained each source first, logging it as source-A-…-<key prefix>, with a
        # session of its own
        key = results["source"]["cache_key"][:8]
        run = f"source-A-beta{results['beta']:g}-split{results['split_seed']}-{key}"
        source = events(sweep / "tensorboard" / run / "source")
        assert {"source/train/acc", "source/val/acc", "source/test/acc"} <= set(
            source.Tags()["scalars"]
        )
        assert metadata.SESSION_START_INFO_TAG in source.PluginTagToContent(metadata.PLUGIN_NAME)
