"""`make bench`: what transfer_lab's machinery costs on top of the training it runs, in one run.

1. data path: device-resident batches vs torchvision's DataLoader, same augmentation;
2. epoch: one epoch of transfer_lab's Trainer and module (as the pipeline builds them) vs a plain
   PyTorch loop on the same network, batches, optimiser and precision (LeNet on digits,
   ResNet-20 on CIFAR-shaped random uint8 images); the ratio is the framework's cost per epoch;
3. sweep: the digits_yosinski sweep through `transfer_lab.cli.main.main` (fresh source cache, with
   `measures.enabled=false`: the plain loop computes no transferability measures) vs a plain
   loop doing the same trainings (BnB cut from baseB's network, as the pipeline does): wall
   time, networks trained, share outside training steps;
4. GPU only: WRN-28-10 and DenseNet-BC-100 images/s in bf16 + channels_last vs fp32.

The two sides of every comparison run in turns (`--repeats`) and report medians, so a busy
machine slows both alike. Training runs on `--threads` torch threads (default 1: on a shared
2-core machine two intra-op threads thrash, and the step times stop meaning anything). Prints a
table and writes a JSON file (default benchmarks/results/<host>-<time>.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import clocks, loader_speed, plain_loop  # noqa: E402

EXPERIMENT = "digits_yosinski"
DEFAULT_ROWS = ["data", "epoch", "real", "plan", "user", "gpu"]


def load() -> float:
    return round(os.getloadavg()[0], 2)


def median_epoch(starts: list[list[float]], skip: int = 1) -> float:
    """Median epoch length over fits, leaving out each fit's first `skip` epochs (warm-up)."""
    lengths = [b - a for fit in starts for a, b in zip(fit[skip:-1], fit[skip + 1 :], strict=True)]
    return statistics.median(lengths)


