"""Images per second: the fast path vs a torchvision DataLoader, on CIFAR-shaped data, one run.

Both read the same CIFAR-10-format files (written to a temporary folder, N random images) and
apply the same recipe: random crop 32 with 4-pixel zero padding, horizontal flip, normalise.
  fast path: transfer_lab's DeviceBatches + DeviceAugment (uint8 on the device, by index)
  regular:   torchvision CIFAR10 + RandomCrop(32, padding=4) + RandomHorizontalFlip + ToTensor
             + Normalize in a DataLoader
The two sides are measured in turns (`--repeats` rounds) and each is reported as its median.
Run from the repository root:  python benchmarks/loader_speed.py [--images 10000] [--workers 0 2]
or as part of `make bench` (benchmarks/run_all.py). This is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.formats import write_cifar10  # noqa: E402
from transfer_lab.data.augment import DeviceAugment, torchvision_transform  # noqa: E402
from transfer_lab.data.batches import DeviceBatches  # noqa: E402
from transfer_lab.data.datasets.cifar10 import load_cifar10  # noqa: E402
from transfer_lab.data.datasets.fetch import unverified  # noqa: E402


def rate(batches, count: int, epochs: int, device: torch.device) -> float:
    """Images per second over `epochs` passes, after one warm-up batch."""
    next(iter(batches))
    started = time.perf_counter()
    seen = 0
    for _ in range(epochs):
        for images, _labels in batches:
            images.to(device, non_blocking=True)  # the DataLoader's batches still have to travel
            seen += len(images)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    assert seen == count * epochs
    return seen / (time.perf_counter() - started)


def compare(
    images: int = 10_000,
    batch_size: int = 128,
    epochs: int = 1,
    workers: tuple[int, ...] = (0, 2),
    device: str = "cpu",
    repeats: int = 3,
) -> dict:
    """Median images/s of the fast path and of the DataLoader per worker count, in turns."""
    from torch.utils.data import DataLoader
    from torchvision import datasets

    device = torch.device(device)
    fast_rates: list[float] = []
    loader_rates: dict[int, list[float]] = {w: [] for w in workers}
    with tempfile.TemporaryDirectory() as root:
        write_cifar10(Path(root), train_per_class=images // 10, test_per_class=1)
        data = load_cifar10(root, check_md5=False)
        n = len(data.train_labels)
        mean, std = data.channel_stats()
        on_device = data.train_images.to(device), data.train_labels.to(device)
        cifar = unverified(
            datasets.CIFAR10,
            train_list=[[f, None] for f, _ in datasets.CIFAR10.train_list],
            test_list=[[f, None] for f, _ in datasets.CIFAR10.test_list],
            meta={**datasets.CIFAR10.meta, "md5": None},
        )
        regular = cifar(root, train=True, transform=torchvision_transform(mean, std, "cifar", 32))
        for round_ in range(repeats):
            fast = DeviceBatches(
                *on_device,
                batch_size,
                DeviceAugment(mean, std, "cifar", seed=round_),
                shuffle=True,
                seed=round_,
            )
            fast_rates.append(rate(fast, n, epochs, device))
            for w in workers:
                loader = DataLoader(
                    regular,
                    batch_size=batch_size,
                    shuffle=True,
                    num_workers=w,
                    persistent_workers=w > 0,
                    pin_memory=device.type == "cuda",
                )
                loader_rates[w].append(rate(loader, n, epochs, device))
    loaders = {w: statistics.median(r) for w, r in loader_rates.items()}
    best = max(loaders, key=loaders.get)
    fast = statistics.median(fast_rates)
    return {
        "images": n,
        "batch_size": batch_size,
        "epochs": epochs,
        "repeats": repeats,
        "device": str(device),
        "fast_images_per_s": fast,
        "dataloader_images_per_s": {str(w): v for w, v in loaders.items()},
        "best_workers": best,
        "ratio": fast / loaders[best],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    o = parser.parse_args()
    r = compare(o.images, o.batch_size, o.epochs, tuple(o.workers), o.device, o.repeats)
    print(
        f"{r['images']} CIFAR-shaped images, batch {r['batch_size']}, fast path on {r['device']}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"fast path (DeviceBatches + DeviceAugment): {r['fast_images_per_s']:12,.0f} images/s")
    for w, value in r["dataloader_images_per_s"].items():
        print(f"DataLoader + torchvision transforms, {w} workers: {value:12,.0f} images/s")
    print(f"ratio fast / best DataLoader: {r['ratio']:.1f}x")


if __name__ == "__main__":
    main()
