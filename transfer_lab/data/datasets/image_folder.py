"""Any tree of images, one folder per class: `<root>/train/<class>/*` and, when there is one,
`<root>/test/<class>/*` or `<root>/val/<class>/*` (ImageNet-100 reads its `val/` as the test set).

Without a test folder a fixed, stratified part of the training images is the test set. The
checks before a run count the classes and look at every file's first bytes (not decoded), so an
empty class folder, a tree with one class or a file that is no image is one sentence before any
folder is made. Images are decoded per batch (data/folder.py); without `mean`/`std` the
normalisation is measured on the training images.
"""

from __future__ import annotations

from pathlib import Path

from transfer_lab.data.datasets.registry import Classes, MissingFiles, register_dataset
from transfer_lab.errors import UserError

# torchvision's ImageFolder reads files with these endings and skips the others
IMAGE_ENDINGS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"BM", b"II*\x00", b"MM\x00*")
TEST_DIRS = ("test", "val")  # looked for, in this order, when test_dir is null
TEST_FRACTION = 0.2  # of each class, the test set of a tree without one
TEST_SPLIT_SEED = 20_140_001  # fixed: the test set must not move with the split seed


def is_image_header(head: bytes) -> bool:
    """Whether a file's first bytes start a format ImageFolder's loader (PIL) reads."""
    netpbm = len(head) > 1 and head[:1] == b"P" and head[1:2] in b"123456"
    webp = head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    return head.startswith(SIGNATURES) or netpbm or webp


def test_folder(root: Path, test_dir: str | None) -> str | None:
    """The test part's folder name: the one given, else `test/` or `val/` when there."""
    if test_dir is not None:
        return str(test_dir)
    return next((d for d in TEST_DIRS if (root / d).is_dir()), None)


def locate_tree(
    root: str, train_dir: str = "train", test_dir: str | None = None, name: str = "imagefolder", **_
) -> list[Path]:
    """The training folder and the test folder (when there is one), each holding class folders."""
    path = Path(root).expanduser().resolve()
    test = test_folder(path, test_dir)
    missing = [
        f"{d}/<class>/"
        for d in (train_dir, test)
        if d is not None
        and (not (path / d).is_dir() or not any(p.is_dir() for p in (path / d).iterdir()))
    ]
    if missing:
        how = f"lay the images out as {train_dir}/<class>/*.png (and optionally test/<class>/)" + (
            " (ImageNet cannot be downloaded automatically)" if test == "val" else ""
        )
        raise MissingFiles(name, path, missing, how, downloadable=False)
    return [path / train_dir] + ([path / test] if test is not None else [])


def class_files(folder: Path) -> dict[str, list[Path]]:
    """Each class folder's image files (by their endings, as ImageFolder picks them)."""
    return {
        d.name: sorted(f for f in d.rglob("*") if f.suffix.lower() in IMAGE_ENDINGS and f.is_file())
        for d in sorted(p for p in folder.iterdir() if p.is_dir())
    }


def survey_tree(files: list[Path], **_) -> Classes:
    """Classes and the smallest class's training images, refusing what ImageFolder could not
    read: one class, an empty class folder, a file whose first bytes are no image."""
    parts = [class_files(folder) for folder in files]
    train = parts[0]
    if len(train) < 2:
        raise UserError(
            f"{files[0]} holds {len(train)} class folder; a study needs at least 2 classes, "
            f"each in its own folder ({files[0]}/<class>/)."
        )
    for folder, part in zip(files, parts, strict=True):
        empty = [c for c, found in part.items() if not found]
        if empty:
            raise UserError(
                f"{folder / empty[0]} holds no image ({', '.join(IMAGE_ENDINGS)}); put images "
                f"in it or remove the folder."
            )
        for image in (f for found in part.values() for f in found):
            with open(image, "rb") as handle:
                head = handle.read(12)
            if not is_image_header(head):
                raise UserError(
                    f"{image} is not an image its ending promises (its first bytes are no PNG, "
                    f"JPEG, BMP, TIFF, WebP or PNM header); replace it or remove it."
                )
    if len(parts) > 1 and set(parts[1]) != set(train):
        only = sorted(set(parts[1]) ^ set(train))[:5]
        raise UserError(
            f"{files[0]} and {files[1]} hold different class folders (e.g. {', '.join(only)}); "
            f"give both parts the same classes."
        )
    smallest = min(len(found) for found in train.values())
    if len(parts) == 1:  # the test set is carved from the training images
        smallest -= min(smallest - 1, max(1, round(TEST_FRACTION * smallest)))
    return Classes(len(train), smallest)


def first_image_side(folder: Path) -> int:
    """The shorter side of the tree's first training image (read from its header)."""
    from PIL import Image

    first = next(f for found in class_files(folder).values() for f in found)
    with Image.open(first) as image:
        return min(image.size)


def tree_shape(crop_size: int | None = None, **keywords) -> tuple[int, int, int]:
    """RGB crops of `crop_size`, else of the first training image's shorter side."""
    side = crop_size if crop_size is not None else first_image_side(locate_tree(**keywords)[0])
    return (3, int(side), int(side))


@register_dataset("image folder", locate=locate_tree, survey=survey_tree, shape=tree_shape)
def load_image_folder(
    root: str,
    download: bool = False,
    train_dir: str = "train",
    test_dir: str | None = None,
    crop_size: int | None = None,
    resize_size: int | None = None,
    mean: list[float] | None = None,
    std: list[float] | None = None,
    name: str = "imagefolder",
    check_md5: bool = True,
    eval_crop: str = "center",
):
    """An image tree's file lists and labels (see the module's docstring).

    `crop_size` null: the shorter side of the first training image; `resize_size` null: the
    crop size (evaluation resizes, then crops the centre); `mean`/`std` null: measured on the
    training images. `eval_crop` is how validation and test images are cropped: "center" or
    "train" (the training crop without the flip, as CS6784 tested). (`check_md5` is accepted
    like every reader's, but an image tree has no checksums.)
    """
    from torchvision.datasets import ImageFolder

    from transfer_lab.data.augment import EVAL_CROPS
    from transfer_lab.data.folder import FolderSet, carve_test

    if eval_crop not in EVAL_CROPS:
        raise UserError(
            f"data.reader.eval_crop={eval_crop!r} is not a crop; use center (resize and centre "
            f"crop) or train (the training crop without the flip)."
        )
    found = locate_tree(root, train_dir, test_dir, name)
    survey_tree(found)
    train = ImageFolder(str(found[0]))
    if len(found) > 1:
        test = ImageFolder(str(found[1]))
    else:
        train, test = carve_test(train, TEST_FRACTION, TEST_SPLIT_SEED)
    crop = int(crop_size) if crop_size is not None else first_image_side(found[0])
    images = FolderSet(
        name=name,
        train=train,
        test=test,
        class_names=list(train.classes),
        crop_size=crop,
        resize_size=int(resize_size) if resize_size is not None else crop,
        mean=None if mean is None else list(mean),
        std=None if std is None else list(std),
        eval_crop=str(eval_crop),
    )
    if len(found) > 1:
        images.files = [f"{found[0]} ({len(train.samples)} images)"]
        images.files.append(f"{found[1]} ({len(test.samples)} images)")
    else:
        total = len(train.samples) + len(test.samples)
        images.files = [f"{found[0]} ({total} images, {len(test.samples)} kept as the test set)"]
    return images
