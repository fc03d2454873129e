"""Where Fashion-MNIST's files are found, how they are checked, and what a bad copy is told.

Tiny files in the real IDX format stand in for each place a copy can lie: torchvision's layout,
the files flat in data.root, and Debian's system folder. The real files: test_real_fashion_mnist.py.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from tests import formats
from transfer_lab.data import loading
from transfer_lab.data.datasets.fashion_mnist import FILES, find_copy, load_fashion_mnist
from transfer_lab.data.datasets.registry import MissingFiles
from transfer_lab.errors import UserError


def flat_copy(folder: Path, seed: int, compress: bool = True) -> Path:
    """The four IDX files directly in `folder`, as Debian's package lays them out."""
    raw = formats.write_idx_dataset(folder / "tmp", "F", seed=seed, compress=compress)
    folder.mkdir(parents=True, exist_ok=True)
    for path in raw.iterdir():
        shutil.move(str(path), folder / path.name)
    shutil.rmtree(folder / "tmp")
    return folder


HEADER_OF_FIVE_IMAGES = bytes([0, 0, 8, 3]) + b"".join(n.to_bytes(4, "big") for n in (5, 28, 28))


def first_pixels(images) -> list[int]:
    return images.train_images[:3, 0, 14, 14].tolist()


def test_a_copy_is_looked_for_in_torchvision_layout_then_flat_root_then_the_system_folder(
    tmp_path,
):
    root, system = tmp_path / "root", flat_copy(tmp_path / "debian", seed=3)
    from_system = load_fashion_mnist(str(root), check_md5=False, system_root=str(system))
    flat_copy(root, seed=2, compress=False)  # raw files in data.root itself
    from_flat = load_fashion_mnist(str(root), check_md5=False, system_root=str(system))
    formats.write_idx_dataset(root, "FashionMNIST", seed=1, compress=True)  # torchvision's
    from_torchvision = load_fashion_mnist(str(root), check_md5=False, system_root=str(system))

    flat_copy(tmp_path / "flat-alone", seed=2, compress=False)  # the flat copy, read alone
    expected = [
        first_pixels(load_fashion_mnist(str(tmp_path / name), check_md5=False, system_root=None))
        for name in ("root/FashionMNIST/raw", "flat-alone", "debian")
    ]
    assert first_pixels(from_torchvision) == expected[0]
    assert first_pixels(from_flat) == expected[1]
    assert first_pixels(from_system) == expected[2]
    assert len({tuple(p) for p in expected}) == 3  # three different copies were told apart
    assert find_copy(root, system)[0] == root / "FashionMNIST" / "raw" / f"{FILES[0]}.gz"


def test_an_incomplete_folder_is_an_error_naming_the_missing_file_not_debians_copy(tmp_path):
    """A partial data.root was silently swapped for Debian's copy (issue 30)."""
    root, system = tmp_path / "root", flat_copy(tmp_path / "debian", seed=3)
    flat_copy(root, seed=2)
    (root / f"{FILES[3]}.gz").unlink()  # three of four: a partial copy
    with pytest.raises(MissingFiles) as caught:
        find_copy(root, system)
    assert caught.value.missing == [FILES[3]] and caught.value.root == root


def test_a_folder_in_a_files_place_is_named(tmp_path):
    root, system = tmp_path / "root", flat_copy(tmp_path / "debian", seed=3)
    flat_copy(root, seed=2)
    (root / f"{FILES[0]}.gz").unlink()
    (root / FILES[0]).mkdir()
    with pytest.raises(MissingFiles, match=f"{FILES[0]} \\(a folder stands in its place\\)"):
        find_copy(root, system)


def test_a_cut_file_is_refused_from_its_header_before_any_hashing(tmp_path):
    from transfer_lab.data.datasets.idx import check_headers

    root = flat_copy(tmp_path / "root", seed=0, compress=False)
    images = root / FILES[0]
    images.write_bytes(images.read_bytes()[:-7])
    with pytest.raises(UserError, match="truncated"):
        check_headers(find_copy(root, None), 10, None)


def test_no_copy_gives_one_sentence_with_the_three_ways_to_get_one(tmp_path):
    with pytest.raises(MissingFiles) as caught:
        load_fashion_mnist(str(tmp_path / "nowhere"), system_root=str(tmp_path / "no-debian"))
    message = caught.value.sentence("data")
    assert "make fashion-data" in message
    assert "data.root=PATH" in message and "data.download=true" in message
    assert str(tmp_path / "nowhere" / "FashionMNIST" / "raw") in message
    assert str(tmp_path / "no-debian") in message
    assert message.count(". ") == 0 and message.endswith(".")
    assert not (tmp_path / "nowhere").exists()  # looking writes nothing


def test_sums_are_checked_on_the_uncompressed_bytes(tmp_path):
    root = flat_copy(tmp_path / "root", seed=0)
    with pytest.raises(UserError, match=r"train-images-idx3-ubyte.gz does not match the published"):
        load_fashion_mnist(str(root), system_root=None)  # tiny files: other sums
    assert load_fashion_mnist(str(root), check_md5=False, system_root=None).num_classes == 10


@pytest.mark.parametrize(
    "damage, words",
    [
        (lambda p: p.write_bytes(p.read_bytes()[:50]), "cannot be read"),  # truncated .gz
        (lambda p: p.write_bytes(gzip.compress(HEADER_OF_FIVE_IMAGES + b"\x00" * 99)), "truncated"),
        (lambda p: p.write_bytes(gzip.compress(b"not an idx file at all")), "not a 3-D"),
    ],
)
def test_a_damaged_file_is_one_sentence(tmp_path, damage, words):
    root = flat_copy(tmp_path / "root", seed=0)
    damage(root / f"{FILES[0]}.gz")
    with pytest.raises(UserError, match=words) as caught:
        load_fashion_mnist(str(root), check_md5=False, system_root=None)
    assert "replace it with a fresh copy" in str(caught.value)


def test_a_process_reads_a_copy_once_and_again_when_it_changes(tmp_path, monkeypatch):
    root = flat_copy(tmp_path / "root", seed=0)
    monkeypatch.setattr(loading, "_READ", {})
    arguments = {"root": str(root), "download": False, "check_md5": False, "system_root": None}
    first = loading.read_once(load_fashion_mnist, arguments)
    again = loading.read_once(load_fashion_mnist, arguments)
    assert again is not first and again.train_images is first.train_images  # shared, not reread
    flat_copy(tmp_path / "other", seed=5)
    shutil.copy(tmp_path / "other" / f"{FILES[0]}.gz", root / f"{FILES[0]}.gz")
    changed = loading.read_once(load_fashion_mnist, arguments)
    assert changed.train_images is not first.train_images
    assert first_pixels(changed) != first_pixels(first)
