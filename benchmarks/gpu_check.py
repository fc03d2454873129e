"""`make gpu-check`: what a GPU buys, in one script of under 8 minutes on one GPU.

1. training images/s of WRN-28-10 and DenseNet-BC-100 through transfer_lab's fit, in bf16 with
   channels_last and in fp32, each beside a plain PyTorch loop on the same batches;
2. the wall time of one job of the full 100-epoch Fashion-MNIST recipe
   (conf/experiment/fashion_fraction.yaml, A4B+ at 100% of B), a fresh `python -m transfer_lab`
   process; on the real files when a copy is there, else on a full-size tree in their format;
3. the speed-up of several parallel workers sharing the GPU against one job at a time, for the
   small networks of a digits sweep (`launcher=parallel` against `launcher=local`).

Writes benchmarks/results/<host>-gpu-<time>.json. `--dry-run` runs the same steps at tiny sizes,
on the CPU when there is no GPU, in seconds (tests/test_gpu_check.py). A step that fails is
recorded with its error, and the others still run.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import run_all  # noqa: E402

SIZES = {  # images per epoch, epochs, rounds; the backbones' own keys for a tiny dry run
    "full": {"train": 5120, "test": 512, "epochs": 4, "repeats": 2, "tiny": {}},
    "dry": {
        "train": 32,
        "test": 16,
        "epochs": 2,
        "repeats": 1,
        "tiny": {
            "wrn28_10": ["backbone.depth=10", "backbone.width=1"],
            "densenet_bc": ["backbone.depth=10"],
        },
    },
}


def throughput(backbone: str, trainer: list[str], size: dict) -> dict:
    """Images/s of transfer_lab's fit and of the plain loop, bf16 + channels_last and fp32."""
    data = run_all.random_cifar(size["train"], size["test"])
    rows = {}
    modes = {
        "bf16_channels_last": ["trainer.precision=bf16-mixed", "++trainer.channels_last=true"],
        "fp32": ["trainer.precision=32-true", "++trainer.channels_last=false"],
    }
    for mode, settings in modes.items():
        case = run_all.epoch_case(
            f"{backbone} {mode}",
            [
                f"backbone={backbone}",
                *trainer,
                *settings,
                *size["tiny"].get(backbone, []),
                "trainer.enable_progress_bar=false",
            ],
            data,
            epochs=size["epochs"],
            repeats=size["repeats"],
        )
        rows[mode] = {
            "transfer_lab_images_per_s": case["train_images"] / case["transfer_lab_s_per_epoch"],
            "plain_images_per_s": case["train_images"] / case["plain_s_per_epoch"],
            "ratio": case["ratio"],
            "val_acc": case["val_acc"],
        }
    fast, slow = rows["bf16_channels_last"], rows["fp32"]
    return {
        "backbone": backbone,
        "batch_size": 128,
        **rows,
        "bf16_speedup": fast["transfer_lab_images_per_s"] / slow["transfer_lab_images_per_s"],
    }


def cli(args: list[str], cwd: Path, timeout: float) -> float:
    """Wall seconds of a fresh `python -m transfer_lab ARGS`, imports included."""
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, PYTHONPATH=path, TRANSFER_LAB_CACHE=str(cwd / "cache"))
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "transfer_lab", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"exit {done.returncode}: {done.stderr.strip()[-600:]}")
    return time.perf_counter() - started