def compose(overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from transfer_lab.config.paths import config_dir

    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        return hydra_compose("config", overrides=[*overrides, f"paths.root_dir={ROOT}"])


def plain_optimizer(module):
    configured = module.configure_optimizers()
    return configured["optimizer"] if isinstance(configured, dict) else configured


def plain_fit(module, datamodule, epochs: int, device: torch.device, bf16: bool, test_epochs=()):
    """Run plain_loop.train on the batches the job's data module serves, on `device`."""
    if device.type != "cpu":  # the data module reads its device from a trainer; lend it one
        from types import SimpleNamespace

        datamodule.trainer = SimpleNamespace(strategy=SimpleNamespace(root_device=device))
    return plain_loop.train(
        module.to(device),
        plain_optimizer(module),
        datamodule.train_dataloader(),
        datamodule.val_dataloader(),
        datamodule.test_dataloader(),
        epochs,
        device,
        bf16,
        set(test_epochs),
    )


# --- 2. one epoch: transfer_lab vs the plain loop --------------------------------------------


def random_cifar(n_train: int, n_test: int):
    """CIFAR-shaped random uint8 images, 10 classes, and a task over all of them."""
    from transfer_lab.data.images import ImageSet
    from transfer_lab.data.loading import DataSettings
    from transfer_lab.data.splits import make_task

    g = torch.Generator().manual_seed(0)
    images = ImageSet(
        name="random-cifar",
        train_images=torch.randint(0, 256, (n_train, 3, 32, 32), dtype=torch.uint8, generator=g),
        train_labels=torch.arange(n_train) % 10,
        test_images=torch.randint(0, 256, (n_test, 3, 32, 32), dtype=torch.uint8, generator=g),
        test_labels=torch.arange(n_test) % 10,
        class_names=[str(c) for c in range(10)],
    )
    images.settings = DataSettings("cifar", None, None, 128, 1024, 0)
    task = make_task(
        images.train_labels.numpy(), images.test_labels.numpy(), range(10), 0, val_fraction=0.2
    )
    return images, task


def epoch_case(
    name: str,
    overrides: list[str],
    data,
    epochs: int,
    repeats: int,
    fast: list[str] | None = None,
) -> dict:
    """Per-epoch seconds of transfer_lab's fit and of the plain loop (at the job's precision),
    in turns, medians. `fast`: overrides
    of a third side, transfer_lab's fit on another path (trainer=cpu_fast), taking its turn too
    and compared with the same plain loop."""
    import pytorch_lightning as pl

    from transfer_lab.data.loading import datamodule_for
    from transfer_lab.data.tasks import build_job_data
    from transfer_lab.job.networks import build_module
    from transfer_lab.train.fit import derived_seed, fit_and_test
    from transfer_lab.train.folders import RunFolders
    from transfer_lab.train.trainer import precision_for

    clock = [
        f"source.epochs={epochs}",
        "+callbacks.epoch_clock._target_=benchmarks.clocks.EpochClock",
    ]
    cfg = compose([*overrides, *clock])
    sides = {"transfer_lab": cfg}
    if fast is not None:
        sides["fast"] = compose([*overrides, *fast, *clock])
    if data is None:
        job = build_job_data(cfg)
        images, task = job.source_images, job.task_a
    else:
        images, task = data
    precision = precision_for(cfg.trainer.precision)
    bf16 = precision == "bf16-mixed"
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    seed = derived_seed(cfg.seed, "source")
    starts: dict[str, list] = {side: [] for side in [*sides, "plain"]}
    val, test = {}, {}
    clocks.reset()
    for _ in range(repeats):
        for side, side_cfg in sides.items():
            with tempfile.TemporaryDirectory() as tmp:
                folders = RunFolders(Path(tmp), Path(tmp) / "tensorboard", "bench")
                pl.seed_everything(seed, verbose=False)
                module = build_module(side_cfg, side_cfg.source, images, task, beta=0.0)
                fitted = fit_and_test(
                    module,
                    datamodule_for(images, task, seed),
                    "source",
                    side_cfg.source,
                    side_cfg,
                    folders,
                )
            starts[side].append(clocks.EPOCH_STARTS[-1])
            val[side], test[side] = fitted.results.val_acc, fitted.results.test_acc
        pl.seed_everything(seed, verbose=False)
        module = build_module(cfg, cfg.source, images, task, beta=0.0)
        run = plain_fit(module, datamodule_for(images, task, seed), epochs, device, bf16)
        starts["plain"].append(run.epoch_starts)
        val["plain"], test["plain"] = run.val_acc, run.test_acc
    a, b = median_epoch(starts["transfer_lab"]), median_epoch(starts["plain"])
    row = {
        "case": name,
        "train_images": len(task.train),
        "val_images": len(task.val),
        "batch_size": images.settings.batch_size,
        "precision": precision,
        "epochs_per_fit": epochs,
        "repeats": repeats,
        "transfer_lab_s_per_epoch": a,
        "plain_s_per_epoch": b,
        "ratio": a / b,
        "val_acc": val,
        "test_acc": test,
    }
    if fast is not None:
        row["fast"] = {
            "overrides": fast,
            "precision": precision_for(sides["fast"].trainer.precision),
            "s_per_epoch": median_epoch(starts["fast"]),
            "ratio": median_epoch(starts["fast"]) / b,
        }
    return row


# --- 3. the digits_yosinski sweep vs the plain loop ------------------------------------------


def sweep_arms() -> list[str]:
    from omegaconf import OmegaConf

    from transfer_lab.config.paths import config_dir

    grid = OmegaConf.load(config_dir() / "experiment" / f"{EXPERIMENT}.yaml").hydra.sweeper.params
    return [a.strip() for a in str(grid["transfer.arm"]).split(",")]


def networks_trained(results: dict) -> int:
    """Networks a job's results.json says it trained: its source if the cache lacked it, and its
    target unless that is baseB's network reused from the cache (a source-phase job has none)."""
    source, target = results.get("source") or {}, results.get("target") or {}
    reused = target.get("cache_key") is not None and not target.get("trained")
    return int(bool(source.get("trained"))) + int(bool(target) and not reused)


def run_sweep(seeds: list[int], where: Path) -> dict:
    """The sweep as a user runs it, in this process, with a fresh cache; its own figures."""
    from transfer_lab.cli import main as cli

    clocks.reset()
    sweep_dir = where / "sweep"
    started = time.perf_counter()
    code = cli.main(
        [
            "sweep",
            f"+experiment={EXPERIMENT}",
            f"data.split_seed={','.join(map(str, seeds))}",
            f"hydra.sweep.dir={sweep_dir}",
            f"paths.cache_dir={where / 'cache'}",
            "measures.enabled=false",  # the plain loop computes no transferability measures
            "+callbacks.step_clock._target_=benchmarks.clocks.StepClock",
        ]
    )
    wall = time.perf_counter() - started
    results = [json.loads(p.read_text()) for p in sweep_dir.glob("*/results.json")]
    firsts = [json.loads(p.read_text()) for p in sweep_dir.glob("sources/*/results.json")]
    return {
        "exit_code": code,
        "wall_s": wall,
        "jobs": len(results),
        "networks_trained": sum(networks_trained(r) for r in results + firsts),
        "training_steps_s": sum(clocks.STEP_SECONDS),
        "steps": len(clocks.STEP_SECONDS),
        "mean_target_test_acc": statistics.mean(r["target"]["test_acc"] for r in results),
        "test_acc_by_arm": {r["label"]: r["target"]["test_acc"] for r in results},
    }


def run_plain(seeds: list[int], epoch_tests: bool = True) -> dict:
    """The same trainings by hand, as the pipeline does them: per split seed, A's source and
    baseB's network once each; then every arm's target, BnB cut from baseB's network with its
    fresh layers on the selffer seed stream, and the baseB arm reusing baseB's network. Each
    network is tested at the epochs the study's statistic needs (every epoch for Yosinski's
    mean of the 10 best), as the job tests it: without those tests there is no result to
    set beside the paper's (`epoch_tests=False` leaves them out, for the row that leaves them
    out of the sweep too)."""
    import pytorch_lightning as pl
    from omegaconf import OmegaConf

    from transfer_lab.data.loading import datamodule_for
    from transfer_lab.data.tasks import build_job_data
    from transfer_lab.job.networks import build_module, stage_names, target_schedule
    from transfer_lab.job.target import BASEB
    from transfer_lab.test_epochs import epochs_to_test
    from transfer_lab.train.fit import derived_seed
    from transfer_lab.transfer.treatments import plan_from_config

    device = torch.device("cpu")
    started = time.perf_counter()
    steps, trained, accuracies, by_arm = [], 0, [], {}

    def fit(cfg, job, plan, init_stream: str, source_state=None):
        """B's network as train_on_b builds it: `init_stream` seeds its fresh layers, the
        target stream its batches."""
        nonlocal steps, trained
        pl.seed_everything(derived_seed(cfg.seed, init_stream), verbose=False)
        schedule = target_schedule(cfg.target, plan)
        module = build_module(
            cfg,
            schedule,
            job.target_images,
            job.task_b,
            beta=0.0,
            plan=plan,
            source_state=source_state,
        )
        dm = datamodule_for(job.target_images, job.task_b, derived_seed(cfg.seed, "target"))
        tests = epochs_to_test(cfg.get("paper"), schedule, on_b=True) if epoch_tests else []
        run = plain_fit(module, dm, int(schedule.epochs), device, False, tests)
        steps += run.step_seconds
        trained += 1
        return module, run

    for split_seed in seeds:
        cfg = compose([f"+experiment={EXPERIMENT}", f"data.split_seed={split_seed}"])
        job = build_job_data(cfg)
        stages = stage_names(cfg.backbone, job.source_images)
        seed = derived_seed(cfg.seed, "source")
        pl.seed_everything(seed, verbose=False)
        module = build_module(
            cfg, cfg.source, job.source_images, job.task_a, beta=float(cfg.model.beta)
        )
        dm = datamodule_for(job.source_images, job.task_a, seed)
        tests = epochs_to_test(cfg.get("paper"), cfg.source, on_b=False) if epoch_tests else []
        run = plain_fit(module, dm, int(cfg.source.epochs), device, False, tests)
        steps += run.step_seconds
        trained += 1
        sources = {"A": {k: v.detach().clone() for k, v in module.backbone.state_dict().items()}}
        module, base_b = fit(cfg, job, BASEB, "target")
        sources["B"] = {k: v.detach().clone() for k, v in module.backbone.state_dict().items()}
        for arm in sweep_arms():
            transfer = OmegaConf.merge(cfg.transfer, {"arm": arm})
            plan = plan_from_config(transfer, stages)
            if plan.treatment == "scratch":  # the baseB arm: baseB's network, already trained
                accuracies.append(base_b.test_acc)
                by_arm[plan.label] = base_b.test_acc
                continue
            stream = "selffer" if plan.source_task == "B" else "target"
            _, run = fit(cfg, job, plan, stream, sources.get(plan.source_task))
            accuracies.append(run.test_acc)
            by_arm[plan.label] = run.test_acc
    return {
        "wall_s": time.perf_counter() - started,
        "jobs": len(accuracies),
        "networks_trained": trained,
        "training_steps_s": sum(steps),
        "steps": len(steps),
        "mean_target_test_acc": statistics.mean(accuracies),
        "test_acc_by_arm": by_arm,
    }


def sweep_comparison(seeds: list[int]) -> dict:
    """One sweep per split seed (fresh cache each), each followed by the plain loop's turn."""
    rounds = []
    for seed in seeds:
        with tempfile.TemporaryDirectory() as tmp:
            ours = run_sweep([seed], Path(tmp))
        rounds.append((ours, run_plain([seed])))
    sides = {}
    for name, index in (("transfer_lab", 0), ("plain", 1)):
        runs = [r[index] for r in rounds]
        per_round = ("mean_target_test_acc", "test_acc_by_arm")
        side = {k: sum(r[k] for r in runs) for k in runs[0] if k not in per_round}
        side["mean_target_test_acc"] = statistics.mean(r["mean_target_test_acc"] for r in runs)
        side["test_acc_by_arm"] = [r["test_acc_by_arm"] for r in runs]  # one dict per split seed
        side["per_job_s"] = side["wall_s"] / side["jobs"]
        side["outside_steps_share"] = 1 - side["training_steps_s"] / side["wall_s"]
        sides[name] = side
    per_seed = [ours["wall_s"] / plain["wall_s"] for ours, plain in rounds]
    return {
        "experiment": EXPERIMENT,
        "split_seeds": seeds,
        **sides,
        "per_seed_ratio": per_seed,
        "ratio": statistics.median(per_seed),
    }


# --- 3b. the sweep as a user runs it: a fresh process, imports included -----------------------


def fresh_process(code_or_args: list[str], cwd: Path, threads: int, module: bool = True) -> float:
    """Wall seconds of a fresh Python process (`-m transfer_lab ARGS`, or `-c CODE`) computing
    on `threads` CPU threads (OMP_NUM_THREADS, which torch reads at start)."""
    import subprocess

    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = dict(
        os.environ,
        PYTHONPATH=path,
        TRANSFER_LAB_CACHE=str(cwd / "cache"),
        OMP_NUM_THREADS=str(threads),
    )
    command = ["-m", "transfer_lab", *code_or_args] if module else ["-c", *code_or_args]
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *command], cwd=cwd, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"exit {done.returncode}: {done.stderr.strip()[-800:]}")
    return time.perf_counter() - started


