"""CS6784's data choices against the original code (matham/cs6784_2017 at 30d2bed).

Natural → man-made: `attic/label_cifar.py` (coarse_to_natural, split_natural) and `train.py
--transNatSplit`. Out of domain: `train.py` `--ftCIFAR10` and `--ftSVHN` in `run_transfer`.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from tests import formats
from tests.conftest import compose
from transfer_lab.config.checks import validate
from transfer_lab.data.tasks import SUPERCLASS_GROUPS, build_job_data
from transfer_lab.errors import UserError


def job(data_root, *overrides: str):
    cfg = compose([f"paths.data_dir={data_root}", "++data.check_md5=false", *overrides])
    cfg.paths.root_dir = str(data_root)
    return build_job_data(cfg)


def coarse_of_fine(data_root) -> np.ndarray:
    """Each fine class's superclass, read straight from the tiny CIFAR-100 pickle."""
    with open(data_root / "cifar-100-python" / "train", "rb") as handle:
        entry = pickle.load(handle, encoding="latin1")
    table = np.full(100, -1)
    table[entry["fine_labels"]] = entry["coarse_labels"]
    return table


def names(ids) -> set[str]:
    return {formats.CIFAR100_SUPERCLASSES[int(i)] for i in ids}


@pytest.mark.parametrize(
    "data,sizes,flowers_on",
    [
        ("cifar100_natural_manmade", (70, 30), "source"),  # ours
        ("cifar100_natural_manmade_cs6784", (65, 35), "target"),  # coarse_to_natural['flowers']
    ],
)
def test_natural_to_man_made_groupings(data_root, data, sizes, flowers_on):
    split = job(data_root, f"data={data}").split
    coarse = coarse_of_fine(data_root)
    assert (len(split.source), len(split.target)) == sizes
    assert "flowers" in names(coarse[list(getattr(split, flowers_on))])
    assert names(coarse[list(split.target)]) >= set(SUPERCLASS_GROUPS["man_made"])
    assert names(coarse[list(split.source)]).isdisjoint(names(coarse[list(split.target)]))
    assert "fruit_and_vegetables" in names(coarse[list(split.source)])  # natural in both


def test_the_as_run_split_is_the_index_bugs_class_ids(data_root):
    """split_natural() numbers classes by position in coarse_to_fine, whose superclasses come in
    this order with 5 classes each; train.py uses those positions as CIFAR-100 label ids."""
    listed = [  # attic/label_cifar.py coarse_to_fine order, and coarse_to_natural
        ("aquatic_mammals", True),
        ("fish", True),
        ("flowers", False),
        ("food_containers", False),
        ("fruit_and_vegetables", True),
        ("household_electrical_devices", False),
        ("household_furniture", False),
        ("insects", True),
        ("large_carnivores", True),
        ("large_man-made_outdoor_things", False),
        ("large_natural_outdoor_scenes", True),
        ("large_omnivores_and_herbivores", True),
        ("medium_mammals", True),
        ("non-insect_invertebrates", True),
        ("people", True),
        ("reptiles", True),
        ("small_mammals", True),
        ("trees", True),
        ("vehicles_1", False),
        ("vehicles_2", False),
    ]
    positions = {True: [], False: []}
    for index, (_, natural) in enumerate(listed):
        positions[natural] += range(5 * index, 5 * index + 5)
    split = job(data_root, "data=cifar100_natural_manmade_cs6784_as_run").split
    assert list(split.source) == positions[True] and list(split.target) == positions[False]
    assert {name for name, natural in listed if not natural} == set(
        SUPERCLASS_GROUPS["man_made_cs6784"]
    )


def test_cifar10_as_b_is_normalised_with_the_sources_statistics(data_root):
    """--ftCIFAR10: `normMean = [0.5423671, ...]`, the same constants as CIFAR-100's, and
    RandomCrop(32, padding=4) + RandomHorizontalFlip."""
    data = job(data_root, "data=cifar100_to_cifar10")
    source, target = data.source_images, data.target_images
    assert target.settings.mean == pytest.approx(source.channel_stats()[0])
    assert target.settings.std == pytest.approx(source.channel_stats()[1])
    assert target.settings.mean != pytest.approx(target.channel_stats()[0])
    assert target.settings.augment == "cifar"
    given = job(
        data_root, "data=cifar100_to_cifar10", "data.mean=[0.5,0.4,0.3]", "data.std=[0.2,0.2,0.2]"
    )
    assert given.target_images.settings.mean == [0.5, 0.4, 0.3]
    own = job(data_root, "data=cifar100", "+data/target=cifar10")
    assert own.target_images.settings.mean is None  # the datamodule then uses CIFAR-10's own
    with pytest.raises(UserError, match="data.target.stats='mine' is not known"):
        validate(compose(["data=cifar100_to_cifar10", "data.target.stats=mine"]))


def test_svhn_as_b_is_unaugmented_with_mean_and_std_one_half(data_root):
    """--ftSVHN: `transforms.Compose([ToTensor(), Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])`
    for both the train and the test split."""
    settings = job(data_root, "data=cifar100_to_svhn").target_images.settings
    assert settings.augment == "none"
    assert list(settings.mean) == [0.5] * 3 and list(settings.std) == [0.5] * 3
