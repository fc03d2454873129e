"""`data=image_folder`: a user's own `train/<class>/` tree of PNGs, read with sensible defaults,
split as every dataset is (or all of it to B), and refused before a run when it cannot serve."""

from __future__ import annotations

import numpy as np
import pytest

from tests import formats
from tests.conftest import compose
from transfer_lab.data.datasets.image_folder import load_image_folder, survey_tree
from transfer_lab.data.files import data_problems
from transfer_lab.errors import UserError


def tree_config(root, *overrides: str):
    return compose(["data=image_folder", f"data.root={root}", *overrides])


def test_a_png_tree_is_read_with_its_size_and_measured_statistics(tmp_path):
    root = formats.write_png_tree(tmp_path, classes=4, train_per_class=6, size=12)
    images = load_image_folder(str(root))
    assert images.class_names == [f"class_{c}" for c in range(4)]
    assert images.shape == (3, 12, 12)  # the first image's side; grey PNGs become RGB
    assert np.bincount(images.train_labels.numpy()).tolist() == [6] * 4
    assert np.bincount(images.test_labels.numpy()).tolist() == [2] * 4
    mean, std = images.channel_stats()
    # formats.class_images: noise 0..127 plus 0, 42, 84, 126 by class, a mean near 126.5 / 255
    assert len(mean) == 3 and 0.45 < mean[0] < 0.55 and mean[0] == mean[1] == mean[2]
    assert all(s > 0.05 for s in std)
    assert images.files[1].endswith("(8 images)")


def test_a_tree_without_a_test_folder_keeps_a_fixed_part_of_each_class_for_the_test(tmp_path):
    root = formats.write_png_tree(tmp_path, classes=3, train_per_class=10, test_per_class=None)
    first, second = load_image_folder(str(root)), load_image_folder(str(root))
    assert np.bincount(first.test_labels.numpy()).tolist() == [2] * 3  # 20 % of 10
    assert np.bincount(first.train_labels.numpy()).tolist() == [8] * 3
    tested = {p for p, _ in first.test.samples}
    assert tested == {p for p, _ in second.test.samples}
    assert not tested & {p for p, _ in first.train.samples}
    assert survey_tree([root / "train"]).smallest == 8


def test_a_val_folder_serves_as_the_test_set(tmp_path):
    root = formats.write_png_tree(tmp_path, classes=2)
    (root / "test").rename(root / "val")
    assert load_image_folder(str(root)).files[1].startswith(str(root / "val"))


def test_all_classes_go_to_b_with_no_a(tmp_path):
    from transfer_lab.data.tasks import build_job_data

    root = formats.write_png_tree(tmp_path, classes=4)
    job = build_job_data(tree_config(root, "data.source_classes=0", "data.num_workers=0"))
    assert job.split.source == () and job.split.target == (0, 1, 2, 3)
    assert len(job.task_a.train) == 0 and len(job.task_b.train) + len(job.task_b.val) == 24


def damaged_tree(folder, damage: str):
    """A 3-class PNG tree with one thing wrong: an empty class, one class left, or a file that
    is no image."""
    root = formats.write_png_tree(folder, classes=3, test_per_class=None)
    if damage == "empty":
        for image in (root / "train" / "class_1").iterdir():
            image.unlink()
    elif damage == "one_class":
        for c in (1, 2):
            for image in (root / "train" / f"class_{c}").iterdir():
                image.unlink()
            (root / "train" / f"class_{c}").rmdir()
    else:
        (root / "train" / "class_2" / "3.png").write_text("not a picture")
    return root


