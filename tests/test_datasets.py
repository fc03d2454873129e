"""Every data config on tiny files in its real on-disk format, read by torchvision's readers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from tests import formats
from tests.conftest import TINY, compose, source_jobs
from transfer_lab.data.datasets.cifar10 import load_cifar10
from transfer_lab.data.datasets.cifar100 import load_cifar100
from transfer_lab.data.datasets.fashion_mnist import load_fashion_mnist
from transfer_lab.data.datasets.mnist import load_mnist
from transfer_lab.data.datasets.svhn import load_svhn
from transfer_lab.data.loading import datamodule_for
from transfer_lab.data.tasks import SUPERCLASS_GROUPS, build_job_data
from transfer_lab.errors import UserError

IN_MEMORY = ["cifar10", "cifar100", "svhn", "mnist", "fashion_mnist"]


def job_config(data_root: Path, name: str, *overrides: str):
    md5 = [] if name == "digits" else ["++data.check_md5=false"]  # tiny files have other sums
    if name == "fashion_mnist":  # the tiny files only, never Debian's real copy
        md5.append("data.reader.system_root=null")
    cfg = compose([f"data={name}", f"paths.data_dir={data_root}", *md5, *overrides])
    cfg.paths.root_dir = str(data_root)  # hydra's runtime.cwd does not exist outside a run
    return cfg


def folder_overrides() -> list[str]:
    return [
        "data.source_classes=3",
        "data.target_classes=3",
        "data.num_workers=0",
        "data.reader.crop_size=32",
        "data.reader.resize_size=36",
    ]


# ------------------------------------------------------------------ readers


def test_readers_return_the_files_contents(data_root):
    cifar = load_cifar10(str(data_root), check_md5=False)
    assert cifar.train_images.shape == (100, 3, 32, 32) and cifar.train_images.dtype == torch.uint8
    assert cifar.test_images.shape == (40, 3, 32, 32)
    assert np.bincount(cifar.train_labels.numpy()).tolist() == [10] * 10
    assert cifar.class_names[0] == "airplane"
    # pixel (channel, row, col) of image 0 is byte channel*1024 + row*32 + col of its row
    with open(data_root / "cifar-10-batches-py" / "data_batch_1", "rb") as handle:
        import pickle

        first = pickle.load(handle, encoding="latin1")["data"][0]
    assert cifar.train_images[0, 2, 3, 5] == first[2 * 1024 + 3 * 32 + 5]

    svhn = load_svhn(str(data_root / "svhn"), check_md5=False)
    assert svhn.train_images.shape == (100, 3, 32, 32)
    assert sorted(set(svhn.train_labels.tolist())) == list(range(10))  # '10' read as digit 0

    mnist = load_mnist(str(data_root))
    assert mnist.train_images.shape == (100, 1, 28, 28) and mnist.num_classes == 10
    assert (data_root / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file()  # torchvision's
    fashion = load_fashion_mnist(str(data_root), check_md5=False, system_root=None)
    assert fashion.train_images.shape == (100, 1, 28, 28) and fashion.num_classes == 10
    assert fashion.class_names[9] == "Ankle boot"
    assert not (
        data_root / "FashionMNIST" / "raw" / "train-images-idx3-ubyte"
    ).exists()  # .gz read as is


def test_cifar100_keeps_each_fine_class_superclass(data_root):
    images = load_cifar100(str(data_root), check_md5=False)
    assert images.num_classes == 100 and images.superclass_names == formats.CIFAR100_SUPERCLASSES
    assert images.superclass_of.tolist() == formats.cifar100_superclass_of(0).tolist()


def test_checksums_are_checked_unless_turned_off(data_root):
    with pytest.raises(UserError, match=r"MD5 sums.*data.check_md5=false"):
        load_cifar10(str(data_root))
    with pytest.raises(UserError, match=r"MD5 sums"):
        load_svhn(str(data_root / "svhn"))


def test_missing_files_give_one_sentence_and_write_nothing(tmp_path, data_root):
    nowhere = tmp_path / "nowhere"
    for name in [*IN_MEMORY, "imagenet100"]:
        cfg = job_config(data_root, name, f"data.root={nowhere}")
        with pytest.raises(UserError) as caught:
            build_job_data(cfg)
        message = str(caught.value)
        assert str(nowhere) in message and "data.root=PATH" in message, message
        assert message.count(". ") == 0 and message.endswith("."), message  # one sentence
        assert ("data.download=true" in message) == (name != "imagenet100"), message
    assert not nowhere.exists()
    cfg = job_config(data_root, "cifar10", f"data.root={nowhere}")
    with pytest.raises(
        UserError,
        match=r"missing data_batch_1, data_batch_2, data_batch_3, data_batch_4 and 3 more",
    ):
        build_job_data(cfg)
    cfg = job_config(data_root, "cifar100_to_svhn", f"data.target.root={nowhere}")
    with pytest.raises(
        UserError,
        match=r"SVHN is missing train_32x32.mat, test_32x32.mat .*data\.target\.root=PATH",
    ):
        build_job_data(cfg)


# ------------------------------------------------------------------ splits


@pytest.mark.parametrize("name", [*IN_MEMORY, "imagenet100", "digits"])
def test_every_dataset_splits_with_validation_and_the_task_test_set(data_root, name):
    extra = folder_overrides() if name == "imagenet100" else []
    job = build_job_data(job_config(data_root, name, "model.binary_heads=2", *extra))
    images = job.source_images
    train_labels, test_labels = images.train_labels.numpy(), images.test_labels.numpy()
    assert set(job.split.source).isdisjoint(job.split.target)
    for task in (job.task_a, job.task_b):
        assert set(task.train).isdisjoint(task.val)
        assert set(train_labels[task.val]) == set(task.classes)  # stratified: every class
        assert set(train_labels[task.train]) == set(task.classes)
        assert task.test.tolist() == np.flatnonzero(np.isin(test_labels, task.classes)).tolist()
    assert job.task_a.binary.shape == (2, len(job.split.source))
    assert job.task_b.binary.shape[0] == 0


def test_random_halves_of_any_size_and_explicit_lists(data_root):
    job = build_job_data(
        job_config(data_root, "cifar100", "data.source_classes=65", "data.target_classes=35")
    )
    assert len(job.split.source) == 65 and len(job.split.target) == 35
    assert set(job.split.source) | set(job.split.target) == set(range(100))
    other = build_job_data(
        job_config(
            data_root,
            "cifar100",
            "data.source_classes=65",
            "data.target_classes=35",
            "data.split_seed=1",
        )
    )
    assert other.split.source != job.split.source
    job = build_job_data(
        job_config(data_root, "cifar10", "data.source_classes=[0,3,4]", "data.target_classes=[9,1]")
    )
    assert job.split.source == (0, 3, 4) and job.split.target == (1, 9)
    labels = job.source_images.train_labels.numpy()
    assert set(labels[job.task_b.train]) == {1, 9}


def test_superclass_split_maps_fine_labels_through_the_coarse_labels(data_root):
    job = build_job_data(job_config(data_root, "cifar100", "data.split=superclasses"))
    natural = {formats.CIFAR100_SUPERCLASSES.index(n) for n in SUPERCLASS_GROUPS["natural"]}
    man_made = {formats.CIFAR100_SUPERCLASSES.index(n) for n in SUPERCLASS_GROUPS["man_made"]}
    assert len(natural) == 14 and len(man_made) == 6 and not natural & man_made
    assert len(job.split.source) == 70 and len(job.split.target) == 30
    # the coarse label of every image, read straight from the pickle, says which side it is on
    import pickle

    with open(data_root / "cifar-100-python" / "train", "rb") as handle:
        entry = pickle.load(handle, encoding="latin1")
    fine, coarse = np.asarray(entry["fine_labels"]), np.asarray(entry["coarse_labels"])
    assert set(coarse[job.task_a.train]) <= natural and set(coarse[job.task_b.train]) <= man_made
    assert set(coarse[np.isin(fine, job.split.source)]) == natural
    assert set(coarse[np.isin(fine, job.split.target)]) == man_made
    listed = build_job_data(
        job_config(
            data_root,
            "cifar100",
            "data.split=superclasses",
            "data.source_superclasses=[fish,trees]",
            "data.target_superclasses=[vehicles_1]",
        )
    )
    assert len(listed.split.source) == 10 and len(listed.split.target) == 5
    with pytest.raises(UserError, match="not a superclass"):
        build_job_data(
            job_config(
                data_root,
                "cifar100",
                "data.split=superclasses",
                "data.source_superclasses=[dinosaurs]",
            )
        )
    with pytest.raises(UserError, match="needs a dataset with superclasses"):
        build_job_data(job_config(data_root, "cifar10", "++data.split=superclasses"))


def test_binary_partitions_from_superclasses_keep_superclasses_whole(data_root):
    job = build_job_data(
        job_config(data_root, "cifar100", "data.binary=superclasses", "model.binary_heads=4")
    )
    groups = job.source_images.superclass_of[list(job.split.source)]
    assert job.task_a.binary.shape == (4, 50)
    rows = {tuple(r) for r in job.task_a.binary}
    assert len(rows) == 4
    for row in job.task_a.binary:
        for g in set(groups):  # one superclass, one side
            assert len(set(row[groups == g])) == 1
        assert len(set(groups[row == 1])) == len(set(groups)) // 2  # half of the superclasses
    random = build_job_data(job_config(data_root, "cifar100", "model.binary_heads=4"))
    assert random.task_a.binary.sum(axis=1).tolist() == [25] * 4


@pytest.mark.parametrize("name", IN_MEMORY)
def test_budgets_are_stratified_and_nested(data_root, name):
    cfg = job_config(data_root, name)

    def train(fraction=1.0, per_class=None):
        cfg.data.fraction, cfg.data.per_class = fraction, per_class
        job = build_job_data(cfg)
        labels = job.target_images.train_labels.numpy()[job.task_b.train]
        return set(job.task_b.train.tolist()), np.bincount(labels)[list(job.split.target)]

    full, full_counts = train()
    previous = set()
    for fraction in ("0.2", "0.5", "1.0"):
        chosen, counts = train(fraction=float(fraction))
        assert previous <= chosen <= full
        assert counts.max() - counts.min() <= 1 or name == "cifar100"
        previous = chosen
    assert previous == full
    previous = set()
    for per_class in (1, 2, 3):
        chosen, counts = train(per_class=per_class)
        assert previous <= chosen and counts.tolist() == [per_class] * len(counts)
        previous = chosen


# ------------------------------------------------------------------ out of domain


def test_out_of_domain_target_is_the_whole_other_dataset(data_root):
    job = build_job_data(job_config(data_root, "cifar100_to_svhn"))
    assert job.out_of_domain and job.name == "cifar100→svhn"
    assert len(job.split.source) == 50 and job.split.target == tuple(range(10))
    assert job.task_b.test.tolist() == list(range(len(job.target_images.test_labels)))
    assert (
        job.source_images.settings.augment == "cifar"
        and job.target_images.settings.augment == "none"  # as CS6784 fed SVHN
    )
    job = build_job_data(job_config(data_root, "cifar100", "+data/target=cifar10"))
    assert job.target_images.name == "cifar10" and len(job.split.target) == 10
    with pytest.raises(UserError, match="same shape"):
        cfg = job_config(data_root, "mnist")
        OmegaConf.set_struct(cfg, False)
        cfg.data.target = OmegaConf.create(
            {
                "reader": {"_target_": "transfer_lab.data.datasets.svhn.load_svhn"},
                "root": str(data_root / "svhn"),
                "download": False,
            }
        )
        build_job_data(cfg)


def test_the_source_cache_key_covers_split_and_target_options(data_root):
    from transfer_lab.store.keys import source_definition

    def key(*overrides):
        cfg = job_config(data_root, "cifar100", *overrides)
        job = build_job_data(cfg)
        return json.dumps(source_definition(cfg, job.source_images, job.task_a), sort_keys=True)

    plain = key()
    assert plain != key("data.binary=superclasses")
    # A's network is the same whatever B is: out-of-domain targets share one source
    assert key("+data/target=cifar10") == key("+data/target=svhn")
    assert plain != key("data.split_seed=1")
    assert plain != key("data.augment=none")
    assert plain == key("data.fraction=0.5")  # B's budget does not change A's network


# ------------------------------------------------------------------ batches


def test_folder_data_goes_through_a_dataloader_with_imagenet_transforms(data_root):
    from transfer_lab.data.folder import FolderDataModule

    job = build_job_data(job_config(data_root, "imagenet100", *folder_overrides()))
    module = datamodule_for(job.target_images, job.task_b, seed=0)
    assert isinstance(module, FolderDataModule)
    images, labels = next(iter(module.train_dataloader()))
    assert images.shape == (len(labels), 3, 32, 32) and set(labels.tolist()) <= {0, 1, 2}
    images, _ = next(iter(module.test_dataloader()))
    assert images.shape[1:] == (3, 32, 32)


def positional_images(n: int, seed: int = 0) -> torch.Tensor:
    """Images whose channel 0 holds row+1 and channel 1 column+1 (noise in channel 2), so the
    crop offset and flip of any augmented copy can be read off its pixels."""
    ramp = torch.arange(1, 33, dtype=torch.uint8)
    images = torch.empty(n, 3, 32, 32, dtype=torch.uint8)
    images[:, 0] = ramp.view(32, 1)
    images[:, 1] = ramp.view(1, 32)
    images[:, 2] = torch.randint(0, 256, (n, 32, 32), generator=torch.Generator().manual_seed(seed))
    return images


def decode(pixels: torch.Tensor, padding: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(dy, dx, flip) of crops of `positional_images`, from the first non-padding row/column."""
    rows = pixels[:, 0].amax(dim=2).long()  # n×h: source row + 1, or 0 for a padding row
    cols = pixels[:, 1].amax(dim=1).long()  # n×w: source column + 1, or 0
    i0, j0 = (rows > 0).long().argmax(1), (cols > 0).long().argmax(1)
    at = torch.arange(len(pixels))
    v_row, v_col = rows[at, i0], cols[at, j0]
    flip = cols[at, j0 + 1] < v_col
    dy = v_row - 1 - i0 + padding
    dx = torch.where(flip, v_col - 1 - (31 - j0) + padding, v_col - 1 - j0 + padding)
    return dy, dx, flip


