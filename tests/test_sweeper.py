"""The sweep composes each job once when its jobs run in this process, and twice elsewhere."""

from hydra._internal.core_plugins.basic_launcher import BasicLauncher

from hydra_plugins.transfer_lab_sweeper.sweeper import SourcesFirstSweeper
from transfer_lab.config.paths import config_dir


class Composer:
    """Stands in for Hydra's config loader and records which jobs it was asked to compose."""

    def __init__(self) -> None:
        self.composed: list[list[str]] = []

    def load_sweep_config(self, master_config, sweep_overrides):
        self.composed.append(sweep_overrides)


def sweeper_with(launcher) -> tuple[SourcesFirstSweeper, Composer]:
    # Without BasicSweeper.__init__: Hydra's plugin scan (run by any earlier compose in this
    # process) re-executes its module, and its zero-argument super() then no longer matches.
    sweeper = SourcesFirstSweeper.__new__(SourcesFirstSweeper)
    sweeper.max_batch_size, sweeper.params = None, None
    sweeper.launcher, sweeper.hydra_context, sweeper.config = launcher, None, object()
    sweeper.config_loader = Composer()
    return sweeper, sweeper.config_loader


def test_the_default_config_uses_the_sweeper():
    assert "override hydra/sweeper: transfer_lab" in (config_dir() / "config.yaml").read_text()


def test_in_process_jobs_are_not_composed_before_launch():
    sweeper, composer = sweeper_with(BasicLauncher())
    sweeper.validate_batch_is_legal([["model.beta=0"], ["model.beta=0.4"]])
    assert composer.composed == []  # each is composed once, when it runs


def test_other_launchers_keep_hydras_early_check():
    sweeper, composer = sweeper_with(object())  # e.g. joblib or SLURM: composed elsewhere
    sweeper.validate_batch_is_legal([["model.beta=0"], ["model.beta=0.4"]])
    assert composer.composed == [["model.beta=0"], ["model.beta=0.4"]]
