"""A sweep does each thing once: one refusal for missing data or an unbuildable backbone, one
composition per job, one read per dataset."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from tests.formats import write_cifar100

REPO = Path(__file__).resolve().parents[1]


def run_cli(args: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess, float, float]:
    """`python -m transfer_lab ARGS` in a fresh process: what it did, wall and CPU seconds."""
    path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, PYTHONPATH=path, TRANSFER_LAB_CACHE=str(cwd / "cache"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "transfer_lab", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return done, wall, cpu


def test_a_missing_dataset_is_refused_once_for_the_whole_grid_before_any_folder(tmp_path):
    done, wall, _ = run_cli(
        ["+experiment=yosinski", "sweep", f"paths.data_dir={tmp_path / 'nowhere'}"], tmp_path
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("error: CIFAR-100 is missing train, test")
    assert "data.root=PATH" in lines[0]
    assert not (tmp_path / "multirun").exists() and not (tmp_path / "cache").exists()
    assert wall < 5, f"{wall:.1f} s"  # no job composed, no torch imported


@pytest.mark.slow  # imports torch, as a run that trains does anyway
def test_a_backbone_that_cannot_be_built_is_refused_before_any_folder(tmp_path):
    done, _, cpu = run_cli(
        ["+experiment=digits_beta", "+backbone._target_=torch.nn.Linear"], tmp_path
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("error: the backbone torch.nn.Linear cannot")
    assert "in_channels and image_size" in lines[0] and "InstantiationException" not in lines[0]
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "multirun").exists()
    # torch and the checks' imports, one composition, one meta-device build (5 s once the
    # config checks import no Lightning)
    assert cpu < 12, f"{cpu:.1f} s of CPU"


def test_the_files_each_reader_needs_are_torchvisions():
    from torchvision import datasets

    from transfer_lab.data.datasets import cifar10, idx, svhn

    for name, cls in (("CIFAR-10", datasets.CIFAR10), ("CIFAR-100", datasets.CIFAR100)):
        folder, archive, names = cifar10.CIFAR[name]
        assert (folder, archive) == (cls.base_folder, cls.filename)
        assert names == [f for f, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]]
    assert [datasets.SVHN.split_list[s][1] for s in ("train", "test")] == svhn.SVHN_FILES
    assert [Path(f).stem for f, _ in datasets.MNIST.resources] == list(idx.IDX_FILES)


def test_a_dataset_is_read_once_per_process_until_its_files_change(tmp_path, monkeypatch):
    from transfer_lab.data import loading

    monkeypatch.setattr(loading, "_READ", {})
    folder = write_cifar100(tmp_path)
    data = OmegaConf.create(
        {
            "reader": {"_target_": "transfer_lab.data.datasets.cifar100.load_cifar100"},
            "root": str(tmp_path),
            "download": False,
            "check_md5": False,
            "batch_size": 8,
            "eval_batch_size": 8,
        }
    )
    first, second = loading.load_images(data), loading.load_images(data)
    assert second is not first  # each job its own settings ...
    assert second.train_images is first.train_images  # ... and the same images, read once
    os.utime(folder / "train", ns=(1, 1))
    assert loading.load_images(data).train_images is not first.train_images


class CountingLoader:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def load_sweep_config(self, master, overrides):
        self.calls.append(list(overrides))
        return OmegaConf.create({"hydra": {"job": {"id": None}}, "job": list(overrides)})


def test_a_job_is_composed_once_and_its_launch_takes_that_composition(monkeypatch, tmp_path):
    from transfer_lab.sweep import compose

    monkeypatch.setattr(compose, "_COMPOSED", {})
    master = OmegaConf.create(
        {
            "hydra": {
                "job": {"config_name": "config"},
                "overrides": {"hydra": ["hydra.mode=MULTIRUN"]},
            }
        }
    )
    hydra = CountingLoader()
    checked = compose.sweep_config(hydra, master, ["a=1", "hydra.sweep.subdir=0"])
    OmegaConf.set_readonly(checked.hydra, True)  # as HydraConfig.set_config leaves it
    planned = compose.sweep_config(hydra, master, ["a=1", "hydra.sweep.subdir=0"])
    launcher = compose.ComposedOnce(hydra)
    launched = launcher.load_sweep_config(master, ["a=1", "hydra.sweep.subdir=0"])
    assert checked is planned is launched and hydra.calls == [["a=1", "hydra.sweep.subdir=0"]]
    launched.hydra.job.id = 0  # the launcher writes into it
    again = launcher.load_sweep_config(master, ["a=1", "hydra.sweep.subdir=0"])
    assert again is not launched and len(hydra.calls) == 2  # taken out of the memo at launch
    other = OmegaConf.create(
        {"hydra": {"job": {"config_name": "config"}, "overrides": {"hydra": ["hydra.sweep.dir=x"]}}}
    )
    compose.sweep_config(hydra, other, ["a=1", "hydra.sweep.subdir=0"])
    assert len(hydra.calls) == 3  # another sweep's master composes anew
    monkeypatch.chdir(tmp_path)
    compose.sweep_config(hydra, master, ["a=1", "hydra.sweep.subdir=0"])
    assert len(hydra.calls) == 4  # and so does the same sweep run from another folder


@pytest.mark.slow
def test_a_sweep_composes_each_job_once(cli, monkeypatch):
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    calls = []
    compose = ConfigLoaderImpl.load_sweep_config

    def counting(self, master, overrides):
        calls.append(list(overrides))
        return compose(self, master, overrides)

    monkeypatch.setattr(ConfigLoaderImpl, "load_sweep_config", counting)
    cli(
        [
            "+experiment=digits_beta",
            "sweep",
            "model.beta=0,0.4",
            "data.split_seed=0",
            "source.epochs=1",
            "target.epochs=1",
        ]
    )
    # every job differs only in plain values (model.beta, only_source): one composition for
    # the whole sweep, where Hydra would compose 12 (each target and source thrice)
    assert calls == [["+experiment=digits_beta"]], calls
    assert os.environ["TRANSFER_LAB_JOB_COUNT"] == "2"


SWEPT_JOBS = [
    [
        "+experiment=digits_yosinski",
        "transfer.arm=B2B+",
        "data.split_seed=3",
        "hydra.sweep.subdir=5",
    ],
    ["+experiment=digits_yosinski", "transfer.arm=A1B", "only_source=true", "hydra.sweep.subdir=0"],
    ["+experiment=digits_yosinski", "data=digits", "model.beta=0.4", "hydra.sweep.subdir=1"],
    ["+experiment=digits_beta", "backbone=resnet20", "target.optim.lr=0.5", "seed=7"],
    ["+experiment=digits_beta", "+trainer.max_time=null", "trainer.max_time=00:01:00:00"],
    ["+experiment=digits_beta", "source.epochs=2", "~source.select"],
]


@pytest.mark.parametrize("job", SWEPT_JOBS, ids=lambda job: " ".join(job[1:]))
def test_a_job_derived_from_a_shared_composition_is_the_config_hydra_composes(job, tmp_path):
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.types import RunMode

    from transfer_lab.config.paths import config_dir
    from transfer_lab.sweep import compose

    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        master = loader.load_configuration(
            "config", [job[0], f"hydra.sweep.dir={tmp_path}"], RunMode.MULTIRUN
        )
        derived = compose.derived_config(loader, master, job)
        composed = loader.load_sweep_config(master, job)
    if derived is None:  # an override on a key another one adds or deletes: Hydra composes it
        assert any(o.startswith(("+", "~")) for o in job[1:])
        return
    assert OmegaConf.to_container(derived) == OmegaConf.to_container(composed)
    assert OmegaConf.is_struct(derived) and not OmegaConf.is_readonly(derived.hydra)
