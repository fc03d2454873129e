"""Every backbone trains a job end to end through the CLI on the offline digits, and the
listing shows them all with their stages."""

from __future__ import annotations

import json

import pytest

from tests.conftest import source_jobs
from tests.test_backbones import STAGES

pytestmark = pytest.mark.slow

# One train/val/test batch of 8 per stage: these jobs check plumbing, not accuracy.
TINY_JOB = [
    "trainer.limit_train_batches=1",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
    "source.epochs=1",
    "target.epochs=1",
    "data.batch_size=8",
    "data.eval_batch_size=8",
    "trainer.enable_progress_bar=false",
]


def sweep_results(cli, args: list[str]) -> dict[str, dict]:
    """Run a sweep in its own folder; results.json of each job by its backbone= choice (and the
    sweep's source jobs under "sources")."""
    done = cli(["sweep", *args, *TINY_JOB])
    (sweep,) = (cli.cwd / "multirun").glob("*/*")
    results = {}
    for job in sorted(p for p in sweep.iterdir() if (p / ".hydra").is_dir()):
        result = json.loads((job / "results.json").read_text())
        choice = next(o.split("=", 1)[1] for o in result["overrides"] if o.startswith("backbone="))
        results[choice] = result
    results["sources"] = source_jobs(sweep)
    assert "report:" in done.stdout
    return results


def test_every_backbone_transfers_frozen_stages_on_8x8_digits(cli):
    """Copy stages 1–2 from A, freeze them, train the rest on B: at the digits' own 8×8."""
    choices = [
        "lenet",
        "densenet_bc",
        "densenet_bc_layers",
        "wrn28_10",
        "resnet20",
        "resnet56",
        "resnet18",
        "resnet50",
        "densenet121",
    ]
    results = sweep_results(
        cli,
        [
            f"backbone={','.join(choices)}",
            "transfer.treatment=transfer",
            "transfer.depth=2",
            "transfer.freeze=true",
        ],
    )
    sources = results.pop("sources")
    assert set(results) == set(choices)
    assert len(sources) == len(choices) and all(s["source"]["trained"] for s in sources)
    for choice, result in results.items():
        assert result["status"] == "ok", (choice, result.get("reason"))
        assert result["label"] == "A2B" and result["source"]["cache_key"]
        assert 0 <= result["target"]["test_acc"] <= 1
        if choice in STAGES:
            assert result["stages"] == STAGES[choice]
    assert len(results["densenet_bc_layers"]["stages"]) == 51


def test_yosinski_nets_fine_tune_on_digits_resized_to_32(cli):
    """The 8-layer nets need bigger images: data.image_size=32 resizes the digits."""
    choices = ["alexnet_yosinski", "alexnet_yosinski32"]
    results = sweep_results(
        cli,
        [
            f"backbone={','.join(choices)}",
            "data.image_size=32",
            "transfer.treatment=transfer",
            "transfer.depth=5",
            "transfer.freeze=false",
        ],
    )
    sources = results.pop("sources")
    assert set(results) == set(choices) and len(sources) == len(choices)
    for choice, result in results.items():
        assert result["status"] == "ok", (choice, result.get("reason"))
        assert result["label"] == "A5B+" and result["stages"] == STAGES[choice]
        assert result["config"]["data"]["image_size"] == 32


def test_list_shows_every_backbone_with_its_stages(capsys, monkeypatch):
    from transfer_lab.cli.listing import backbone_configs, main

    monkeypatch.setenv("COLUMNS", "220")
    assert main(["backbones"]) == 0
    shown = capsys.readouterr().out
    for choice in backbone_configs():
        assert f" {choice} " in shown
    assert "conv1 conv2 conv3 conv4 conv5 fc6 fc7" in shown
    assert (
        "stem block1_layer01…16 trans1 block2_layer01…16 trans2 block3_layer01…16 (51 stages)"
        in shown
    )
    assert "36,472,784" in shown  # WRN-28-10 without its classifier
