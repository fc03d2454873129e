"""Bad input through the real command line: one sentence each, exit 2, and no job started."""

from __future__ import annotations

import errno
import json

import pytest
import torch

from transfer_lab.config.checks import closest
from transfer_lab.config.folders import os_error_sentence
from transfer_lab.errors import UserError

QUIET = "trainer.enable_progress_bar=false"
SHORT = ["source.epochs=1", "target.epochs=1", QUIET]  # should a refusal fail, the job is short

# (arguments, a fragment of the sentence that must be printed)
BAD_INPUTS = [
    (["model.beta=1.5"], "model.beta=1.5 is out of range; it must be in [0, 1]"),
    (["model.binary_heads=-1"], "model.binary_heads=-1 is out of range; it must be 0 or more"),
    (["model.beta=0.4", "model.binary_heads=0"], "model.beta > 0 needs binary heads"),
    (["seed=abc"], "seed='abc' is not a whole number"),
    (["data.split_seed=-3"], "data.split_seed=-3 is out of range"),
    (["data.val_fraction=0"], "data.val_fraction=0 is out of range; it must be in (0, 1)"),
    (["data.val_fraction=1.2"], "data.val_fraction=1.2 is out of range; it must be in (0, 1)"),
    (["data.fraction=0"], "data.fraction=0 is out of range; it must be in (0, 1]"),
    (["data.per_class=0"], "data.per_class=0 is out of range; it must be 1 or more"),
    (["data.batch_size=0"], "data.batch_size=0 is out of range; it must be 1 or more"),
    (["data.eval_batch_size=-5"], "data.eval_batch_size=-5 is out of range"),
    (["source.epochs=-1"], "source.epochs=-1 is out of range; it must be 1 or more"),
    (["target.epochs=2.5"], "target.epochs=2.5 is not a whole number"),
    (["source.optim.lr=-1"], "source.optim.lr=-1 is out of range; it must be more than 0"),
    (["target.optim.momentum=1.5"], "target.optim.momentum=1.5 is out of range"),
    (["transfer.lr_scale=-0.1"], "transfer.lr_scale=-0.1 is out of range"),
    (["transfer.depth=-2"], "transfer.depth=-2 is out of range"),
    (["transfer.treatment=transferr"], "(did you mean transfer?)"),
    (["transfer.arm=A3b+"], "Did you mean A3B+?"),
    (["data=digitz"], "there is no data config named 'digitz' (did you mean digits?)"),
    (["backbone=lenett"], "there is no backbone config named 'lenett' (did you mean lenet?)"),
    (["+experiment=digits_bta"], "named 'digits_bta' (did you mean digits_beta?)"),
    (["launcher=paralel"], "there is no launcher config named 'paralel' (did you mean parallel?)"),
    (["schedule=yosinki"], "there is no schedule config named 'yosinki' (did you mean yosinski?)"),
    (["backbone.name=lenett"], "backbone.name='lenett' is not known (did you mean lenet?)"),
    (["model.betta=0.3"], "model.betta is not a setting (did you mean model.beta?)"),
    (
        ["+trainer.max_epochs=5"],
        "trainer.max_epochs is set by transfer_lab itself; use source.epochs",
    ),
    (["trainer.max_epochs=5"], "trainer.max_epochs is set by transfer_lab itself"),
    (["trainer.devices=999"], "trainer.devices=999 but this machine has"),
    (["trainer.accelerator=gpux"], "trainer.accelerator='gpux' is not known (did you mean gpu?)"),
    (["trainer.precision=17"], "trainer.precision=17 is not known"),
    (["data=mnist", "data.augment=cifr"], "data.augment='cifr' is not known (did you mean cifar?)"),
    (["data.direction=CD"], "data.direction='CD' is not known"),
    (["source.monitor=train/acc"], "source.monitor='train/acc' is not a validation metric"),
    (
        ["data.source_classes=[0,1,2]", "data.target_classes=[2,3]"],
        "share classes [2]; A and B must be disjoint",
    ),
    (["data.source_classes=[0,1,12]"], "lists class ids [12], which do not exist"),
    (["data.source_classes=[4]"], "lists fewer than 2 classes"),
    (
        ["data.source_classes=8", "data.target_classes=5"],
        "ask for 13 classes but digits has 10",
    ),
    (["data.source_classes=11"], "data.source_classes=11 is out of range; it must be in 2..10"),
    (["model.beta=["], "cannot read the override 'model.beta=['"),
    (["hydra.job.chdir=abc"], "Error merging override hydra.job.chdir=abc: "),
    (["~model"], "the composed config lacks or misshapes a setting transfer_lab needs"),
    (["model.beta=0,0.4"], "model.beta=0,0.4"),  # a sweep's values given to one run
    (["sweep", "+hydra.sweep.dir=elsewhere"], "write hydra.sweep.dir=VALUE without the leading +"),
    (["sweep", "model.beta=0,1.5"], "model.beta=1.5 is out of range"),  # one point of a grid
    (
        ["+experiment=digits_beta", "sweep", "data.fraction=0.5,2"],
        "data.fraction=2 is out of range",
    ),
    (["+trainer.strategy=ddp"], "trainer.strategy=ddp starts every rank by re-running the command"),
    (
        ["data=cifar100_to_cifar10", "data.target.stats=sorce"],
        "data.target.stats='sorce' is not known",
    ),
]