@pytest.mark.parametrize("name,padding,flip", [("cifar", 4, True), ("svhn", 4, False)])
def test_fast_augmentation_has_the_statistics_of_torchvision_transforms(name, padding, flip):
    """Same images, same recipe, both paths: the crop offsets and flips each drew, and the
    normalised batches' per-channel mean and std, agree in distribution."""
    from PIL import Image

    from transfer_lab.data.augment import DeviceAugment, torchvision_transform
    from transfer_lab.data.batches import DeviceBatches

    n = 4000
    images = positional_images(n)
    mean, std = [0.3, 0.4, 0.5], [0.2, 0.25, 0.3]
    fast = DeviceAugment(mean, std, name, seed=1)
    regular = torchvision_transform(mean, std, name, 32)
    torch.manual_seed(0)
    outputs = {
        "fast": torch.cat([x for x, _ in DeviceBatches(images, torch.zeros(n), 500, fast)]),
        "regular": torch.stack(
            [regular(Image.fromarray(img.permute(1, 2, 0).numpy())) for img in images]
        ),
    }
    m, s = torch.tensor(mean).view(1, -1, 1, 1), torch.tensor(std).view(1, -1, 1, 1)
    span = 2 * padding + 1
    for path, out in outputs.items():
        pixels = ((out * s + m) * 255).round().clamp(0, 255).to(torch.uint8)
        dy, dx, flips = decode(pixels, padding)
        # the decoded crop/flip reproduces every output exactly
        assert torch.equal(fast.crop_flip(images, dy, dx, flips), pixels), path
        flipped = flips.float().mean().item()
        shifted = ((dy != padding) | (dx != padding)).float().mean().item()
        assert abs(flipped - (0.5 if flip else 0.0)) < 0.03, (path, flipped)
        assert abs(shifted - (1 - 1 / span**2)) < 0.01, (path, shifted)
        for offsets in (dy, dx):
            share = torch.bincount(offsets, minlength=span).float() / n
            assert len(share) == span and (share - 1 / span).abs().max() < 0.025, (path, share)
    fast_out, regular_out = outputs["fast"], outputs["regular"]
    assert torch.allclose(fast_out.mean(dim=(0, 2, 3)), regular_out.mean(dim=(0, 2, 3)), atol=0.02)
    assert torch.allclose(fast_out.std(dim=(0, 2, 3)), regular_out.std(dim=(0, 2, 3)), atol=0.02)


