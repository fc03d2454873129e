"""A pretrained source: weights from a file, torchvision or timm, checked against the backbone in
one sentence per mismatch, before any folder is made; cached under their hash."""

from __future__ import annotations

import os
import urllib.error
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from transfer_lab.errors import UserError
from transfer_lab.models import create_backbone
from transfer_lab.models.pretrained import _load, load_pretrained, pretrained_kind
from transfer_lab.store.keys import weights_sha256


def needs_timm():
    """timm, or a skip where it is not installed; never a skip under CI=true (.ci/run installs
    `.[dev,timm]`, so a missing timm there fails the run)."""
    if os.environ.get("CI", "").lower() == "true":
        import timm

        return timm
    return pytest.importorskip("timm")


@pytest.fixture(autouse=True)
def fresh_loads():
    _load.cache_clear()  # memoised per process; each test writes its own files
    yield
    _load.cache_clear()


def config(backbone: dict, **source) -> OmegaConf:
    return OmegaConf.create(
        {"backbone": backbone, "source": {"pretrained": None, "weights": None, **source}}
    )


LENET = {"name": "lenet", "channels": [4, 8], "hidden": [16, 8], "dropout": 0.0, "batch_norm": True}


def lenet_state(channels: int = 1) -> dict[str, torch.Tensor]:
    return create_backbone(
        "lenet", channels, 8, **{k: v for k, v in LENET.items() if k != "name"}
    ).state_dict()


def test_weights_alone_mean_a_file_and_unknown_kinds_are_refused():
    assert pretrained_kind(OmegaConf.create({"weights": "a.pt"})) == "file"
    assert pretrained_kind(OmegaConf.create({"weights": None, "pretrained": None})) is None
    with pytest.raises(UserError, match="source.pretrained='hub' is not known"):
        pretrained_kind(OmegaConf.create({"pretrained": "hub"}))


def test_a_plain_state_dict_loads_as_the_backbone_saved_it(tmp_path):
    state = lenet_state()
    torch.save(state, tmp_path / "model.pt")
    loaded = load_pretrained(config(LENET, weights=str(tmp_path / "model.pt")), 1, 8)
    assert loaded.head is None and set(loaded.state) == set(state)
    assert all(torch.equal(loaded.state[k], v) for k, v in state.items())
    assert loaded.origin == f"file {(tmp_path / 'model.pt').resolve()}"


def test_a_lightning_checkpoint_gives_the_backbone_and_its_classifier(tmp_path):
    state = {f"backbone.{k}": v for k, v in lenet_state().items()}
    state.update({"classifier.weight": torch.ones(5, 8), "classifier.bias": torch.zeros(5)})
    state["binary_heads.0.weight"] = torch.ones(2, 8)  # the module's, not the backbone's: left
    torch.save({"state_dict": state, "epoch": 3, "global_step": 10}, tmp_path / "last.ckpt")
    loaded = load_pretrained(config(LENET, weights=str(tmp_path / "last.ckpt")), 1, 8)
    assert set(loaded.state) == set(lenet_state())
    assert loaded.head is not None and loaded.head["weight"].shape == (5, 8)


def sentences(error: pytest.ExceptionInfo) -> list[str]:
    lines = str(error.value).splitlines()
    assert all(line.endswith(".") for line in lines)
    return lines


def test_each_kind_of_mismatch_is_one_sentence(tmp_path):
    state = lenet_state(channels=3)  # built for 3 channels: the first conv's shape differs
    missing = sorted(state)[-1]  # not the first conv, whose shape is wrong
    del state[missing]
    state["extra.weight"] = torch.zeros(2)
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(UserError) as error:
        load_pretrained(config(LENET, weights=str(tmp_path / "bad.pt")), 1, 8)
    lack, extra, shape = sentences(error)
    assert "lacks 1 of the LeNet backbone's" in lack and missing in lack
    assert "has 1 weights the LeNet backbone has no place for (e.g. extra.weight)" in extra
    assert "stages.conv1.0.weight is (4, 3, 5, 5) where the backbone needs (4, 1, 5, 5)" in shape