# Issue 20's bad inputs: each refused in one sentence before a folder is made. (arguments,
# words the sentence must hold)
REFUSED = [
    (["only_source=maybe"], ["only_source='maybe' is not true or false"]),
    (["model.beta=nan"], ["model.beta=nan is not a finite number"]),
    (["transfer.lr_scale=nan"], ["transfer.lr_scale=nan is not a finite number"]),
    (["source.optim.lr=inf"], ["source.optim.lr=inf is not a finite number"]),
    (["model.beta="], ["model.beta='' is not a number"]),
    (["data.name="], ["data.name='' is not a name"]),
    (["source.biases.lr_mult=-1"], ["source.biases.lr_mult=-1 is out of range", "0 or more"]),
    (
        ["scheduler@source.scheduler=multistep", "source.scheduler.milestones=[30]"],
        ["source.scheduler.milestones[0]=30 is out of range", "1..20 (the phase's epochs)"],
    ),
    (["sweep", "model.beta=0,0"], ["model.beta=0,0 gives 0 more than once"]),
    (["transfer.arm=A9B"], ["transfer.depth=9 is outside 0..4 for a backbone with 4 stages"]),
    (["transfer.depth=2", "transfer.freeze_depth=3"], ["transfer.freeze_depth=3 freezes 3"]),
    (["model.binary_heads=11"], ["model.binary_heads=11 is too many", "at most 10"]),
    (
        ["data.source_classes=9", "data.target_classes=null"],
        ["data.target_classes=null takes the classes not in A", "leaves 1"],
    ),
    (["source.epochs=0"], ["source.epochs=0 is out of range; it must be 1 or more"]),
    (["target.epochs=0"], ["target.epochs=0 is out of range; it must be 1 or more"]),
    (["target.monitor=val/accuracy"], ["not a metric the network logs", "did you mean val/acc"]),
    (["+trainer.foo=1"], ["trainer.foo is not an argument of Lightning's Trainer"]),
    (["+trainer.accumulate_grad_batches=0"], ["trainer.accumulate_grad_batches=0 is out of"]),
    (["trainer.accelerator=cpu", "trainer.devices=[0,1]"], ["[0, 1] lists device ids"]),
    (["checkpoint_every=-1"], ["checkpoint_every=-1 is out of range; it must be 0 or more"]),
    (
        ["target.optim.momentum=0", "target.optim.nesterov=true"],
        ["target.optim.nesterov=true needs momentum"],
    ),
    (
        ["sweep", "launcher=parallel", "hydra.launcher.n_jobs=0", "data.split_seed=0,1"],
        ["hydra.launcher.n_jobs=0 is not a number of jobs"],
    ),
    (
        ["sweep", "hydra.launcher.n_jobs=2", "data.split_seed=0,1"],
        ["hydra.launcher.n_jobs is a setting of launcher=parallel", "add launcher=parallel"],
    ),
    (
        ["sweep", "+hydra.launcher.n_jobs=2", "data.split_seed=0,1"],
        ["hydra.launcher.n_jobs is a setting of launcher=parallel", "add launcher=parallel"],
    ),
    (["data.fraction=1e-9"], ["data.fraction=1e-09 rounds to no image", "at least 0.00855"]),
    (["data.val_fraction=0.999"], ["data.val_fraction=0.999 leaves no training image"]),
    (["callbacks=[nonexistent]"], ["no callbacks config named 'nonexistent'", "lr_monitor"]),
    (["+model.gamma=1"], ["model.gamma is not a setting"]),
    (["sweep"], ["sweep has nothing to sweep", "+experiment=NAME"]),
    (["swep", "model.beta=0.4"], ["'swep' is neither a command", "did you mean sweep"]),
    (["run", "sweep"], ["give one command, not run and sweep"]),
    (["--resume"], ["--resume goes with sweep: python -m transfer_lab sweep --resume"]),
    (["sweep", "--hydra-hlp"], ["--hydra-hlp is not an option of sweep", "--hydra-help"]),
    (["backbone=wrn28_10", "backbone.depth=27"], ["backbone.depth=27 is not 6·n + 4"]),
]


