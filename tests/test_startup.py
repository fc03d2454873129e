"""`report`, `list`, `--help` and a refused setting start without torch, whose import alone takes
seconds: each command runs in a fresh interpreter that then checks which modules it loaded."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from transfer_lab.store.results import JobResults, PhaseResults

REPO = Path(__file__).resolve().parents[1]


LIGHTNING = ("lightning", "pytorch_lightning", "lightning_fabric")
TORCH = ("torch", "torchvision", *LIGHTNING)


def run_without_torch(args: list[str], cwd: Path, unwanted: tuple[str, ...] = TORCH) -> str:
    """Run `python -m transfer_lab ARGS` in a new interpreter; fail if it imported torch (or
    another of the `unwanted` packages)."""
    code = (
        "import sys\n"
        "from transfer_lab.cli.main import main\n"
        "try:\n"
        f"    code = main({args!r})\n"
        "except SystemExit as stop:\n"
        "    code = stop.code\n"
        f"loaded = sorted(m for m in sys.modules if m.split('.')[0] in {unwanted!r})\n"
        "assert not loaded, f'imported {loaded[:5]}'\n"
        "sys.exit(code)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def write_job(sweep: Path, number: int, beta: float, split_seed: int, target: float) -> None:
    job = sweep / str(number)
    (job / ".hydra").mkdir(parents=True)
    overrides = [f"model.beta={beta:g}", f"data.split_seed={split_seed}"]
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    JobResults(
        status="ok",
        experiment="fixture",
        dataset="digits",
        split_seed=split_seed,
        seed=0,
        treatment="transfer",
        label="A4B+",
        family="AnB+",
        depth=4,
        freeze=False,
        lr_scale=1.0,
        beta=beta,
        binary_heads=1,
        overrides=overrides,
        config={"data": {"fraction": 1.0, "per_class": None}},
        source=PhaseResults(trained=True, cache_key=f"k{split_seed}{beta}", val_acc=0.9),
        target=PhaseResults(val_acc=target, test_acc=target),
    ).write(job)


def test_report_on_a_finished_sweep_does_not_import_torch(tmp_path):
    sweep = tmp_path / "sweep"
    for number, (beta, split_seed, target) in enumerate(
        [(0.0, 0, 0.80), (0.0, 1, 0.70), (0.4, 0, 0.84), (0.4, 1, 0.72)]
    ):
        write_job(sweep, number, beta, split_seed, target)
    out = run_without_torch(["report", str(sweep), "--no-anchors"], tmp_path)
    assert "paired, β vs β=0" in out
    summary = pd.read_csv(sweep / "summary.csv")
    assert summary["target_test_acc_mean"].tolist() == [0.75, 0.78]
    assert (sweep / "figures" / "beta.png").exists()


def test_list_reads_only_the_configs(tmp_path):
    out = run_without_torch(["list"], tmp_path)
    for word in ("digits_beta", "fashion_mnist", "densenet_bc_layers", "list backbones"):
        assert word in out
    assert "digits_fraction" in run_without_torch(["list", "experiments"], tmp_path)


def test_help_composes_the_configs_without_torch(tmp_path):
    assert "backbone: " in run_without_torch(["--help"], tmp_path)


REFUSED_SWEEP = ["+experiment=digits_yosinski", "model.beta=2", "sweep"]


def test_a_bad_value_is_refused_without_torch_in_under_two_seconds_of_cpu(tmp_path):
    """What `python -X importtime` shows a refusal importing, and the CPU it costs, for a sweep
    of 170 jobs (the value is refused on the sweep's config, before each job is composed)."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "transfer_lab", *REFUSED_SWEEP],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = done.stderr.splitlines()
    imported = [line.rsplit("|", 1)[-1].strip() for line in lines if line.startswith("import time")]
    assert done.returncode == 2
    assert [line for line in lines if not line.startswith("import time")] == [
        "error: model.beta=2 is out of range; it must be in [0, 1], e.g. model.beta=0.4."
    ]
    assert "transfer_lab.config.checks" in imported
    assert not [m for m in imported if m.split(".")[0] in TORCH]
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    assert cpu < 2.0, f"{cpu:.2f} s of CPU"
    assert not (tmp_path / "multirun").exists()


def test_list_datasets_reads_only_the_configs(tmp_path):
    out = run_without_torch(["list", "datasets"], tmp_path)
    assert "fashion_mnist" in out and "digits_beta" not in out


def test_list_backbones_reads_the_shipped_table_without_torch(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    listed = run_without_torch(["list", "backbones"], tmp_path)  # a first call: no torch either
    assert "lenet" in listed and "densenet_bc_layers" in listed and "block1_layer01" in listed
    resnets = run_without_torch(["list", "backbones", "--pattern", "resnet*"], tmp_path)
    assert "resnet56" in resnets and "lenet" not in resnets


def test_code_the_shipped_table_was_not_built_from_is_built_once_then_read(tmp_path, monkeypatch):
    from transfer_lab.cli import listing

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(listing, "PACKAGED", tmp_path / "none.json")  # as if the code changed
    calls = []
    monkeypatch.setattr(
        listing, "built_rows", lambda: calls.append(1) or [("lenet", "lenet", 1, 2, ["a"])]
    )
    assert listing.backbone_rows("*") == [("lenet", 1, 2, ["a"])]
    assert listing.backbone_rows("*") == [("lenet", 1, 2, ["a"])] and calls == [1]


def test_the_shipped_backbone_table_is_what_this_code_builds():
    import json

    from transfer_lab.cli.listing import PACKAGED, built_rows, code_digest

    renew = (
        "renew it: .venv/bin/python -c 'from transfer_lab.cli.listing import "
        "write_packaged_table as w; w()'"
    )
    packaged = json.loads(PACKAGED.read_text())
    assert packaged["code"] == code_digest(), renew
    assert packaged["rows"] == json.loads(json.dumps(built_rows())), renew


FIRST_LINE = """
import builtins, sys, time
from transfer_lab.cli.main import main

def first_line(*args, **kwargs):
    heavy = sorted(m for m in sys.modules if m.split('.')[0] in {torch!r})
    sys.__stdout__.write(f"{{time.process_time():.2f}} {{','.join(heavy[:3]) or '-'}} {{args[0]}}\\n")
    raise SystemExit(0)

builtins.print = first_line
main({args!r})
"""


def test_a_sweeps_first_line_comes_before_torch_within_a_second_of_cpu(tmp_path):
    """What a researcher sees first: the pre-run check says what it checks before composing
    170 jobs and importing torch (seconds, on a busy machine many)."""
    code = FIRST_LINE.format(torch=TORCH, args=["+experiment=digits_yosinski", "sweep"])
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    cpu, heavy, line = done.stdout.split(" ", 2)
    assert line.strip() == "checking 170 jobs before anything runs …"
    assert heavy == "-", f"imported {heavy} first"
    assert float(cpu) < 1.0, f"{cpu} s of CPU before the first line"
    assert not (tmp_path / "multirun").exists()


@pytest.mark.slow  # a new interpreter that imports torch: seconds
def test_the_checks_before_a_sweep_build_backbones_without_lightning(tmp_path):
    """The pre-run check imports torch to build each backbone on the meta device, never
    Lightning (seconds more), which only a job that trains needs."""
    code = (
        "import sys\n"
        "from transfer_lab.cli.main import check_before_running\n"
        "check_before_running('sweep', ['model.beta=0,0.4'])\n"
        "assert 'torch' in sys.modules, 'the backbones were not built'\n"
        f"loaded = sorted(m for m in sys.modules if m.split('.')[0] in {LIGHTNING!r})\n"
        "assert not loaded, f'imported {loaded[:5]}'\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("checking 2 jobs before anything runs …")
    assert not (tmp_path / "multirun").exists()