def fashion_job(trainer: list[str], dry: bool, where: Path) -> dict:
    """One job of the 100-epoch Fashion-MNIST recipe, wall time from the command line."""
    from benchmarks.fake_data import write_fashion_tree
    from transfer_lab.data.datasets.fashion_mnist import DEBIAN_FOLDER, MissingFiles, find_copy

    try:
        real = not dry and bool(find_copy(ROOT / "data", DEBIAN_FOLDER))
    except MissingFiles:
        real = False
    data = []
    if not real:  # the same sizes and format: the same wall time
        write_fashion_tree(where / "fashion", *((20, 10) if dry else (6000, 1000)))
        data = [f"data.root={where / 'fashion'}", "data.check_md5=false"]
    short = ["source.epochs=1", "target.epochs=1"] if dry else []
    job = [
        "+experiment=fashion_fraction",
        "transfer.arm=A4B+",
        "data.fraction=1.0",
        "data.split_seed=0",
        f"hydra.run.dir={where / 'run'}",
        *trainer,
        *data,
        *short,
    ]
    seconds = cli(job, where, timeout=420)
    results = json.loads((where / "run" / "results.json").read_text())
    return {
        "real_files": real,
        "wall_s": seconds,
        "source_s": results["source"]["seconds"],
        "target_s": results["target"]["seconds"],
        "target_test_acc": results["target"]["test_acc"],
        "epochs": [results["source"]["epochs"], results["target"]["epochs"]],
    }


def parallel_workers(trainer: list[str], dry: bool, where: Path, workers: int) -> dict:
    """A digits sweep of small networks: `workers` joblib workers on one GPU vs one at a time."""
    grid = (
        ["model.beta=0,0.4", "data.split_seed=0"]
        if dry
        else [
            "model.beta=0,0.2,0.4,0.67",
            "data.split_seed=0,1",
        ]
    )
    short = ["source.epochs=1", "target.epochs=1"] if dry else []
    base = ["+experiment=digits_beta", "sweep", *grid, *trainer, *short]
    one = cli([*base, f"hydra.sweep.dir={where / 'local'}"], where / "a", 300)
    many = cli(
        [
            *base,
            "launcher=parallel",
            f"hydra.launcher.n_jobs={workers}",
            f"hydra.sweep.dir={where / 'parallel'}",
        ],
        where / "b",
        300,
    )
    return {"workers": workers, "one_at_a_time_s": one, "parallel_s": many, "speedup": one / many}


def step(report: dict, name: str, run) -> None:
    started = time.perf_counter()
    try:
        report[name] = run()
    except Exception as error:  # noqa: BLE001 (recorded; the other steps still run)
        report[name] = {
            "error": f"{type(error).__name__}: {error}",
            "trace": traceback.format_exc(),
        }
    report[name]["step_s"] = round(time.perf_counter() - started, 1)
    print(f"{name}: {json.dumps(report[name], default=str)[:400]}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes, any device, seconds")
    parser.add_argument("--out", type=Path, default=None, help="where to write the JSON")
    parser.add_argument("--workers", type=int, default=4, help="parallel workers on the GPU")
    options = parser.parse_args(argv)
    gpu = torch.cuda.is_available()
    if not gpu and not options.dry_run:
        print(
            "error: no GPU is visible (torch.cuda.is_available() is false); run this on a "
            "GPU machine, or add --dry-run to try it here at tiny sizes.",
            file=sys.stderr,
        )
        return 2
    size = SIZES["dry" if options.dry_run else "full"]
    trainer = ["trainer=gpu"] if gpu else ["trainer=cpu"]
    started = time.perf_counter()
    report: dict = {
        "host": socket.gethostname(),
        "device": torch.cuda.get_device_name() if gpu else "cpu",
        "torch": torch.__version__,
        "dry_run": options.dry_run,
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        for backbone in ("wrn28_10", "densenet_bc"):
            step(report, backbone, lambda b=backbone: throughput(b, trainer, size))
        (where / "fashion").mkdir()
        step(
            report, "fashion_job", lambda: fashion_job(trainer, options.dry_run, where / "fashion")
        )
        workers = 2 if options.dry_run else options.workers
        for sub in ("a", "b"):
            (where / "parallel" / sub).mkdir(parents=True)
        step(
            report,
            "parallel",
            lambda: parallel_workers(trainer, options.dry_run, where / "parallel", workers),
        )
    report["seconds"] = round(time.perf_counter() - started, 1)
    kind = "gpu" if gpu else "cpu"
    out = options.out or ROOT / "benchmarks" / "results" / (
        f"{socket.gethostname()}-{kind}-{datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"written: {out} ({report['seconds']} s)")
    failed = [k for k, v in report.items() if isinstance(v, dict) and "error" in v]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