# Issue 30's settings that passed the checks and then crashed or misled inside the job: each
# refused before a folder is made. (arguments, words the sentence must hold)
RUNS = [
    (["trainer.accelerator=mps"], ["trainer.accelerator=mps is not available on this machine"]),
    (["+trainer.max_time=abc"], ["trainer.max_time='abc' does not run", "DD:HH:MM:SS"]),
    (["+trainer.profiler=nonsense"], ["trainer.profiler='nonsense' does not run", "simple"]),
    (
        ["optim@target.optim=adam", "+target.optim.momentum=0.9"],
        ["target.optim.momentum is not an argument of torch.optim.Adam"],
    ),
    (
        ["optim@target.optim=adam", "+target.optim.betas=[0.9]"],
        ["target.optim (torch.optim.Adam) does not build"],
    ),
    (["+callbacks.early_stopping.patience=3"], ["callbacks.early_stopping has no _target_"]),
    (["+callbacks.lr_monitor.foo=1"], ["callbacks.lr_monitor.foo is not an argument of"]),
    (["hydra.run.dir=outputs/" + "a" * 256], ["hydra.run.dir holds a name of 256 bytes"]),
    (["paths.cache_dir=" + "c" * 300], ["paths.cache_dir holds a name of 300 bytes"]),
    (["+trainer.max_steps=0"], ["trainer.max_steps=0 trains nothing"]),
    (
        ["scheduler@target.scheduler=cosine", "+target.scheduler.eta_min=1"],
        ["target.scheduler.eta_min=1.0 is above the rate", "target.optim.lr=0.05"],
    ),
    (
        ["paper.statistic=mean_best", "target.test_epochs=none"],
        ["paper.statistic=mean_best averages", "target.test_epochs=none tests none"],
    ),
    (["paper.epoch=61"], ["paper.epoch=61 is past target.epochs=60"]),
    (
        ["transfer.treatment=random_frozen", "transfer.freeze=false"],
        ["transfer.treatment=random_frozen freezes its random stages"],
    ),
    (["+data.target.classes=3"], ["data.target lacks name, root, reader"]),
    (["trainer.deterministic=maybe"], ["trainer.deterministic='maybe' is not known", "warn"]),
    (["+trainer.detect_anomaly=maybe"], ["trainer.detect_anomaly='maybe' is not true or false"]),
    (["+trainer.fast_dev_run=true"], ["trainer.fast_dev_run=true trains a batch or two"]),
    (["+trainer.max_time=00:00:00:00"], ["trainer.max_time=00:00:00:00 trains nothing"]),
    (["+trainer.plugins=foo"], ["trainer.plugins='foo' does not run"]),
    (["+source.scheduler.gamma=0.5"], ["scheduler@source.scheduler=NAME, from conf/scheduler/"]),
    (["+logger.tensorboard.foo=1"], ["logger.tensorboard.foo is not an argument of"]),
    (
        ["logger=[csv]", "+logger.csv.flush_logs_every_n_steps=0"],
        ["logger.csv (pytorch_lightning.loggers.CSVLogger) does not build", "ZeroDivisionError"],
    ),
]


