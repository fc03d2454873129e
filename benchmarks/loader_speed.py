"""Images per second: the fast path vs a torchvision DataLoader, on CIFAR-shaped data, one run.

Both read the same CIFAR-10-format files (written to a temporary folder, N random images) and
apply the same recipe: random crop 32 with 4-pixel zero padding, horizontal flip, normalise.
  fast path: transfer_lab's DeviceBatches + DeviceAugment (uint8 on the device, by index)
  regular:   torchvision CIFAR10 + RandomCrop(32, padding=4) + RandomHorizontalFlip + ToTensor
             + Normalize in a DataLoader
Run from the repository root:  python benchmarks/loader_speed.py [--images 10000] [--workers 0]
This is a measurement, not a test. `--threads` sets torch's intra-op threads around the fast
path; its per-batch work itself always runs on one CPU thread (see batches.one_cpu_thread), so
differences between those rows are machine noise.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.formats import write_cifar10  # noqa: E402
from transfer_lab.data.augment import DeviceAugment, torchvision_transform  # noqa: E402
from transfer_lab.data.batches import DeviceBatches  # noqa: E402
from transfer_lab.data.readers import _unverified, load_cifar10  # noqa: E402


def rate(batches, count: int, epochs: int) -> float:
    """Images per second over `epochs` passes, after one warm-up batch."""
    next(iter(batches))
    started = time.perf_counter()
    seen = 0
    for _ in range(epochs):
        for images, _labels in batches:
            seen += len(images)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    assert seen == count * epochs
    return seen / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[0, 2],
        help="DataLoader worker counts to measure (the best one is compared)",
    )
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=None,
        help="torch intra-op thread counts for the fast path (default: torch's "
        "own and 1; on a busy machine extra threads can thrash)",
    )
    options = parser.parse_args()
    default_threads = torch.get_num_threads()
    thread_counts = options.threads or sorted({default_threads, 1}, reverse=True)

    from torch.utils.data import DataLoader
    from torchvision import datasets

    with tempfile.TemporaryDirectory() as root:
        write_cifar10(Path(root), train_per_class=options.images // 10, test_per_class=1)
        images = load_cifar10(root, check_md5=False)
        n = len(images.train_labels)
        mean, std = images.channel_stats()
        device = torch.device(options.device)
        fast_rates = {}
        for threads in thread_counts:
            torch.set_num_threads(threads)
            fast = DeviceBatches(
                images.train_images.to(device),
                images.train_labels.to(device),
                options.batch_size,
                DeviceAugment(mean, std, "cifar", seed=0),
                shuffle=True,
                seed=0,
            )
            fast_rates[threads] = rate(fast, n, options.epochs)
        torch.set_num_threads(default_threads)

        cifar = _unverified(
            datasets.CIFAR10,
            train_list=[[f, None] for f, _ in datasets.CIFAR10.train_list],
            test_list=[[f, None] for f, _ in datasets.CIFAR10.test_list],
            meta={**datasets.CIFAR10.meta, "md5": None},
        )
        regular = cifar(root, train=True, transform=torchvision_transform(mean, std, "cifar", 32))
        regular_rates = {}
        for workers in options.workers:
            loader = DataLoader(
                regular,
                batch_size=options.batch_size,
                shuffle=True,
                num_workers=workers,
                persistent_workers=workers > 0,
            )
            regular_rates[workers] = rate(loader, n, options.epochs)

    import os

    print(
        f"{n} CIFAR-shaped images, batch {options.batch_size}, {options.epochs} epochs, "
        f"fast path on {device}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    for threads, value in fast_rates.items():
        print(
            f"fast path (DeviceBatches + DeviceAugment), {threads} torch threads: {value:12,.0f} images/s"
        )
    for workers, value in regular_rates.items():
        print(
            f"DataLoader + torchvision transforms, {workers} workers ({default_threads} threads): "
            f"{value:12,.0f} images/s"
        )
    best = max(regular_rates.values())
    for threads, value in fast_rates.items():
        print(f"ratio fast ({threads} threads) / best DataLoader: {value / best:.1f}x")


if __name__ == "__main__":
    main()