def user_sweep(seeds: list[int], threads: int, epoch_tests: bool = True) -> dict:
    """`python -m transfer_lab +experiment=digits_yosinski sweep data.split_seed=0,1,…` in a
    fresh process with a fresh cache, against the plain loop's same trainings in a fresh
    process of its own (imports included on both sides). `epoch_tests=False`: both sides
    without the per-epoch tests of the paper's statistic (`*.test_epochs=none`, and so no
    paper statistic)."""
    untested = ["source.test_epochs=none", "target.test_epochs=none", "paper.statistic=null"]
    untested = [] if epoch_tests else untested  # (mean_best without its tests is refused)
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        ours = fresh_process(
            [
                f"+experiment={EXPERIMENT}",
                "sweep",
                f"data.split_seed={','.join(map(str, seeds))}",
                f"hydra.sweep.dir={where / 'sweep'}",
                "measures.enabled=false",
                *untested,
            ],
            where,
            threads,
        )
        jobs = len(list((where / "sweep").glob("*/results.json")))
        code = f"from benchmarks import run_all; run_all.run_plain({seeds!r}, {epoch_tests})"
        plain = fresh_process([code], where, threads, module=False)
    return {
        "experiment": EXPERIMENT,
        "split_seeds": seeds,
        "jobs": jobs,
        "epoch_tests": epoch_tests,
        "transfer_lab_wall_s": ours,
        "plain_wall_s": plain,
        "ratio": ours / plain,
    }


