"""Every study's experiment runs end to end on tiny real-format data, its grid cut to one job."""

from __future__ import annotations

import json

import pytest

from tests.conftest import compose
from transfer_lab.config.paths import config_dir

STUDIES = sorted(
    p.stem for p in (config_dir() / "experiment").glob("*.yaml") if not p.stem.startswith("digits_")
)  # the digits ones run in other tests
TINY_RUN = [
    "trainer.enable_progress_bar=false",
    "trainer.limit_train_batches=1",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
    "source.epochs=1",
    "target.epochs=1",
    "source.test_epochs=last",  # a paper's tested epochs (freeze_depth: 1, 21, 40) lie past 1
    "target.test_epochs=last",
    "data.batch_size=4",
    "data.eval_batch_size=8",
    "++data.check_md5=false",
]


def one_job_of(experiment: str) -> list[str]:
    """Each grid axis cut to its last value (the last values are transfer arms, not scratch)."""
    params = compose([f"+experiment={experiment}"]).hydra.sweeper.params
    return [f"{key}={str(values).split(',')[-1]}" for key, values in params.items()]


def test_cutting_the_grid_leaves_one_transfer_job():
    assert one_job_of("yosinski") == ["transfer.arm=A7B+", "data.direction=BA", "data.split_seed=1"]


@pytest.mark.slow
@pytest.mark.parametrize("experiment", STUDIES)
def test_experiment_runs_end_to_end_on_tiny_real_format_data(cli, data_root, experiment):
    extra = (
        ["data.source_classes=3", "data.target_classes=3", "data.num_workers=0"]
        if experiment.startswith("imagenet")
        else []
    )
    cli(
        [
            f"+experiment={experiment}",
            "sweep",
            *one_job_of(experiment),
            f"paths.data_dir={data_root}",
            *TINY_RUN,
            *extra,
        ]
    )
    (results_path,) = list((cli.cwd / "multirun").glob("*/*/*/results.json"))
    results = json.loads(results_path.read_text())
    assert results["status"] == "ok", results.get("reason")
    assert results["experiment"] == experiment
    (source_path,) = list((cli.cwd / "multirun").glob("*/*/sources/*/results.json"))
    source = json.loads(source_path.read_text())["source"]  # trained first, then found
    assert source["trained"] and source["cache_key"] == results["source"]["cache_key"]
    if results["config"]["measures"]["only"]:  # sources measured, no target network
        assert results["target"] is None
        assert len(results["source"]["measures"]["probe"]) == len(results["stages"])
        assert len(results["source"]["cka"]["baseB"]) == len(results["stages"])
        return
    assert results["target"]["epochs"] == 1 and 0 <= results["target"]["test_acc"] <= 1