def test_a_missing_or_unreadable_file_is_one_sentence(tmp_path):
    with pytest.raises(UserError, match=r"source.weights=.*nothing.pt is not a file"):
        load_pretrained(config(LENET, weights=str(tmp_path / "nothing.pt")), 1, 8)
    (tmp_path / "text.pt").write_text("not weights")
    with pytest.raises(UserError, match="cannot be read as weights"):
        load_pretrained(config(LENET, weights=str(tmp_path / "text.pt")), 1, 8)
    torch.save([torch.zeros(1)], tmp_path / "list.pt")
    with pytest.raises(UserError, match="holds no state_dict"):
        load_pretrained(config(LENET, weights=str(tmp_path / "list.pt")), 1, 8)


def test_the_weights_hash_follows_the_values_not_the_object():
    state = lenet_state()
    same = {k: v.clone() for k, v in state.items()}
    assert weights_sha256(state) == weights_sha256(same)
    same[sorted(same)[0]] = same[sorted(same)[0]] + 1
    assert weights_sha256(state) != weights_sha256(same)


def torchvision_cache(tmp_path, monkeypatch) -> Path:
    """An empty torch hub cache of our own (TORCH_HOME), and no network: a download fails."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network in this test")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    return tmp_path / "torch" / "hub" / "checkpoints"


def test_torchvision_weights_come_from_its_cache_in_the_backbones_keys(tmp_path, monkeypatch):
    from torchvision import models

    folder = torchvision_cache(tmp_path, monkeypatch)
    folder.mkdir(parents=True)
    native = models.resnet18(weights=None).state_dict()
    torch.save(native, folder / "resnet18-f37072fd.pth")  # IMAGENET1K_V1's file name
    loaded = load_pretrained(
        config({"name": "resnet18"}, pretrained="torchvision", weights="IMAGENET1K_V1"), 3, 32
    )
    assert torch.equal(loaded.state["stages.stem.conv1.weight"], native["conv1.weight"])
    assert torch.equal(
        loaded.state["stages.layer4.blocks.1.bn2.running_var"], native["layer4.1.bn2.running_var"]
    )
    assert loaded.head["weight"].shape == (1000, 512)  # ImageNet's classifier, for LEEP and NCE
    assert loaded.origin == "torchvision resnet18 IMAGENET1K_V1"


def test_torchvision_weights_missing_offline_name_the_file_and_the_folder(tmp_path, monkeypatch):
    folder = torchvision_cache(tmp_path, monkeypatch)
    cfg = config({"name": "resnet18"}, pretrained="torchvision", weights="IMAGENET1K_V1")
    with pytest.raises(UserError) as error:
        load_pretrained(cfg, 3, 32)
    (sentence,) = sentences(error)
    assert (
        f"put resnet18-f37072fd.pth (from https://download.pytorch.org/models/resnet18-f37072fd.pth) in {folder}"
        in sentence
    )


def test_torchvision_refuses_unknown_weights_other_backbones_and_grey_images():
    with pytest.raises(
        UserError,
        match="no weights 'IMAGENET9K' for resnet18; set source.weights to one of IMAGENET1K_V1",
    ):
        load_pretrained(
            config({"name": "resnet18"}, pretrained="torchvision", weights="IMAGENET9K"), 3, 32
        )
    with pytest.raises(UserError, match="not lenet"):
        load_pretrained(config(LENET, pretrained="torchvision", weights="IMAGENET1K_V1"), 1, 8)
    with pytest.raises(UserError, match="take 3-channel images but these have 1"):
        load_pretrained(
            config({"name": "resnet18"}, pretrained="torchvision", weights="IMAGENET1K_V1"), 1, 32
        )


def test_timm_weights_come_through_timms_own_loading(tmp_path, monkeypatch):
    """timm's loader asks the Hugging Face hub for the file: here it finds one we wrote."""
    timm = needs_timm()
    import safetensors.torch
    import timm.models._hub as hub

    native = timm.create_model("resnet18").state_dict()
    safetensors.torch.save_file(native, tmp_path / "model.safetensors")
    monkeypatch.setattr(hub, "hf_hub_download", lambda *a, **k: str(tmp_path / "model.safetensors"))
    loaded = load_pretrained(
        config({"name": "timm", "model_name": "resnet18"}, pretrained="timm"), 3, 32
    )
    assert torch.equal(loaded.state["stages.act1.conv1.weight"], native["conv1.weight"])
    assert torch.equal(
        loaded.state["stages.layer3.layer3.1.conv2.weight"], native["layer3.1.conv2.weight"]
    )
    assert loaded.origin == "timm resnet18"