# --- 3c. planning a large grid on full-size data --------------------------------------------


def planning(where: Path, per_class: tuple[int, int] = (500, 100), grid: list[str] = ()) -> dict:
    """The `yosinski` grid (116 jobs) on a full-size CIFAR-100 tree in the real pickle format:
    the pre-flight's compositions, then the sweeper's plan of each job (what source it needs:
    the data read once, split, the source's definition), as `sweep` runs them."""
    from hydra.core.hydra_config import HydraConfig

    from benchmarks.fake_data import write_cifar100_tree
    from transfer_lab.cli.preflight import check_command_line
    from transfer_lab.data import loading
    from transfer_lab.job.pipeline import source_needed
    from transfer_lab.sweep import compose

    write_cifar100_tree(where / "data", *per_class)
    compose.forget()
    loading._READ.clear()
    args = [
        "+experiment=yosinski",
        f"paths.data_dir={where / 'data'}",
        "data.check_md5=false",
        f"hydra.sweep.dir={where / 'sweep'}",
        *grid,  # a smaller grid (the tests)
    ]
    started = time.perf_counter()
    master = check_command_line(args, multirun=True)  # composes, checks, reads the data
    preflight = time.perf_counter() - started
    loading._READ.clear()  # the plan's first job reads it, as when the pre-flight did not
    jobs = list(compose._COMPOSED.values())
    seconds = []
    HydraConfig.instance().set_config(master)
    for cfg in jobs:  # as the sweeper's source_to_train
        started = time.perf_counter()
        source_needed(cfg)
        seconds.append(time.perf_counter() - started)
    compose.forget()
    loading._READ.clear()
    return {
        "experiment": "yosinski",
        "jobs": len(jobs),
        "train_images": 100 * per_class[0],
        "preflight_s": preflight,
        "preflight_s_per_job": preflight / len(jobs),
        "first_job_s": seconds[0],
        "per_job_after_first_s": statistics.mean(seconds[1:]),
    }


