"""What channels_last, bf16 autocast and torch.compile buy on the CPU, each beside fp32 eager.

The Fashion-MNIST source phase of `fashion_fraction` (LeNet, batch 256, Adam, the real files):
the modes take turns on bursts of the same batches for their training images/s (medians, after a
warm-up turn for compile's graphs); then each mode trains the same network from the same seeds
with the plain loop (benchmarks/plain_loop.py) for the validation and test accuracy it reaches,
so a mode's effect on accuracy is read against the spread between seeds of fp32.
Writes benchmarks/results/<host>-cpu-fast-<time>.json; docs/benchmarks.md holds the figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import socket
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import plain_loop, run_all  # noqa: E402

MODES = ("fp32", "channels_last", "bf16", "bf16_channels_last", "compile")
WARM_UP_STEPS = 5


class ChannelsLast(nn.Module):
    """The network with its weights and its inputs in channels_last memory order."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner.to(memory_format=torch.channels_last)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.inner(images.contiguous(memory_format=torch.channels_last))


def one_run(mode: str, seed: int, cfg, job, epochs: int, train_images: int | None) -> dict:
    """Train the source network in `mode`: its accuracies (and its steps' median, which a
    changing load blurs: the speed comes from `interleaved_speed`)."""
    import pytorch_lightning as pl

    from transfer_lab.data.loading import datamodule_for
    from transfer_lab.job.networks import build_module

    task = job.task_a
    if train_images:  # a shorter epoch for a quick look; the split stays the job's
        task = dataclasses.replace(task, train=task.train[:train_images])
    pl.seed_everything(seed, verbose=False)
    module = build_module(cfg, cfg.source, job.source_images, task, beta=0.0)
    optimizer = run_all.plain_optimizer(module)
    model: nn.Module = module
    if "channels_last" in mode:
        model = ChannelsLast(module)
    if mode == "compile":
        model = torch.compile(module)
    dm = datamodule_for(job.source_images, task, seed)
    started = time.perf_counter()
    run = plain_loop.train(
        model,
        optimizer,
        dm.train_dataloader(),
        dm.val_dataloader(),
        dm.test_dataloader(),
        epochs,
        torch.device("cpu"),
        mode.startswith("bf16"),
    )
    steps = run.step_seconds[WARM_UP_STEPS:] or run.step_seconds
    return {
        "mode": mode,
        "seed": seed,
        "images_per_s": cfg.data.batch_size / statistics.median(steps),
        "first_steps_s": sum(run.step_seconds[:WARM_UP_STEPS]),
        "wall_s": time.perf_counter() - started,
        "val_acc": run.val_acc,
        "test_acc": run.test_acc,
        "train_images": len(task.train),
    }


def interleaved_speed(cfg, job, modes, rounds: int, steps: int) -> dict:
    """Training images/s per mode, from bursts of `steps` steps on the same batches, the modes
    taking turns `rounds` times, so a load that comes and goes slows them alike; medians."""
    import pytorch_lightning as pl

    from transfer_lab.data.loading import datamodule_for
    from transfer_lab.job.networks import build_module

    dm = datamodule_for(job.source_images, job.task_a, 0)
    batches = list(dm.train_dataloader())[:steps]
    nets = {}
    for mode in modes:
        pl.seed_everything(0, verbose=False)
        module = build_module(cfg, cfg.source, job.source_images, job.task_a, beta=0.0)
        model = ChannelsLast(module) if "channels_last" in mode else module
        model = torch.compile(model) if mode == "compile" else model
        nets[mode] = (model, run_all.plain_optimizer(module))
    seconds: dict[str, list[float]] = {mode: [] for mode in modes}
    for turn in range(rounds + 1):  # the first turn warms up (compile's graphs)
        for mode, (model, optimizer) in nets.items():
            model.train()
            bf16 = mode.startswith("bf16")
            started = time.perf_counter()
            for images, labels in batches:
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    loss = torch.nn.functional.cross_entropy(model(images), labels)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            if turn:
                seconds[mode].append(time.perf_counter() - started)
    images = sum(len(y) for _, y in batches)
    return {mode: images / statistics.median(s) for mode, s in seconds.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2, help="epochs per run")
    parser.add_argument("--seeds", type=int, default=2, help="training seeds per mode")
    parser.add_argument("--train-images", type=int, default=None, help="a shorter epoch")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--rounds", type=int, default=5, help="turns of the speed bursts")
    parser.add_argument("--steps", type=int, default=10, help="steps per burst")
    parser.add_argument("--out", type=Path, default=None)
    options = parser.parse_args(argv)
    torch.set_num_threads(options.threads)
    cfg = run_all.compose(["+experiment=fashion_fraction", "trainer=cpu"])
    from transfer_lab.data.tasks import build_job_data

    job = build_job_data(cfg)
    load = [os.getloadavg()[0]]
    speed = interleaved_speed(cfg, job, options.modes, options.rounds, options.steps)
    print(json.dumps({"images_per_s": speed}), flush=True)
    runs = []
    for seed in range(options.seeds):  # modes in turns, so a busy machine slows all alike
        for mode in options.modes:
            runs.append(one_run(mode, seed, cfg, job, options.epochs, options.train_images))
            print(json.dumps(runs[-1]), flush=True)
    load.append(os.getloadavg()[0])
    summary = {}
    for mode in options.modes:
        mine = [r for r in runs if r["mode"] == mode]
        summary[mode] = {
            "images_per_s": speed[mode],
            "images_per_s_in_runs": statistics.median(r["images_per_s"] for r in mine),
            "val_acc": [r["val_acc"] for r in mine],
            "test_acc": [r["test_acc"] for r in mine],
        }
        summary[mode]["speedup"] = summary[mode]["images_per_s"] / summary["fp32"]["images_per_s"]
    report = {
        "host": socket.gethostname(),
        "torch": torch.__version__,
        "threads": options.threads,
        "epochs": options.epochs,
        "load_average": load,
        "summary": summary,
        "runs": runs,
    }
    out = options.out or ROOT / "benchmarks" / "results" / (
        f"{socket.gethostname()}-cpu-fast-{datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    for mode, row in summary.items():
        print(
            f"{mode:14s} {row['images_per_s']:8.0f} images/s  {row['speedup']:.2f}×  "
            f"val {row['val_acc']}  test {row['test_acc']}"
        )
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