@pytest.mark.parametrize(("args", "words"), RUNS, ids=[" ".join(a)[:40] for a, _ in RUNS])
def test_what_the_checks_pass_also_runs(cli, args, words):
    if "trainer.accelerator=mps" in args and torch.backends.mps.is_available():
        pytest.skip("this machine has an MPS device")
    test_issue_20_inputs_are_refused_in_one_sentence_before_a_folder(cli, args, words)
    assert_nothing_ran(cli.cwd)


def test_a_logger_that_is_not_installed_is_refused(cli, monkeypatch):
    """logger=wandb without wandb: WandbLogger itself says so, before a folder is made."""
    import sys

    monkeypatch.setitem(sys.modules, "wandb", None)  # as if not installed
    done = cli(["logger=wandb", QUIET], check=False)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith("error: logger.wandb (pytorch_lightning.loggers.WandbLogger)")
    assert_nothing_ran(cli.cwd)


def assert_nothing_ran(cwd) -> None:
    assert not list(cwd.rglob("results.json"))
    assert not list(cwd.rglob("*.pt")) and not list(cwd.rglob("*.ckpt"))
    assert not list(cwd.rglob(".hydra"))  # no job folder was made


@pytest.mark.parametrize(("args", "sentence"), BAD_INPUTS, ids=[" ".join(a) for a, _ in BAD_INPUTS])
def test_bad_input_is_refused_in_one_sentence_before_any_job(cli, args, sentence):
    done = cli([*args, QUIET], check=False)
    assert done.returncode == 2
    assert sentence in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, lines  # one problem, one line: each setting is checked in one place
    assert lines[0].startswith("error: ")
    assert "Traceback" not in done.stdout + done.stderr
    assert_nothing_ran(cli.cwd)


@pytest.mark.parametrize(("args", "words"), REFUSED, ids=[" ".join(a) for a, _ in REFUSED])
def test_issue_20_inputs_are_refused_in_one_sentence_before_a_folder(cli, args, words):
    done = cli([*args, QUIET], check=False)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    for word in words:
        assert word in lines[0]
    assert "Traceback" not in done.stdout + done.stderr
    assert not (cli.cwd / "multirun").exists() and not (cli.cwd / "outputs").exists()


def test_every_config_file_passes_the_schema():
    """A key added to conf/ that the models in config/schema.py do not type fails here."""
    from tests.conftest import compose
    from transfer_lab.config.paths import config_dir
    from transfer_lab.config.schema import value_problems

    names = [[]] + [
        [f"{group}={p.stem}" if group != "experiment" else f"+experiment={p.stem}"]
        for group in ("experiment", "data", "backbone", "trainer", "schedule", "launcher")
        for p in sorted((config_dir() / group).glob("*.yaml"))
    ]
    names += [[f"optim@source.optim={p.stem}"] for p in (config_dir() / "optim").glob("*.yaml")]
    names += [
        [f"scheduler@source.scheduler={p.stem}"] for p in (config_dir() / "scheduler").glob("*")
    ]
    names += [["logger=[tensorboard,csv,wandb]", "callbacks=[early_stopping]"]]
    found = {s for overrides in names for s in value_problems(compose(overrides))}
    assert not found, sorted(found)


def test_the_checks_read_each_vocabulary_from_its_owner():
    """The names the checks read without importing torch are the owners' own."""
    import inspect

    import pytorch_lightning as pl

    from transfer_lab.config.schema import owned, trainer_arguments
    from transfer_lab.data.augment import EVAL_CROPS, RECIPES
    from transfer_lab.train.callbacks import SELECTS

    assert owned("transfer_lab.data.augment", "RECIPES") == tuple(RECIPES)
    assert owned("transfer_lab.data.augment", "EVAL_CROPS") == EVAL_CROPS
    assert owned("transfer_lab.train.callbacks", "SELECTS") == SELECTS
    assert trainer_arguments() == tuple(inspect.signature(pl.Trainer).parameters)