def test_timm_weights_missing_offline_are_one_sentence(monkeypatch):
    needs_timm()
    import timm.models._hub as hub
    from huggingface_hub.errors import LocalEntryNotFoundError

    def offline(*args, **kwargs):
        raise LocalEntryNotFoundError("no network in this test")

    monkeypatch.setattr(hub, "hf_hub_download", offline)
    with pytest.raises(UserError) as error:
        load_pretrained(
            config({"name": "timm", "model_name": "resnet18"}, pretrained="timm"), 3, 32
        )
    (sentence,) = sentences(error)
    assert "timm's pretrained weights for resnet18 are not in the cache" in sentence
    assert "models--timm--resnet18.a1_in1k" in sentence
    with pytest.raises(UserError, match="are not weights of backbone.model_name=resnet18"):
        load_pretrained(
            config(
                {"name": "timm", "model_name": "resnet18"},
                pretrained="timm",
                weights="resnet50.a1_in1k",
            ),
            3,
            32,
        )


DIGITS_JOB = [
    "transfer.arm=A2B",
    "target.epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.enable_progress_bar=false",
]


def test_mismatched_weights_are_refused_before_any_folder_is_made(cli, tmp_path):
    torch.save(create_backbone("lenet", 3, 8).state_dict(), tmp_path / "rgb.pt")
    done = cli(
        [f"source.weights={tmp_path / 'rgb.pt'}", "hydra.run.dir=out", *DIGITS_JOB], check=False
    )
    assert done.returncode == 2 and "does not fit the LeNet backbone" in done.stderr + done.stdout
    assert "Traceback" not in done.stderr and not (tmp_path / "out").exists()
    assert not (tmp_path / "cache").exists()
    done = cli(
        [f"source.weights={tmp_path / 'none.pt'}", "hydra.run.dir=out", *DIGITS_JOB], check=False
    )
    assert done.returncode == 2 and "is not a file" in done.stderr + done.stdout
    assert not (tmp_path / "out").exists()


def test_a_file_source_is_taken_not_trained_cached_by_hash_and_named(cli, tmp_path):
    import json

    torch.save(create_backbone("lenet", 1, 8).state_dict(), tmp_path / "model.pt")
    cli(
        [
            f"source.weights={tmp_path / 'model.pt'}",
            "hydra.run.dir=one",
            "measures.enabled=true",
            *DIGITS_JOB,
        ]
    )
    first = json.loads((tmp_path / "one" / "results.json").read_text())
    assert first["status"] == "ok" and first["source"]["trained"] is False
    assert first["source"]["origin"] == f"file {(tmp_path / 'model.pt').resolve()}"
    assert first["source"]["epochs"] is None and set(first["source"]["measures"]) >= {
        "knn",
        "probe",
    }
    cli([f"source.weights={tmp_path / 'model.pt'}", "hydra.run.dir=two", "seed=1", *DIGITS_JOB])
    second = json.loads((tmp_path / "two" / "results.json").read_text())
    assert second["source"]["cache_key"] == first["source"]["cache_key"]  # the same weights
    other = create_backbone("lenet", 1, 8).state_dict()
    torch.save(other, tmp_path / "model.pt")  # same path, new weights: a new key
    cli([f"source.weights={tmp_path / 'model.pt'}", "hydra.run.dir=three", *DIGITS_JOB])
    third = json.loads((tmp_path / "three" / "results.json").read_text())
    assert third["source"]["cache_key"] != first["source"]["cache_key"]


