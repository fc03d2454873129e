"""Every study's experiment runs end to end on tiny real-format data, its grid cut to one job."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import compose, experiment_data
from transfer_lab.config.paths import config_dir

OFFLINE_DATA = "digits"  # the experiments on the bundled digits run in other tests


def studies(conf=None) -> list[str]:
    """The experiments on real-format data files, picked by their composed `data`."""
    return [name for name, data in experiment_data(conf).items() if data != OFFLINE_DATA]


STUDIES = studies()
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


def milestones_within_one_epoch(experiment: str) -> list[str]:
    """A paper's rate milestones (epochs 41, 126, …) lie past a one-epoch run, where they would
    never fire, which the checks refuse: the tiny run moves them to its one epoch."""
    cfg = compose([f"+experiment={experiment}"])
    phases = [p for p in ("source", "target") if "milestones" in cfg[p].scheduler]
    return [f"{phase}.scheduler.milestones=[1]" for phase in phases]


def test_cutting_the_grid_leaves_one_transfer_job():
    assert one_job_of("yosinski") == ["transfer.arm=A7B+", "data.direction=BA", "data.split_seed=1"]


def test_experiments_are_sorted_by_their_data_not_their_name(tmp_path):
    """A user's copy of digits_beta.yaml under a name of their own stays with the digits ones,
    and a real-data study copied under a digits_ name stays a study."""
    conf = tmp_path / "conf"
    shutil.copytree(config_dir(), conf)
    shutil.copy(conf / "experiment" / "digits_beta.yaml", conf / "experiment" / "my_study.yaml")
    shutil.copy(conf / "experiment" / "yosinski.yaml", conf / "experiment" / "digits_cifar.yaml")
    chosen = studies(conf)
    assert "my_study" not in chosen and "digits_beta" not in chosen
    assert "digits_cifar" in chosen and "yosinski" in chosen
    assert chosen == sorted(set(STUDIES) | {"digits_cifar"})


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
            *milestones_within_one_epoch(experiment),
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