def test_without_augmentation_both_paths_normalise_identically(data_root):
    from torchvision import transforms as T

    from transfer_lab.data.augment import DeviceAugment

    images = load_mnist(str(data_root))
    mean, std = images.channel_stats()
    x = images.train_images.float() / 255
    assert abs(x.mean().item() - mean[0]) < 1e-5 and abs(x.std().item() - std[0]) < 1e-5
    fast = DeviceAugment(mean, std, "none")(images.train_images[:8])
    regular = torch.stack(
        [
            T.Compose([T.ToTensor(), T.Normalize(mean, std)])(images.train_images[i, 0].numpy())
            for i in range(8)
        ]
    )
    assert torch.allclose(fast, regular, atol=1e-5)


# ------------------------------------------------------------------ end to end


@pytest.mark.slow
def test_every_data_config_trains_a_job_end_to_end(cli, data_root):
    names = [*IN_MEMORY, "cifar100_to_cifar10", "cifar100_to_svhn"]
    cli(
        [
            "sweep",
            f"data={','.join(names)}",
            f"paths.data_dir={data_root}",
            "++data.check_md5=false",
            "backbone=lenet",
            *TINY,
            "source.epochs=1",
            "target.epochs=1",
        ]
    )
    (sweep,) = list((cli.cwd / "multirun").glob("*/*"))
    results = {
        json.loads((job / "results.json").read_text())["config"]["data"]["name"]: json.loads(
            (job / "results.json").read_text()
        )
        for job in sweep.iterdir()
        if (job / "results.json").is_file()
    }
    assert sorted(results) == sorted(names)
    for name, result in results.items():
        assert result["status"] == "ok", (name, result.get("reason"))
        assert 0 <= result["target"]["test_acc"] <= 1
    # CIFAR-100's A is one network whatever B is: trained once, first, then found by all three
    family = [results[n]["source"] for n in ("cifar100", "cifar100_to_cifar10", "cifar100_to_svhn")]
    assert len({s["cache_key"] for s in family}) == 1
    trained = {s["source"]["cache_key"] for s in source_jobs(sweep) if s["source"]["trained"]}
    assert trained == {r["source"]["cache_key"] for r in results.values()}
    assert len(trained) == len(names) - 2
    for job in (j for j in sweep.iterdir() if (j / "results.json").is_file()):
        read = json.loads((job / "results.json").read_text())["data_files"]  # issue 30
        assert read and all(f.startswith(str(data_root)) for f in read), read
        assert read[0] in (job / "job.log").read_text()
    assert results["cifar100_to_svhn"]["dataset"] == "cifar100→svhn"
    assert results["cifar100_to_svhn"]["target_classes"] == list(range(10))
    assert len(results["cifar100"]["source_classes"]) == 50