@pytest.mark.slow
def test_a_sweep_from_a_weights_file_draws_the_layer_curve_and_scores_the_measures(cli, tmp_path):
    """A file source on digits, two split seeds: one source stored for every job, the layer
    figure, and the measures beside the depth-only baselines, with the source's origin."""
    torch.save(create_backbone("lenet", 1, 8).state_dict(), tmp_path / "model.pt")
    cli(
        [
            "sweep",
            f"source.weights={tmp_path / 'model.pt'}",
            "transfer.arm=baseB,A1B,A2B,A3B,A4B",
            "data.split_seed=0,1",
            "measures.enabled=true",
            "target.epochs=1",
            "trainer.limit_train_batches=2",
            "trainer.enable_progress_bar=false",
        ]
    )
    (sweep,) = (cli.cwd / "multirun").glob("*/*")
    text = (sweep / "summary.md").read_text()
    assert f"The source network: pretrained, file {(tmp_path / 'model.pt').resolve()}." in text
    assert "depth alone: deeper is better" in text and "5-NN readout accuracy" in text
    assert "**Which measures beat the depth-only baseline on this sweep**" in text
    assert (sweep / "figures" / "layers.png").exists()
    import json

    results = [json.loads(p.read_text()) for p in sweep.glob("[0-9]*/results.json")]
    copied = [r for r in results if r["label"].startswith("A")]
    assert len(copied) == 8 and all(r["status"] == "ok" for r in results)
    assert len({r["source"]["cache_key"] for r in copied}) == 1  # one source for both splits
    assert not any(r["source"]["trained"] for r in copied)


def test_images_served_otherwise_than_the_weights_were_trained_on_are_named(caplog):
    from types import SimpleNamespace

    from transfer_lab.job.source import warn_if_served_otherwise

    cfg = config({"name": "resnet18"}, pretrained="torchvision", weights="IMAGENET1K_V1")
    images = SimpleNamespace(
        shape=(3, 32, 32), settings=SimpleNamespace(mean=[0.5] * 3, std=[0.2] * 3)
    )
    with caplog.at_level("WARNING"):
        warn_if_served_otherwise(cfg, images)
    assert "set data.image_size=224 data.mean=[0.485, 0.456, 0.406]" in caplog.text
    caplog.clear()
    served = SimpleNamespace(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
    warn_if_served_otherwise(cfg, SimpleNamespace(shape=(3, 224, 224), settings=served))
    assert caplog.text == ""


def test_an_image_folder_at_its_defaults_is_served_as_the_weights_were_trained(tmp_path):
    """torchvision's ImageNet weights say 224×224 and ImageNet's statistics: an image folder
    left at its defaults takes them (handed down in the config), a value given stays, and a
    file (which says nothing) keeps the reader's own defaults."""
    from tests import formats
    from tests.conftest import compose
    from transfer_lab.data.loading import load_images
    from transfer_lab.models.pretrained import serve_as_trained

    root = formats.write_png_tree(tmp_path, classes=3)
    tree = ["data=image_folder", f"data.root={root}", "data.source_classes=0"]
    imagenet = [
        "backbone=resnet18",
        "source.pretrained=torchvision",
        "source.weights=IMAGENET1K_V1",
    ]
    cfg = compose([*tree, *imagenet])
    serve_as_trained(cfg)
    assert cfg.data.image_size == 224 and cfg.data.reader.crop_size == 224
    assert list(cfg.data.mean) == pytest.approx([0.485, 0.456, 0.406])
    assert list(cfg.data.std) == pytest.approx([0.229, 0.224, 0.225])
    images = load_images(cfg.data)
    assert images.shape == (3, 224, 224) and images.settings.mean == pytest.approx(cfg.data.mean)
    given = compose([*tree, *imagenet, "data.image_size=64"])
    serve_as_trained(given)
    assert given.data.image_size == 64 and given.data.mean is not None
    own = compose([*tree, "backbone=lenet", "source.weights=model.pt"])
    serve_as_trained(own)
    assert own.data.image_size is None and own.data.mean is None and own.data.std is None