def test_smallest_class_is_the_readers_own():
    import numpy as np

    from tests.conftest import compose
    from transfer_lab.data.datasets.digits import load_digits

    counts = np.bincount(load_digits().train_labels.numpy())
    assert compose([]).data.smallest_class == counts.min()


def test_every_problem_gets_its_own_sentence(cli):
    done = cli(["data.val_fraction=1.2", "source.epochs=-1", "data.batch_size=0", QUIET], False)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 3
    assert all(line.startswith("error: ") and line.endswith(".") for line in lines)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_a_gpu_that_is_not_there_is_named(cli):
    done = cli(["trainer.accelerator=gpu", QUIET], check=False)
    assert done.returncode == 2
    assert "trainer.accelerator=gpu but this machine has no CUDA GPU" in done.stderr
    assert_nothing_ran(cli.cwd)


def test_an_unwritable_cache_folder_is_named(cli):
    blocker = cli.cwd / "a_file"
    blocker.write_text("in the way")
    done = cli([f"paths.cache_dir={blocker}/cache", QUIET], check=False)
    assert done.returncode == 2
    assert f"cannot make the folder {blocker}/cache: a file of that name is in the way" in (
        done.stderr
    )
    assert_nothing_ran(cli.cwd)


def test_a_full_disk_is_reported_as_such(tmp_path):
    full = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "results.json"))
    assert os_error_sentence(full) == (
        f"the disk holding {tmp_path} is full; free space there or write somewhere else."
    )
    denied = OSError(errno.EACCES, "Permission denied", str(tmp_path / "x.ckpt"))
    assert f"cannot write in {tmp_path} (permission denied" in os_error_sentence(denied)


def test_a_folder_holding_a_different_sweep_is_refused(cli):
    folder = cli.cwd / "sweep"
    folder.mkdir()
    saved = "hydra:\n  overrides:\n    task: [model.beta=0.4]\n"
    (folder / "multirun.yaml").write_text(saved)
    done = cli(["sweep", f"hydra.sweep.dir={folder}", "model.beta=0,0.2", *SHORT], check=False)
    assert done.returncode == 2
    assert f"{folder} already holds a different sweep (model.beta=0.4)" in done.stderr
    assert (folder / "multirun.yaml").read_text() == saved  # nothing lost


def test_a_job_folder_holding_another_jobs_results_is_refused(cli):
    folder = cli.cwd / "job"
    folder.mkdir()
    saved = json.dumps({"status": "ok", "overrides": ["model.beta=0.4"]})
    (folder / "results.json").write_text(saved)
    done = cli([f"hydra.run.dir={folder}", "model.beta=0.2", *SHORT], check=False)
    assert done.returncode == 2
    assert f"{folder} already holds the results of a different job" in done.stderr
    assert (folder / "results.json").read_text() == saved


def test_full_hydra_error_shows_the_traceback(cli, monkeypatch):
    from transfer_lab.cli.main import main

    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    with pytest.raises(UserError, match="model.beta=1.5 is out of range"):
        main(["model.beta=1.5", QUIET])


def test_closest_names_the_nearest_valid_name_or_nothing():
    assert closest("digitz", ["digits", "mnist"]) == " (did you mean digits?)"
    assert closest("zzzz", ["digits", "mnist"]) == ""


def test_a_per_class_budget_larger_than_a_class_says_it_is_capped(caplog):
    from types import SimpleNamespace

    import numpy as np

    from transfer_lab.data.splits import make_task
    from transfer_lab.data.tasks import warn_if_budget_capped

    labels = np.repeat(np.arange(4), [30, 30, 30, 8])
    images = SimpleNamespace(train_labels=torch.as_tensor(labels))
    task = make_task(labels, labels, [0, 1, 2, 3], split_seed=0, val_fraction=0.25, per_class=20)
    with caplog.at_level("WARNING"):
        warn_if_budget_capped(images, task, 20)
    assert "data.per_class=20 is more than the 6 training images" in caplog.text
    assert "the budget is capped" in caplog.text
    caplog.clear()
    warn_if_budget_capped(images, task, 5)
    assert not caplog.text
