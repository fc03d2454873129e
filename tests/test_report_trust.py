"""The report trusts a job's results.json only when it agrees with its folder and the sweep,
and has the types it expects; otherwise the job is listed as unreadable, with the reason, and
counts nowhere (hand-built fixtures with made-up accuracies, as in test_report.py)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from tests.test_report import make_job, ok_results, report


def beta_pairs(tmp_path, experiment: str = "fixture"):
    """β = 0 and 0.4 on split seeds 0–2 of one experiment, each record naming its overrides."""
    sweep = tmp_path / "sweep"
    for number, (beta, seed) in enumerate((b, s) for b in (0.0, 0.4) for s in range(3)):
        overrides = [f"model.beta={beta:g}", f"data.split_seed={seed}", f"+experiment={experiment}"]
        record = ok_results(0.8 + beta / 10 + seed / 100, split_seed=seed, beta=beta)
        make_job(sweep, number, overrides, {**record, "overrides": overrides})
    return sweep


def rewrite(job, change) -> None:
    record = json.loads((job / "results.json").read_text())
    change(record)
    (job / "results.json").write_text(json.dumps(record))


def unreadable(sweep) -> dict[str, str]:
    jobs = pd.read_csv(sweep / "jobs.csv", dtype={"job": str})
    rows = jobs[jobs["status"] == "unreadable"]
    return dict(zip(rows["job"], rows["reason"], strict=True))


def counted(sweep) -> tuple[list[int], int]:
    """n of each configuration, and the pairs of the paired β comparison on the target."""
    summary = pd.read_csv(sweep / "summary.csv")
    paired = pd.read_csv(sweep / "paired.csv")
    pairs = paired[paired["metric"] == "target_test_acc"]["pairs"].tolist()
    return summary["n"].tolist(), pairs[0] if pairs else 0


def test_a_record_of_another_experiment_copied_into_a_job_folder_is_not_the_baseline(tmp_path):
    sweep = beta_pairs(tmp_path)
    other = ["model.beta=0", "data.split_seed=0", "+experiment=elsewhere"]
    foreign = {**ok_results(0.10, split_seed=0), "experiment": "elsewhere", "overrides": other}
    (sweep / "0" / "results.json").write_text(json.dumps(foreign))  # job 0: β = 0, seed 0
    problems, console = report(sweep, draw=False)
    assert unreadable(sweep) == {
        "0": "results.json is of experiment elsewhere, but the folder's .hydra/overrides.yaml "
        "asks for fixture"
    }
    assert problems == 1 and "job 0 unreadable" in console
    assert counted(sweep) == ([2, 3], 2)  # β = 0 from seeds 1 and 2 only


def test_a_record_with_other_overrides_is_not_trusted(tmp_path):
    sweep = beta_pairs(tmp_path)
    rewrite(sweep / "1", lambda r: r.update(overrides=["model.beta=0", "data.split_seed=7"]))
    report(sweep, draw=False)
    assert unreadable(sweep)["1"].startswith(
        "results.json records the overrides model.beta=0 data.split_seed=7, but the folder's "
        ".hydra/overrides.yaml holds model.beta=0 data.split_seed=1 +experiment=fixture"
    )
    assert counted(sweep) == ([2, 3], 2)


def test_a_job_folder_of_another_experiment_than_the_sweeps_is_not_counted(tmp_path):
    sweep = beta_pairs(tmp_path)
    saved = {"hydra": {"overrides": {"task": ["+experiment=fixture", "model.beta=0,0.4"]}}}
    (sweep / "multirun.yaml").write_text(yaml.safe_dump(saved))
    stray = ["model.beta=0.4", "data.split_seed=2", "+experiment=elsewhere"]
    record = {**ok_results(0.5, split_seed=2, beta=0.4), "experiment": "elsewhere"}
    make_job(sweep, 6, stray, {**record, "overrides": stray})  # a folder copied in whole
    report(sweep, draw=False)
    assert unreadable(sweep) == {
        "6": "the job is of experiment elsewhere, not of the sweep's fixture"
    }
    assert counted(sweep) == ([3, 3], 3)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("target.test_acc", "0.93", 'target.test_acc is "0.93" (str), not a number'),
        ("target.test_acc", [0.9, 0.8], "target.test_acc is [0.9, 0.8] (list), not a number"),
        ("depth", [4], "depth is [4] (list), not a whole number"),
        ("beta", [0.0, 0.4], "beta is [0.0, 0.4] (list), not a number"),
        ("split_seed", True, "split_seed is true (bool), not a whole number"),
    ],
)
def test_a_value_of_the_wrong_type_makes_the_record_unreadable_not_counted(
    tmp_path, field, value, reason
):
    sweep = beta_pairs(tmp_path)

    def change(record):
        *path, name = field.split(".")
        (record[path[0]] if path else record)[name] = value

    rewrite(sweep / "0", change)
    problems, _ = report(sweep, draw=False)
    assert unreadable(sweep) == {"0": f"results.json cannot be read: {reason}"}
    assert problems == 1
    assert counted(sweep) == ([2, 3], 2)