@pytest.mark.slow
def test_imagenet_style_folder_trains_through_dataloader_workers(cli, data_root):
    cli(
        [
            "data=imagenet100",
            f"paths.data_dir={data_root}",
            *folder_overrides(),
            "data.num_workers=1",
            "backbone=lenet",
            "transfer.treatment=selffer",
            *TINY,
            "source.epochs=1",
            "target.epochs=1",
        ]
    )
    (job,) = list((cli.cwd / "outputs").glob("*/*"))
    result = json.loads((job / "results.json").read_text())
    assert result["status"] == "ok" and result["dataset"] == "imagefolder"
    assert result["sizes"]["target_test"] == 6


@pytest.mark.slow
def test_missing_data_offline_stops_before_training_with_one_sentence(cli, tmp_path):
    nowhere = tmp_path / "no-cifar"
    done = cli(["data=cifar10", f"data.root={nowhere}", *TINY], check=False)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()  # found by the pre-flight, before any folder
    assert "CIFAR-10 is missing data_batch_1" in line and "data.download=true" in line
    assert str(nowhere) in line
    assert list(cli.cwd.iterdir()) == []  # no outputs, no cache, no data folder


def test_each_registered_shape_is_the_shape_its_reader_serves(data_root):
    """The backbone check before a run takes the shape from the registration, unread."""
    from transfer_lab.data.files import image_shape
    from transfer_lab.data.loading import load_images

    for name in [*IN_MEMORY, "digits", "imagenet100"]:
        extra = ["data.image_size=16"] if name == "digits" else []
        data = job_config(data_root, name, *extra).data
        assert image_shape(data) == tuple(load_images(data).shape), name
