"""A dataset is one registered file: registration alone gives it the pre-flight's missing-files
sentence, its class-count check, the read-once cache, and a source key that knows its bytes."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from tests import formats
from tests.conftest import compose
from transfer_lab.data.datasets.registry import (
    MissingFiles,
    dataset_for,
    register_dataset,
    registered,
    require,
)
from transfer_lab.data.files import data_problems

TOY_FILES = ["toy-train.bin", "toy-test.bin"]


def locate_toy(root: str, **_) -> list[Path]:
    return require("Toy", Path(root), TOY_FILES, "put toy-train.bin and toy-test.bin in a folder")


@register_dataset("Toy", locate=locate_toy, classes=4, smallest_class=2)
def load_toy(root: str, download: bool = False, image_size: int | None = None):
    """A dataset a user adds: its reader and what it reads, registered in its own file."""
    raise AssertionError("the checks before a run never read")


def toy_config(root: Path, *overrides: str):
    return compose(
        [
            "data=digits",
            f"data.reader._target_={__name__}.load_toy",
            f"data.root={root}",
            *overrides,
        ]
    )


def test_a_dataset_registered_by_a_test_gets_the_preflight_missing_files_sentence(tmp_path):
    """The worked example of docs/architecture.md's "Where to add": a reader registered in a
    test module, named by a config, is looked for before a run, without being read."""
    assert dataset_for(f"{__name__}.load_toy").title == "Toy"
    (tmp_path / TOY_FILES[0]).write_bytes(b"")
    found = data_problems(
        [toy_config(tmp_path, "data.source_classes=2", "data.target_classes=null")]
    )
    assert found == [
        f"Toy is missing toy-test.bin under {tmp_path}; put toy-train.bin and toy-test.bin in "
        f"a folder and point data.root at it (data.root=PATH), or let torchvision fetch it "
        f"with data.download=true."
    ]
    (tmp_path / TOY_FILES[1]).write_bytes(b"")
    assert (
        data_problems([toy_config(tmp_path, "data.source_classes=2", "data.target_classes=null")])
        == []
    )


def test_its_class_counts_are_checked_against_the_registration(tmp_path):
    for name in TOY_FILES:
        (tmp_path / name).write_bytes(b"")
    found = data_problems([toy_config(tmp_path, "data.source_classes=3", "data.target_classes=2")])
    assert found == [
        "data.source_classes=3 and data.target_classes=2 ask for 5 classes but digits has 4; "
        "make them add up to at most 4."
    ]
    assert (
        data_problems([toy_config(tmp_path, "data.source_classes=0", "data.target_classes=null")])
        == []
    )  # all to B


def test_every_data_config_names_a_registered_reader_whose_facts_its_yaml_repeats():
    """The YAML's num_classes and smallest_class (read by the torch-free config checks) agree
    with the dataset's registration."""
    from transfer_lab.config.paths import config_dir

    for path in sorted((config_dir() / "data").glob("*.yaml")):
        data = compose([f"data={path.stem}"]).data
        dataset = dataset_for(data.reader._target_)
        assert dataset is not None, path.name
        if dataset.survey is None or dataset.classes is not None:
            assert data.num_classes == dataset.classes, path.name
            assert data.get("smallest_class") in (None, dataset.smallest_class), path.name
    assert len(registered()) >= 7


