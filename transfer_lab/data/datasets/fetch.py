"""torchvision's download and checksums for the dataset readers, their failures as sentences.
(torch is imported by the functions that need it: the dataset modules stay torch-free.)"""

from __future__ import annotations

from pathlib import Path

from transfer_lab.errors import UserError


def download(dataset: str, root: Path, fetch) -> None:
    """Run torchvision's download, turning a network failure into one sentence."""
    try:
        fetch()
    except Exception as error:  # URLError, HTTPError, checksum mismatch, disk full, ...
        raise UserError(
            f"downloading {dataset} into {root} failed ({type(error).__name__}: {error}); "
            f"check the network, or copy the files there yourself and turn download off."
        ) from error


def verify(dataset: str, root: Path, checksums: list[tuple[str, str]]) -> None:
    """Compare files with torchvision's published MD5 sums, as torchvision itself does."""
    from torchvision.datasets.utils import check_integrity

    bad = [name for name, md5 in checksums if not check_integrity(str(root / name), md5)]
    if bad:
        raise UserError(
            f"{dataset} files {', '.join(bad)} under {root} do not match the official MD5 sums; "
            f"replace them with a fresh copy, or set data.check_md5=false if this copy is meant "
            f"to differ."
        )


def unverified(cls: type, **overrides) -> type:
    """The torchvision class with checksums cleared: files are checked for presence only."""
    return type(f"Unverified{cls.__name__}", (cls,), overrides)
