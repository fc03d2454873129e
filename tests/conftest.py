"""Shared test helpers: run the CLI in this process, compose configs, write tiny datasets."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Settings that make an end-to-end job take seconds on the offline digits.
TINY = [
    "source.epochs=2",
    "target.epochs=2",
    "trainer.enable_progress_bar=false",
]


def source_jobs(sweep: Path) -> list[dict]:
    """results.json of the jobs a sweep ran first to train its source networks (sources/<key>/).

    Every target job then finds its source in the cache, so its own `source.trained` is false.
    """
    return [json.loads(p.read_text()) for p in sorted(sweep.glob("sources/*/results.json"))]


@dataclass
class Done:
    """What a CLI call returned and printed, shaped like subprocess.CompletedProcess."""

    returncode: int
    stdout: str
    stderr: str


@pytest.fixture(autouse=True)
def logging_as_it_was():
    """Every logger's handlers and level as before the test: an in-process Hydra run
    configures logging onto the test's captured stream, which is closed once the test ends,
    and a later test's log line there would print a "Logging error" into its output."""
    loggers = [logging.getLogger()] + [
        one for one in logging.root.manager.loggerDict.values() if isinstance(one, logging.Logger)
    ]
    before = {one: (list(one.handlers), one.level, one.propagate) for one in loggers}
    yield
    for one, (handlers, level, propagate) in before.items():
        one.handlers[:] = handlers
        one.setLevel(level)
        one.propagate = propagate


@pytest.fixture
def cli(tmp_path, monkeypatch, capfd):
    """Run `python -m transfer_lab ARGS` in this process, in a fresh folder with its own cache.

    In-process calls skip the seconds of importing Lightning per call.
    """
    from transfer_lab.cli.main import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRANSFER_LAB_CACHE", str(tmp_path / "cache"))

    def call(args: list[str], check: bool = True) -> Done:
        capfd.readouterr()
        try:
            code = main(list(args)) or 0
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        out, err = capfd.readouterr()
        done = Done(code, out, err)
        if check and code != 0:
            raise AssertionError(f"exit {code}\nstdout:\n{out[-4000:]}\nstderr:\n{err[-4000:]}")
        return done

    call.cwd = tmp_path
    return call


def compose(overrides: list[str] | None = None):
    """The job config as Hydra composes it for these overrides (hydra resolvers not resolved)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from transfer_lab.config.paths import config_dir

    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
        return hydra_compose(
            config_name="config", overrides=overrides or [], return_hydra_config=True
        )


def experiment_data(conf: Path | None = None) -> dict[str, str]:
    """Each experiment file's dataset, as Hydra composes it (`data.name`), by experiment name.

    Tests pick experiments by what they read, never by how they are named: a user's copy of
    digits_beta.yaml under any name is still a digits experiment.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from transfer_lab.config.paths import config_dir

    conf = conf or config_dir()
    with initialize_config_dir(version_base="1.3", config_dir=str(conf)):
        return {
            p.stem: str(
                hydra_compose(config_name="config", overrides=[f"+experiment={p.stem}"]).data.name
            )
            for p in sorted((conf / "experiment").glob("*.yaml"))
        }


@pytest.fixture(scope="session")
def data_root(tmp_path_factory) -> Path:
    """One folder laid out as every data config's default root expects, in the real formats."""
    from tests import formats

    root = tmp_path_factory.mktemp("data")
    formats.write_cifar10(root)
    formats.write_cifar100(root)
    formats.write_svhn(root / "svhn")
    formats.write_idx_dataset(root, "MNIST")  # raw IDX files
    formats.write_idx_dataset(root, "FashionMNIST", compress=True)  # .gz as downloaded
    formats.write_image_folder(root / "imagenet")
    return root


# Tests that need something outside the repository: the real Fashion-MNIST files (Debian's
# dataset-fashion-mnist) or a running SLURM cluster (tests/slurm/local_cluster.sh). They skip
# with a reason on a machine without it; under CI=true a skip of one of them fails the run, since
# CI installs both and must never go green on tests that did not run.
NEEDS_SETUP = ("real_data", "slurm")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    needs = [m for m in NEEDS_SETUP if item.get_closest_marker(m)]
    if needs and report.skipped and os.environ.get("CI", "").lower() == "true":
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = (
            f"a test marked {needs[0]} was skipped under CI=true ({reason}); "
            f".ci/run must provide what it needs"
        )