# --- 2b. the real-data epoch: Fashion-MNIST, default and fast paths ----------------------------


def real_epoch(epochs: int, repeats: int) -> dict | None:
    """The Fashion-MNIST source epoch (LeNet, batch 256) of transfer_lab's default CPU path and
    of its fast path (trainer=cpu_fast), each against the same plain fp32 loop, in turns."""
    from transfer_lab.data.datasets.fashion_mnist import DEBIAN_FOLDER, MissingFiles, find_copy

    try:
        find_copy(ROOT / "data", DEBIAN_FOLDER)
    except MissingFiles:
        return None  # `make fashion-data` first
    return epoch_case(
        "LeNet / Fashion-MNIST",
        ["+experiment=fashion_fraction", "trainer=cpu"],
        None,
        epochs,
        repeats,
        # the recipe pins fp32; the fast path leaves it explicitly
        fast=["trainer=cpu_fast", "trainer.precision=bf16-mixed"],
    )


# --- 4. GPU: bf16 + channels_last vs fp32 ----------------------------------------------------


def gpu_throughput(backbone: str, steps: int, repeats: int, batch_size: int = 128) -> dict:
    from torch import nn

    from transfer_lab.models.registry import backbone_from_config

    cfg = compose([f"backbone={backbone}"])
    device = torch.device("cuda")
    rates: dict[str, list[float]] = {"fp32": [], "bf16_channels_last": []}
    x = torch.randn(batch_size, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (batch_size,), device=device)
    for _ in range(repeats):
        for mode in rates:
            net = backbone_from_config(cfg.backbone, 3, 32)
            model = nn.Sequential(net, nn.Linear(net.feature_dim, 10)).to(device)
            fast = mode != "fp32"
            images = x
            if fast:
                model = model.to(memory_format=torch.channels_last)
                images = x.to(memory_format=torch.channels_last)
            opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
            for i in range(steps + 3):  # three warm-up steps
                if i == 3:
                    torch.cuda.synchronize()
                    started = time.perf_counter()
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=fast):
                    loss = nn.functional.cross_entropy(model(images), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            torch.cuda.synchronize()
            rates[mode].append(steps * batch_size / (time.perf_counter() - started))
    medians = {k: statistics.median(v) for k, v in rates.items()}
    return {
        "backbone": backbone,
        "batch_size": batch_size,
        "images_per_s": medians,
        "ratio": medians["bf16_channels_last"] / medians["fp32"],
    }


# --- the table --------------------------------------------------------------------------------


def render(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"transfer_lab bench · {report['machine']}")
    for column in ("what", "transfer_lab", "baseline", "ratio", "goal"):
        table.add_column(column, justify="left" if column == "what" else "right")
    d = report.get("data_path")
    if d:
        table.add_row(
            f"data path, {d['images']} CIFAR images on {d['device']} (images/s)",
            f"{d['fast_images_per_s']:,.0f}",
            f"{d['dataloader_images_per_s'][str(d['best_workers'])]:,.0f} "
            f"(DataLoader, {d['best_workers']} workers)",
            f"{d['ratio']:.1f}× faster",
            "≥ 5×",
        )
    for e in report.get("epochs", []):
        table.add_row(
            f"epoch, {e['case']} ({e['train_images']} + {e['val_images']} val images, "
            f"{e['precision']}) s/epoch",
            f"{e['transfer_lab_s_per_epoch']:.3f}",
            f"{e['plain_s_per_epoch']:.3f} (plain loop)",
            f"{e['ratio']:.2f}×",
            "≤ 1.10×" if "ResNet" in e["case"] else "",
        )
    s = report.get("sweep")
    if s:
        ours, plain = s["transfer_lab"], s["plain"]
        table.add_row(
            f"{s['experiment']} sweep (measures off), split seeds {s['split_seeds']}: wall s",
            f"{ours['wall_s']:.1f}",
            f"{plain['wall_s']:.1f} (plain loop)",
            f"{s['ratio']:.2f}× (median of {', '.join(f'{r:.2f}' for r in s['per_seed_ratio'])})",
            "≤ 1.5×",
        )
        table.add_row(
            "  seconds per job",
            f"{ours['per_job_s']:.2f}",
            f"{plain['per_job_s']:.2f}",
            f"{ours['per_job_s'] / plain['per_job_s']:.2f}×",
            "",
        )
        table.add_row(
            "  networks trained (jobs)",
            f"{ours['networks_trained']} ({ours['jobs']})",
            f"{plain['networks_trained']} ({plain['jobs']})",
            "",
            "",
        )
        table.add_row(
            "  share of time outside training steps",
            f"{ours['outside_steps_share']:.0%}",
            f"{plain['outside_steps_share']:.0%}",
            "",
            "",
        )
        table.add_row(
            "  mean target test accuracy",
            f"{ours['mean_target_test_acc']:.4f}",
            f"{plain['mean_target_test_acc']:.4f}",
            "",
            "",
        )
    e = report.get("real_epoch")
    if e:
        acc = e["test_acc"]
        table.add_row(
            f"epoch, {e['case']} ({e['train_images']} + {e['val_images']} val, "
            f"{e['precision']}), s; test acc {acc['transfer_lab']:.4f} vs {acc['plain']:.4f}",
            f"{e['transfer_lab_s_per_epoch']:.2f}",
            f"{e['plain_s_per_epoch']:.2f} (plain fp32 loop)",
            f"{e['ratio']:.2f}×",
            "≤ 1.05×",
        )
        f = e["fast"]
        table.add_row(
            f"  … trainer=cpu_fast ({f['precision']}), s; test acc {acc['fast']:.4f}",
            f"{f['s_per_epoch']:.2f}",
            f"{e['plain_s_per_epoch']:.2f} (plain fp32 loop)",
            f"{f['ratio']:.2f}×",
            "≤ 0.67×",
        )
    g = report.get("planning")
    if g:
        table.add_row(
            f"planning the {g['experiment']} grid ({g['jobs']} jobs, full-size CIFAR-100): "
            f"s per job after the first (first {g['first_job_s']:.1f} s)",
            f"{g['per_job_after_first_s']:.3f}",
            f"pre-flight {g['preflight_s_per_job']:.3f} s/job",
            "",
            "≤ 0.1 s",
        )
    u = report.get("user_sweep")
    if u:
        table.add_row(
            f"{u['experiment']} sweep from the command line, split seeds {u['split_seeds']} "
            f"({u['jobs']} jobs, fresh processes, per-epoch tests on both sides): wall s",
            f"{u['transfer_lab_wall_s']:.1f}",
            f"{u['plain_wall_s']:.1f} (plain loop)",
            f"{u['ratio']:.2f}×",
            "≤ 1.5×",
        )
    u = report.get("user_sweep_untested")
    if u:
        table.add_row(
            "  … both sides without the per-epoch tests (test_epochs=none): wall s",
            f"{u['transfer_lab_wall_s']:.1f}",
            f"{u['plain_wall_s']:.1f} (plain loop)",
            f"{u['ratio']:.2f}×",
            "",
        )
    for g in report.get("gpu", []):
        table.add_row(
            f"{g['backbone']} train images/s, bf16 + channels_last vs fp32",
            f"{g['images_per_s']['bf16_channels_last']:,.0f}",
            f"{g['images_per_s']['fp32']:,.0f} (fp32)",
            f"{g['ratio']:.2f}×",
            "≥ 2×" if g["backbone"] == "wrn28_10" else "",
        )
    console = Console(width=140)
    console.print(table)
    console.print(report["note"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="where to write the JSON")
    parser.add_argument(
        "--split-seeds", type=int, default=2, help="split seeds of the sweep, one round each"
    )
    parser.add_argument("--repeats", type=int, default=3, help="rounds of each comparison")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=[*DEFAULT_ROWS, "sweep"],
        default=None,
        help="rows to measure (sweep: the in-process sweep, one round per split seed)",
    )
    parser.add_argument("--real-epochs", type=int, default=3, help="epochs per Fashion fit")
    options = parser.parse_args(argv)
    only = set(options.only or DEFAULT_ROWS)
    torch.set_num_threads(options.threads)
    started = time.perf_counter()
    load_before = load()
    report: dict[str, Any] = {
        "machine": f"{socket.gethostname()}, {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}",
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "torch": torch.__version__,
        "threads": options.threads,
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "load_average": {"start": load_before},
    }
    if "data" in only:
        report["data_path"] = loader_speed.compare(images=5_000, repeats=options.repeats)
        report["load_average"]["after_data"] = load()
        if torch.cuda.is_available():
            report["data_path_gpu"] = loader_speed.compare(
                images=10_000, repeats=options.repeats, device="cuda"
            )
    if "epoch" in only:
        report["epochs"] = [
            epoch_case("LeNet / digits", [], None, epochs=6, repeats=options.repeats),
            epoch_case(
                "ResNet-20 / CIFAR-shaped",
                ["backbone=resnet20"],
                random_cifar(640, 128),
                epochs=3,
                repeats=options.repeats,
            ),
        ]
        report["load_average"]["after_epoch"] = load()
    if "sweep" in only:
        report["sweep"] = sweep_comparison(list(range(options.split_seeds)))
        report["load_average"]["after_sweep"] = load()
    if "real" in only:
        report["real_epoch"] = real_epoch(options.real_epochs, repeats=1)
        report["load_average"]["after_real_epoch"] = load()
    if "plan" in only:
        with tempfile.TemporaryDirectory() as tmp:
            report["planning"] = planning(Path(tmp))
        report["load_average"]["after_planning"] = load()
    if "user" in only:
        seeds = list(range(max(options.split_seeds, 2)))
        report["user_sweep"] = user_sweep(seeds, options.threads)
        report["load_average"]["after_user_sweep"] = load()
        report["user_sweep_untested"] = user_sweep(seeds, options.threads, epoch_tests=False)
        report["load_average"]["after_user_sweep_untested"] = load()
    if "gpu" in only and torch.cuda.is_available():
        report["gpu"] = [
            gpu_throughput("wrn28_10", steps=20, repeats=options.repeats),
            gpu_throughput("densenet_bc", steps=20, repeats=options.repeats),
        ]
    gpu_line = (
        "" if torch.cuda.is_available() else " No GPU: the bf16/channels_last rows are skipped."
    )
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["note"] = (
        f"{report['machine']}; torch {report['torch']} on {options.threads} thread(s); "
        f"load average {report['load_average']}; {report['seconds']} s in all.{gpu_line}"
    )
    out = options.out or ROOT / "benchmarks" / "results" / (
        f"{socket.gethostname()}-{datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    render(report)
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