def test_the_registry_and_every_dataset_file_import_no_torch():
    import subprocess
    import sys

    code = (
        "import sys, transfer_lab.data.files; from transfer_lab.data.datasets import "
        "cifar10, cifar100, digits, fashion_mnist, image_folder, mnist, svhn; "
        "print(sorted(m for m in ('torch', 'torchvision') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_files_that_are_not_there_are_missing_files_and_a_folder_is_not_a_file(tmp_path):
    (tmp_path / TOY_FILES[0]).mkdir()
    with pytest.raises(MissingFiles) as caught:
        locate_toy(str(tmp_path))
    assert caught.value.missing == TOY_FILES


# ---------------------------------------------------------------- what was read (issue 30)


def fashion_data(root: Path, **extra):
    return OmegaConf.create(
        {
            "reader": {
                "_target_": "transfer_lab.data.datasets.fashion_mnist.load_fashion_mnist",
                "system_root": None,
            },
            "root": str(root),
            "download": False,
            "check_md5": False,
            "batch_size": 8,
            "eval_batch_size": 8,
            **extra,
        }
    )


def two_copies(folder: Path) -> tuple[Path, Path]:
    """Two tiny Fashion-MNIST copies alike but for the training pixels (all zero in the second)."""
    real, other = folder / "real", folder / "other"
    formats.write_idx_dataset(real, "FashionMNIST", seed=0)
    formats.write_idx_dataset(other, "FashionMNIST", seed=0)
    images = other / "FashionMNIST" / "raw" / "train-images-idx3-ubyte"
    content = bytearray(images.read_bytes())
    content[16:] = bytes(len(content) - 16)  # same labels and sizes
    images.write_bytes(bytes(content))
    return real, other


def test_a_copy_with_other_pixels_gets_another_source_key(tmp_path, monkeypatch):
    """A Fashion-MNIST copy with other pixels (data.check_md5=false) must not reuse the source
    trained on the real images: the key holds the bytes read."""
    from transfer_lab.data import loading
    from transfer_lab.data.tasks import build_job_data
    from transfer_lab.store.keys import source_definition

    monkeypatch.setattr(loading, "_READ", {})
    real, other = two_copies(tmp_path)

    def key(root: Path) -> dict:
        cfg = compose(
            [
                "data=fashion_mnist",
                f"data.root={root}",
                "data.check_md5=false",
                "data.reader.system_root=null",
            ]
        )
        job = build_job_data(cfg)
        return source_definition(cfg, job.source_images, job.task_a), job

    (first, job), (second, _) = key(real), key(other)
    assert first["data_sha256"] != second["data_sha256"]
    assert {k: v for k, v in first.items() if k != "data_sha256"} == {
        k: v for k, v in second.items() if k != "data_sha256"
    }
    assert key(real)[0] == first  # the same files: the same key (read once, from the cache)
    assert [f.split(" (")[0] for f in job.files] == [
        str(real / "FashionMNIST" / "raw" / n) for n in formats_idx_names()
    ]


def formats_idx_names() -> list[str]:
    from transfer_lab.data.datasets.idx import IDX_FILES

    return list(IDX_FILES)


def test_the_files_read_go_to_the_log(tmp_path, monkeypatch, caplog):
    from transfer_lab.data import loading

    monkeypatch.setattr(loading, "_READ", {})
    formats.write_idx_dataset(tmp_path, "FashionMNIST", compress=True)
    with caplog.at_level(logging.INFO, logger="transfer_lab.data.loading"):
        images = loading.load_images(fashion_data(tmp_path))
        loading.load_images(fashion_data(tmp_path))  # a job of the same process: logged again
    lines = [r.getMessage() for r in caplog.records if "read" in r.getMessage()]
    assert len(lines) == 2 and "train-images-idx3-ubyte.gz (" in lines[1]
    assert images.files[0].endswith("bytes)")


def test_a_damaged_copy_is_refused_before_a_run_from_its_headers(tmp_path):
    import time

    formats.write_idx_dataset(tmp_path, "FashionMNIST")
    labels = tmp_path / "FashionMNIST" / "raw" / "t10k-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes()[:-3])
    cfg = compose(["data=fashion_mnist", f"data.root={tmp_path}", "data.reader.system_root=null"])
    started = time.perf_counter()
    found = data_problems([cfg])
    assert len(found) == 1 and str(labels) in found[0] and "truncated" in found[0]
    assert time.perf_counter() - started < 2


@pytest.mark.slow  # two tiny jobs that each train a source
def test_a_run_on_a_copy_with_other_pixels_trains_its_own_source_and_names_its_files(cli):
    """The whole way (issue 30): the source trained on one copy is not reused for a copy whose
    training images differ, and each job's results.json and job.log name the files it read."""
    import json

    from tests.conftest import TINY

    real, other = two_copies(cli.cwd)

    def run(root: Path, folder: str) -> dict:
        cli(
            ["data=fashion_mnist", f"data.root={root}", "data.check_md5=false"]
            + ["data.reader.system_root=null", "transfer.arm=A1B", "trainer.limit_train_batches=2"]
            + [*TINY, f"hydra.run.dir={folder}"]
        )
        log = (cli.cwd / folder / "job.log").read_text()
        assert str(root / "FashionMNIST" / "raw" / "train-images-idx3-ubyte") in log
        return json.loads((cli.cwd / folder / "results.json").read_text())

    first, second = run(real, "first"), run(other, "second")
    assert first["source"]["trained"] and second["source"]["trained"]  # not reused
    assert first["source"]["cache_key"] != second["source"]["cache_key"]
    assert any(str(other) in f for f in second["data_files"])
    assert not any(str(real) in f for f in second["data_files"])