@pytest.mark.parametrize(
    "damage, words",
    [
        ("empty", "class_1 holds no image"),
        ("one_class", "holds 1 class folder; a study needs at least 2 classes"),
        ("not_an_image", "is not an image its ending promises"),
    ],
)
def test_a_tree_that_cannot_serve_is_refused_before_a_run_in_one_sentence(tmp_path, damage, words):
    root = damaged_tree(tmp_path, damage)
    found = data_problems([tree_config(root, "data.source_classes=2", "data.target_classes=null")])
    assert len(found) == 1 and words in found[0], found
    with pytest.raises(UserError, match=words.split(";")[0]):
        load_image_folder(str(root))


def test_more_classes_than_the_folder_has_are_refused_by_the_command_before_any_folder(
    cli, tmp_path
):
    """50 + 50 classes from a 4-class folder: one sentence, exit 2, nothing written (issue 32)."""
    root = formats.write_png_tree(tmp_path / "pngs", classes=4)
    done = cli(
        [
            "data=image_folder",
            f"data.root={root}",
            "data.source_classes=50",
            "data.target_classes=50",
            "model.beta=0,0.5",
            "sweep",
        ],
        check=False,
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0] == (
        "error: data.source_classes=50 and data.target_classes=50 ask for 100 classes but "
        "image_folder has 4; make them add up to at most 4."
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pngs"]


def test_no_a_with_a_source_to_train_is_refused_by_the_command_before_any_folder(cli, tmp_path):
    """data.source_classes=0 and no weights: AnB has no source; baseB alone needs none."""
    root = formats.write_png_tree(tmp_path / "pngs", classes=4)
    common = ["data=image_folder", f"data.root={root}", "data.source_classes=0"]
    done = cli([*common, "transfer.arm=baseB,A1B", "sweep"], check=False)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith("error: data.source_classes=0 leaves A no classes to train a source")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pngs"]
    from transfer_lab.cli.preflight import source_problems

    assert source_problems(tree_config(root, "data.source_classes=0", "transfer.arm=baseB")) == []
    with_weights = tree_config(root, "data.source_classes=0", "source.weights=model.pt")
    assert source_problems(with_weights) == []
    assert len(source_problems(tree_config(root, "data.source_classes=0"))) == 1


@pytest.mark.parametrize(
    "damage, words",
    [
        ("empty", "holds no image"),
        ("one_class", "1 class folder"),
        ("not_an_image", "not an image"),
    ],
)
def test_a_damaged_tree_is_refused_by_the_command_before_any_folder(cli, tmp_path, damage, words):
    root = damaged_tree(tmp_path / "pngs", damage)
    done = cli(
        ["data=image_folder", f"data.root={root}", "data.source_classes=0", "source.weights=x.pt"],
        check=False,
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and words in lines[0], done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pngs"]


@pytest.mark.slow
def test_a_job_on_a_png_tree_runs_end_to_end_and_names_what_it_read(cli, tmp_path):
    import json

    root = formats.write_png_tree(tmp_path / "pngs", classes=4, train_per_class=8, size=16)
    cli(
        [
            "data=image_folder",
            f"data.root={root}",
            "data.source_classes=2",
            "data.target_classes=2",
            "data.num_workers=0",
            "backbone=lenet",
            "source.epochs=1",
            "target.epochs=1",
            "trainer.enable_progress_bar=false",
        ]
    )
    (job,) = list((cli.cwd / "outputs").glob("*/*"))
    result = json.loads((job / "results.json").read_text())
    assert result["status"] == "ok" and result["dataset"] == "image_folder"
    assert result["data_files"] == [f"{root / 'train'} (32 images)", f"{root / 'test'} (8 images)"]
    assert result["data_files"][0] in (job / "job.log").read_text()


def test_a_tree_whose_images_change_gets_another_digest_for_the_source_key(tmp_path):
    from PIL import Image

    root = formats.write_png_tree(tmp_path, classes=2)
    before = load_image_folder(str(root)).digest()
    assert load_image_folder(str(root)).digest() == before
    image = root / "train" / "class_0" / "0.png"
    Image.new("L", (30, 30), color=7).save(image)
    assert load_image_folder(str(root)).digest() != before
