"""The report on hand-built sweep folders: tables, pairing, failures, figures.

The job folders here are fixtures with made-up accuracies, built only to check the report's
arithmetic and choices; they are never presented as measurements.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from rich.console import Console

from transfer_lab.report.collect import collect, design_columns
from transfer_lab.report.pairing import comparisons
from transfer_lab.report.summary import configurations
from transfer_lab.report.sweep_report import report_sweep

FAMILIES = {
    ("scratch", False): "baseB",
    ("transfer", True): "AnB",
    ("transfer", False): "AnB+",
    ("selffer", True): "BnB",
    ("selffer", False): "BnB+",
}


def make_job(sweep: Path, number: int, overrides: list[str], results: dict | None) -> Path:
    """A job folder as Hydra and pipeline.run_job leave it (results None: never finished)."""
    job = sweep / str(number)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if results is not None:
        (job / "results.json").write_text(json.dumps(results))
    return job


def ok_results(
    target: float,
    *,
    split_seed: int,
    treatment: str = "transfer",
    depth: int = 4,
    freeze: bool = False,
    beta: float = 0.0,
    heads: int = 1,
    fraction: float = 0.05,
    source: float | None = 0.95,
    seed: int = 0,
) -> dict:
    has_source = treatment in ("transfer", "selffer")
    family = FAMILIES[(treatment, freeze if treatment != "scratch" else False)]
    label = "baseB" if family == "baseB" else family.replace("n", str(depth))
    return {
        "status": "ok",
        "experiment": "fixture",
        "dataset": "digits",
        "split_seed": split_seed,
        "seed": seed,
        "treatment": treatment,
        "label": label,
        "family": family,
        "depth": depth if treatment != "scratch" else 0,
        "freeze": freeze and has_source,
        "lr_scale": 1.0,
        "beta": beta,
        "binary_heads": heads,
        "config": {"data": {"fraction": fraction, "per_class": None}},
        "source": (
            {
                "trained": True,
                "cache_key": f"k{split_seed}{beta}{depth}",
                "val_acc": source,
                "test_acc": source - 0.01,
            }
            if has_source
            else {"trained": False}
        ),
        "target": {"val_acc": target + 0.01, "test_acc": target, "test_loss": 0.3},
    }


@pytest.fixture
def beta_sweep(tmp_path) -> Path:
    """β = 0 and 0.4 on split seeds 0–2; β = 0.4 alone on seed 3; one failed, one unfinished."""
    sweep = tmp_path / "beta"
    number = 0
    values = {0.0: [0.80, 0.90, 0.70], 0.4: [0.82, 0.91, 0.74, 0.99]}
    for beta, targets in values.items():
        for split_seed, target in enumerate(targets):
            make_job(
                sweep,
                number,
                [f"model.beta={beta:g}", f"data.split_seed={split_seed}", "+experiment=fixture"],
                ok_results(target, split_seed=split_seed, beta=beta, source=0.9 + beta / 10),
            )
            number += 1
    make_job(
        sweep,
        number,
        ["model.beta=0", "data.split_seed=3", "+experiment=fixture"],
        {
            "status": "failed",
            "reason": "RuntimeError: out of memory on the fixture",
            "split_seed": 3,
            "seed": 0,
            "overrides": [],
        },
    )
    make_job(
        sweep, number + 1, ["model.beta=0.4", "data.split_seed=4", "+experiment=fixture"], None
    )
    return sweep


def report(sweep: Path, **kwargs) -> tuple[int, str]:
    console = Console(record=True, width=200)
    problems = report_sweep(sweep, console=console, **kwargs)
    return problems, console.export_text()


def test_summary_has_one_row_per_configuration_with_readable_columns(beta_sweep):
    problems, _ = report(beta_sweep, draw=False)
    summary = pd.read_csv(beta_sweep / "summary.csv")
    assert list(summary["beta"]) == [0.0, 0.4]
    assert list(summary["n"]) == [3, 4]
    assert list(summary["split_seeds"]) == ["0 1 2", "0 1 2 3"]
    assert summary["target_test_acc_mean"].tolist() == pytest.approx([0.8, 0.865])
    assert summary["target_test_acc_std"].iloc[0] == pytest.approx(0.1)
    assert "model.beta" not in summary.columns
    assert problems == 2


def test_beta_is_paired_with_beta_zero_on_shared_split_seeds_only(beta_sweep):
    _, console = report(beta_sweep, draw=False)
    paired = pd.read_csv(beta_sweep / "paired.csv")
    row = paired[(paired["metric"] == "target_test_acc")].iloc[0]
    assert row["comparison"] == "β vs β=0"
    assert (row["config"], row["baseline"]) == ("β=0.4", "β=0")
    assert row["pairs"] == 3 and row["split_seeds"] == "0 1 2"
    assert str(row["unpaired_split_seeds"]) == "3"
    # differences 0.02, 0.01, 0.04 on seeds 0, 1, 2 (seed 3 has no β = 0 partner)
    assert row["diff_mean"] == pytest.approx(0.07 / 3)
    assert row["diff_std"] == pytest.approx(
        ((0.02 - 0.07 / 3) ** 2 + (0.01 - 0.07 / 3) ** 2 + (0.04 - 0.07 / 3) ** 2) ** 0.5 / 2**0.5
    )
    assert row["baseline_mean"] == pytest.approx(0.8) and row["treatment_mean"] == pytest.approx(
        2.47 / 3
    )
    assert row["p_wilcoxon"] == pytest.approx(0.25)
    source = paired[(paired["metric"] == "source_test_acc")].iloc[0]
    assert source["diff_mean"] == pytest.approx(0.04)
    assert "paired, β vs β=0" in console and "+2.33" in console


def test_failed_and_unfinished_jobs_are_named_not_dropped(beta_sweep):
    _, console = report(beta_sweep, draw=False)
    markdown = (beta_sweep / "summary.md").read_text()
    assert "## Jobs that did not finish" in markdown
    assert "RuntimeError: out of memory on the fixture" in markdown
    assert "no results.json" in markdown and "data.split_seed=4" in markdown
    assert "out of memory" in console and "job 8 unfinished" in console
    jobs = pd.read_csv(beta_sweep / "jobs.csv")
    assert sorted(jobs["status"]) == ["failed"] + ["ok"] * 7 + ["unfinished"]
    # the others are still reported
    assert "| 0.4 | 4 | 0 1 2 3 | 86.50 ± " in markdown


def test_markdown_holds_the_paired_beta_table(beta_sweep):
    report(beta_sweep, draw=False)
    markdown = (beta_sweep / "summary.md").read_text()
    assert "### Target task B, test accuracy" in markdown
    assert "| β vs β=0 | β=0.4 | β=0 | 3* | +2.33 |" in markdown
    assert "Fixed in every configuration" in markdown and "network=A4B+" in markdown


def treatments_sweep(root: Path) -> Path:
    """baseB (scratch ignores depth: two identical grids), AnB/AnB+/BnB at n = 1, 2; seeds 0–2."""
    sweep = root / "layers"
    number = 0
    for split_seed in range(3):
        for treatment, freeze, depth in [
            ("scratch", False, 1),
            ("scratch", False, 2),
            ("transfer", True, 1),
            ("transfer", True, 2),
            ("transfer", False, 1),
            ("transfer", False, 2),
            ("selffer", True, 1),
            ("selffer", True, 2),
        ]:
            bonus = {
                "scratch": 0.0,
                "transfer": 0.02 if not freeze else -0.01 * depth,
                "selffer": 0.005,
            }[treatment]
            target = 0.8 + 0.05 * split_seed + bonus
            overrides = [
                f"transfer.treatment={treatment}",
                f"transfer.depth={depth}",
                f"transfer.freeze={str(freeze).lower()}",
                f"data.split_seed={split_seed}",
            ]
            make_job(
                sweep,
                number,
                overrides,
                ok_results(
                    target, split_seed=split_seed, treatment=treatment, depth=depth, freeze=freeze
                ),
            )
            number += 1
    return sweep


def test_scratch_jobs_that_differ_only_in_ignored_settings_are_one_configuration(tmp_path):
    sweep = treatments_sweep(tmp_path)
    report(sweep, draw=False)
    summary = pd.read_csv(sweep / "summary.csv")
    base = summary[summary["label"] == "baseB"]
    assert len(base) == 1 and base["n"].item() == 3 and base["jobs"].item() == 6
    assert summary["label"].tolist() == ["baseB", "B1B", "B2B", "A1B", "A2B", "A1B+", "A2B+"]


def test_each_copied_network_is_paired_with_baseB_and_transfer_with_the_selffer(tmp_path):
    sweep = treatments_sweep(tmp_path)
    report(sweep, draw=False)
    paired = pd.read_csv(sweep / "paired.csv")
    target = paired[paired["metric"] == "target_test_acc"]
    against_base = target[target["comparison"] == "vs baseB"].set_index("config")
    assert set(against_base.index) == {"B1B", "B2B", "A1B", "A2B", "A1B+", "A2B+"}
    assert set(against_base["baseline"]) == {"baseB"}
    assert against_base.loc["A2B", "diff_mean"] == pytest.approx(-0.02)
    assert against_base.loc["A1B+", "pairs"] == 3
    # every difference the same: no t-test, but a Wilcoxon p
    assert "undefined" in against_base.loc["A1B+", "note"]
    specificity = target[target["comparison"] == "AnB vs BnB"].set_index("config")
    assert dict(specificity["baseline"]) == {"A1B": "B1B", "A2B": "B2B"}
    assert specificity.loc["A1B", "diff_mean"] == pytest.approx(-0.015)
    # scratch has no source: no source-accuracy comparison against it
    assert paired[(paired["comparison"] == "vs baseB")]["metric"].str.startswith("target").all()


def test_transfer_is_paired_with_scratch_at_the_same_budget(tmp_path):
    sweep = tmp_path / "budget"
    number = 0
    for split_seed in (0, 1):
        for fraction in (0.1, 0.5):
            for treatment in ("scratch", "transfer"):
                gain = 0.1 * (1 - fraction) if treatment == "transfer" else 0.0
                target = 0.6 + 0.3 * fraction + gain + 0.01 * split_seed
                make_job(
                    sweep,
                    number,
                    [
                        f"transfer.treatment={treatment}",
                        f"data.fraction={fraction}",
                        f"data.split_seed={split_seed}",
                    ],
                    ok_results(
                        target, split_seed=split_seed, treatment=treatment, fraction=fraction
                    ),
                )
                number += 1
    report(sweep)
    paired = pd.read_csv(sweep / "paired.csv")
    rows = paired[paired["metric"] == "target_test_acc"].set_index("config")
    assert rows.loc["A4B+ · fraction=0.1", "baseline"] == "baseB · fraction=0.1"
    assert rows.loc["A4B+ · fraction=0.1", "diff_mean"] == pytest.approx(0.09)
    assert rows.loc["A4B+ · fraction=0.5", "diff_mean"] == pytest.approx(0.05)
    assert figure_sizes(sweep).keys() == {"budget.png", "budget.svg"}


def test_beta_baseline_may_differ_in_the_number_of_heads_only_when_unambiguous(tmp_path):
    sweep = tmp_path / "heads"
    number = 0
    for split_seed in (0, 1):
        for beta, heads in ((0.0, 0), (0.4, 1), (0.4, 4)):
            make_job(
                sweep,
                number,
                [
                    f"model.beta={beta}",
                    f"model.binary_heads={heads}",
                    f"data.split_seed={split_seed}",
                ],
                ok_results(0.8 + beta * heads / 10, split_seed=split_seed, beta=beta, heads=heads),
            )
            number += 1
    frame = collect(sweep)
    columns = design_columns(frame)
    configs = configurations(frame, columns)
    found = {
        (c.config.values["binary_heads"], c.baseline.values["binary_heads"])
        for c in comparisons(configs, columns)
    }
    assert found == {(1, 0), (4, 0)}


def figure_sizes(sweep: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in (sweep / "figures").glob("*")}


def test_figures_are_drawn_when_the_sweep_has_their_data(tmp_path, beta_sweep):
    report(beta_sweep)
    sizes = figure_sizes(beta_sweep)
    assert set(sizes) == {"beta.png", "beta.svg"}
    assert min(sizes.values()) > 20_000
    assert "![beta](figures/beta.png)" in (beta_sweep / "summary.md").read_text()

    layers = treatments_sweep(tmp_path)
    report(layers, anchors=False)
    sizes = figure_sizes(layers)
    assert set(sizes) == {"layers.png", "layers.svg"}  # a Yosinski sweep: no depth figure
    assert min(sizes.values()) > 20_000


def test_no_figures_without_data_for_them(tmp_path):
    sweep = tmp_path / "single"
    make_job(sweep, 0, ["data.split_seed=0"], ok_results(0.9, split_seed=0))
    make_job(sweep, 1, ["data.split_seed=1"], ok_results(0.8, split_seed=1))
    problems, console = report(sweep)
    assert problems == 0 and not (sweep / "figures").exists()
    assert pd.read_csv(sweep / "summary.csv")["n"].tolist() == [2]
    assert "report:" in console


def test_a_sweep_where_every_job_failed_still_writes_a_report(tmp_path):
    sweep = tmp_path / "broken"
    make_job(
        sweep,
        0,
        ["model.beta=2"],
        {"status": "failed", "reason": "model.beta=2.0 is outside [0, 1]"},
    )
    problems, _ = report(sweep)
    assert problems == 1
    assert "outside [0, 1]" in (sweep / "summary.md").read_text()


@pytest.mark.slow
def test_report_command_on_a_folder(cli, beta_sweep):
    done = cli(["report", str(beta_sweep), "--no-anchors"])
    assert "β=0.4" in done.stdout and (beta_sweep / "figures" / "beta.svg").exists()
    missing = cli(["report", str(beta_sweep / "nothing")], check=False)
    assert missing.returncode == 2 and "is not a folder" in missing.stderr


def test_arm_named_sweeps_group_by_network_not_by_the_arm_text(tmp_path):
    sweep = tmp_path / "arms"
    number = 0
    for split_seed in range(2):
        for arm, treatment, freeze, depth in [
            ("baseB", "scratch", False, 0),
            ("A2B", "transfer", True, 2),
            ("A2B+", "transfer", False, 2),
        ]:
            results = ok_results(
                0.8, split_seed=split_seed, treatment=treatment, depth=depth, freeze=freeze
            )
            make_job(
                sweep, number, [f"transfer.arm={arm}", f"data.split_seed={split_seed}"], results
            )
            number += 1
    report(sweep, draw=False)
    summary = pd.read_csv(sweep / "summary.csv")
    assert "transfer.arm" not in summary.columns
    assert summary["label"].tolist() == ["baseB", "A2B", "A2B+"]
    assert summary["n"].tolist() == [2, 2, 2]


def beta_family_sweep(root: Path, seeds: int) -> Path:
    """β = 0, 0.2, 0.4 and 0.67 on `seeds` split seeds: three comparisons against β = 0."""
    sweep = root / f"family{seeds}"
    number = 0
    gains = {
        0.0: [0.0] * 6,
        0.2: [0.01, 0.02, 0.0, 0.03, 0.01, 0.02],
        0.4: [0.03, 0.02, 0.04, 0.03, 0.05, 0.04],
    }
    gains[0.67] = [-0.01, 0.02, 0.0, -0.02, 0.01, 0.0]
    for beta, gain in gains.items():
        for split_seed in range(seeds):
            target = 0.7 + 0.05 * split_seed + gain[split_seed]
            make_job(
                sweep,
                number,
                [f"model.beta={beta:g}", f"data.split_seed={split_seed}"],
                ok_results(target, split_seed=split_seed, beta=beta, source=1.0 - split_seed / 50),
            )
            number += 1
    return sweep


def test_comparisons_against_one_baseline_get_holm_adjusted_p_beside_the_raw_p(tmp_path):
    from transfer_lab.report.statistics import holm

    sweep = beta_family_sweep(tmp_path, 5)
    _, console = report(sweep, draw=False)
    paired = pd.read_csv(sweep / "paired.csv")
    target = paired[paired["metric"] == "target_test_acc"].set_index("config")
    assert list(target.index) == ["β=0.2", "β=0.4", "β=0.67"]
    assert list(paired.columns).index("p_t_holm") == list(paired.columns).index("p_t") + 1
    assert target["p_t_holm"].to_numpy() == pytest.approx(holm(target["p_t"].to_numpy()))
    smallest = target["p_t"].idxmin()
    assert target.loc[smallest, "p_t_holm"] == pytest.approx(3 * target.loc[smallest, "p_t"])
    assert target["p_wilcoxon_holm"].to_numpy() == pytest.approx(
        holm(target["p_wilcoxon"].to_numpy())
    )
    assert "Holm p" in console
    holm_cell = f"{target.loc[smallest, 'p_t_holm']:.3f}"
    assert holm_cell in console and holm_cell in (sweep / "summary.md").read_text()


def test_fewer_than_six_pairs_are_first_looks_and_six_are_not(tmp_path):
    few = beta_family_sweep(tmp_path, 5)  # Wilcoxon's floor at n = 5 is 0.0625 > 0.05
    _, console = report(few, draw=False)
    markdown = (few / "summary.md").read_text()
    assert "fewer than 6 pairs" in console and "0.0625 at n = 5" in console
    assert "> **Warning:** \\* first look, not a finding" in markdown and "| 5* |" in markdown
    assert pd.read_csv(few / "paired.csv")["first_look"].all()

    enough = beta_family_sweep(tmp_path, 6)
    _, console = report(enough, draw=False)
    markdown = (enough / "summary.md").read_text()
    assert "fewer than" not in console and "Warning" not in markdown and "| 6 |" in markdown
    assert not pd.read_csv(enough / "paired.csv")["first_look"].any()


def test_each_comparison_states_the_difference_it_could_detect(tmp_path):
    from transfer_lab.report.statistics import detectable_difference

    sweep = beta_family_sweep(tmp_path, 6)
    report(sweep, draw=False)
    paired = pd.read_csv(sweep / "paired.csv")
    for row in paired.itertuples():
        expected = detectable_difference(row.diff_std, row.pairs)
        assert row.detectable == pytest.approx(expected, nan_ok=True)
    target = paired[paired["metric"] == "target_test_acc"]
    assert target["detectable"].notna().all()
    shown = f"{100 * target['detectable'].iloc[0]:.2f}"
    assert "detectable (points)" in (sweep / "summary.md").read_text()
    assert f"| {shown} |" in (sweep / "summary.md").read_text()


def test_holm_runs_over_the_depths_of_an_arm_family_and_the_budgets_of_a_study(tmp_path):
    """AnB+ against baseB at n = 1, 2 and two budgets is one family of four; AnB another."""
    from transfer_lab.report.statistics import holm

    sweep, number = tmp_path / "family", 0
    arms = [("baseB", "scratch", 0, False), ("A1B", "transfer", 1, True)]
    arms += [("A1B+", "transfer", 1, False), ("A2B+", "transfer", 2, False)]
    for fraction in (0.1, 0.5):
        for label, treatment, depth, freeze in arms:
            for split_seed in range(4):
                gain = (
                    0.0 if treatment == "scratch" else 0.01 * (split_seed + depth) + fraction / 10
                )
                results = ok_results(
                    0.7 + 0.03 * split_seed + gain,
                    split_seed=split_seed,
                    treatment=treatment,
                    depth=depth,
                    freeze=freeze,
                    fraction=fraction,
                )
                overrides = [f"transfer.arm={label}", f"data.fraction={fraction}"]
                make_job(sweep, number, [*overrides, f"data.split_seed={split_seed}"], results)
                number += 1
    report(sweep, draw=False)
    paired = pd.read_csv(sweep / "paired.csv")
    target = paired[(paired["metric"] == "target_test_acc") & (paired["comparison"] == "vs baseB")]
    plus = target[target["config"].str.startswith(("A1B+", "A2B+"))]
    assert len(plus) == 4 and plus["holm_family"].nunique() == 1 and (plus["holm_m"] == 4).all()
    assert plus["p_t_holm"].to_numpy() == pytest.approx(holm(plus["p_t"].to_numpy()))
    frozen = target[target["config"].str.startswith("A1B ")]
    assert len(frozen) == 2 and (frozen["holm_m"] == 2).all()
    assert set(frozen["holm_family"]).isdisjoint(plus["holm_family"])


def test_accuracy_intervals_in_summary_csv_stay_within_0_and_1(tmp_path):
    sweep = beta_family_sweep(tmp_path, 3)  # source test accuracies 0.99, 0.97, 0.95
    report(sweep, draw=False)
    summary = pd.read_csv(sweep / "summary.csv")
    highs = summary["source_test_acc_ci_high"].dropna()
    assert len(highs) == 4 and (highs == 1.0).any() and (highs <= 1.0).all()
    assert (summary["target_test_acc_ci_low"].dropna() >= 0).all()
    paired = pd.read_csv(sweep / "paired.csv")
    assert paired["ci_high"].max() <= 1.0 and paired["ci_low"].min() >= -1.0


def test_report_refuses_a_folder_that_holds_no_sweep(tmp_path, capsys):
    from transfer_lab.cli.report import main

    (tmp_path / "empty").mkdir()
    (tmp_path / "run" / ".hydra").mkdir(parents=True)  # a single run's folder, not a sweep's
    for folder in (tmp_path / "empty", tmp_path / "run"):
        with pytest.raises(SystemExit) as stopped:
            main([str(folder)])
        assert stopped.value.code == 2
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and "holds no sweep" in error and str(folder) in error
        assert list(folder.glob("*.csv")) == [] and not (folder / "summary.md").exists()


def test_summary_names_the_code_versions_machine_and_times_that_made_the_sweep(tmp_path):
    sweep = tmp_path / "provenance"
    for seed in range(2):
        results = ok_results(0.8, split_seed=seed)
        results["cpu_seconds"] = 90.0
        results["provenance"] = {
            "commit": "abc123",
            "dirty": seed == 1,
            "torch": "2.14.1",
            "lightning": "2.6.6",
            "python": "3.11.7",
            "threads": 1,
            "precision": "32-true",
            "host": "vm",
            "started": 1000.0 + 60 * seed,
            "finished": 1100.0 + 60 * seed,
        }
        make_job(sweep, seed, [f"data.split_seed={seed}"], results)
    source = sweep / "sources" / "k0"
    source.mkdir(parents=True)
    (source / "results.json").write_text(
        json.dumps({**ok_results(0.9, split_seed=0), "cpu_seconds": 30.0, "provenance": {}})
    )
    report(sweep, draw=False)
    text = (sweep / "summary.md").read_text()
    assert "## Provenance" in text
    assert "abc123, abc123 (with uncommitted changes)" in text
    assert "torch 2.14.1, Lightning 2.6.6" in text and "CPU threads per job: 1" in text
    assert "wall time: 2 min 40 s" in text  # 1000 → 1160
    assert "CPU time: 3 min 30 s" in text  # 90 + 90 + the source's 30
