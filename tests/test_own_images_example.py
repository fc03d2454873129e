"""The README's worked example of "Your network, your data", cut to about a minute on one
thread: a LeNet source trained by fashion_fraction_cpu's recipe on Fashion-MNIST's A half (one
epoch of 5 batches here), saved as a plain state_dict; B's classes exported as a folder of PNGs;
then the layer sweep from that file on that folder, with the measures beside the curve."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import pytest

from transfer_lab.data.datasets.fashion_mnist import DEBIAN_FOLDER, find_copy
from transfer_lab.data.datasets.registry import MissingFiles

pytestmark = [pytest.mark.slow, pytest.mark.real_data]
EXAMPLE = Path(__file__).parents[1] / "examples" / "own_images.py"


def example_steps():
    spec = importlib.util.spec_from_file_location("own_images", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_weights_file_and_a_png_folder_give_the_layer_curve_and_the_measures(cli, tmp_path):
    try:
        fashion = find_copy(DEBIAN_FOLDER, DEBIAN_FOLDER)[0].parent
    except MissingFiles:
        pytest.skip("the real Fashion-MNIST is not installed here: run `make fashion-data`")
    fast = ["trainer.enable_progress_bar=false", "trainer.limit_train_batches=5"]
    cli(
        [
            "+experiment=fashion_fraction_cpu",
            f"data.root={fashion}",
            "only_source=true",
            "transfer.arm=A4B+",
            "data.fraction=0.05",
            "data.split_seed=0",
            "source.epochs=1",
            *fast,
            "hydra.run.dir=source",
        ]
    )
    steps = example_steps()
    steps.main(["weights", str(tmp_path / "source"), str(tmp_path / "model.pt")])
    a_classes = json.loads((tmp_path / "source" / "results.json").read_text())["source_classes"]
    steps.main(["export", str(fashion), "source", "my_images", "--train", "30", "--test", "10"])
    classes = sorted(p.name for p in (tmp_path / "my_images" / "train").iterdir())
    assert len(classes) == 5 and "Trouser" not in classes  # class 1 is A's at split seed 0
    assert 1 in a_classes
    arms = ["baseB", "A1B", "A2B", "A3B", "A4B"]
    cli(
        [
            "backbone=lenet",
            "source.weights=model.pt",
            "data=image_folder",
            "data.root=my_images",
            "data.source_classes=0",
            "data.num_workers=0",
            "measures.enabled=true",
            f"transfer.arm={','.join(arms)}",
            "target.epochs=2",
            *fast,
            "hydra.sweep.dir=sweep",
            "sweep",
        ]
    )
    sweep = tmp_path / "sweep"
    results = [json.loads(p.read_text()) for p in sweep.glob("*/results.json")]
    assert sorted(r["label"] for r in results) == sorted(arms)
    assert all(r["status"] == "ok" and r["dataset"] == "image_folder" for r in results)
    copied = [r for r in results if r["label"] != "baseB"]
    assert all(r["source"]["trained"] is False for r in copied)
    assert all(r["source"]["origin"] == f"file {tmp_path / 'model.pt'}" for r in copied)
    assert {len(r["target_classes"]) for r in results} == {5}
    assert (sweep / "figures" / "layers.png").stat().st_size > 0
    with open(sweep / "measures.csv") as handle:
        assert [row["stage"] for row in csv.DictReader(handle)] == ["conv1", "conv2", "fc1", "fc2"]
    with open(sweep / "agreement.csv") as handle:
        measures = {row["measure"] for row in csv.DictReader(handle) if row["curve"] == "AnB"}
    assert {"knn", "depth_deeper", "depth_shallower"} <= measures
    assert "beat the depth-only baseline" in (sweep / "summary.md").read_text()
