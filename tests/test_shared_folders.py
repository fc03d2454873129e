"""Safe in a shared lab: a colleague who can write a folder we rerun cannot make us run code
(nothing is unpickled) or write elsewhere (no write follows a link), and the report shows the
text of records as text and refuses numbers out of their range."""

from __future__ import annotations

import errno
import io
import json
import math
import os
import pickle
import shutil
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests import test_disk_faults
from tests.conftest import REPO, TINY
from tests.test_report import make_job, ok_results, report
from transfer_lab.errors import UserError

disk = test_disk_faults.disk  # a fixture: a folder on a small tmpfs of its own


class Planted:
    """A pickle that, unpickled, makes the folder `marker` (the code a colleague could plant)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def plant_pickle(path: Path, marker: Path) -> None:
    """Write the planted pickle at `path`, and prove it is live: an unsafe load runs it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"epoch": 0, "payload": Planted(marker)}, path)
    torch.load(path, weights_only=False)
    assert marker.is_dir()
    marker.rmdir()


def outside_file(tmp_path: Path, name: str) -> Path:
    """A file outside the folders the tool writes, which a planted link points at."""
    target = tmp_path / "outside" / name
    target.parent.mkdir(exist_ok=True)
    target.write_text("the victim's file\n")
    return target


def plant_link(path: Path, target: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)


# --- nothing from a folder is unpickled ------------------------------------------------------


def test_planted_last_checkpoints_run_no_code_and_their_phases_start_over(cli):
    """Planted as each phase's last checkpoint, with the old stamp beside it forged from the
    folder's own config: no code runs, each phase warns once and trains from the start."""
    args = ["transfer.arm=A4B+", *TINY, "hydra.run.dir=job"]
    cli(args)
    job, marker = cli.cwd / "job", cli.cwd / "pwned"
    from omegaconf import OmegaConf

    from transfer_lab.train.fit import config_fingerprint

    forged = config_fingerprint(OmegaConf.load(job / ".hydra" / "config.yaml"))
    for phase in ("source", "target"):
        plant_pickle(job / "checkpoints" / f"{phase}-last.ckpt", marker)
        (job / "checkpoints" / f"{phase}-last.config").write_text(forged)
    cli(args)  # the rerun: its source comes from the cache, its target is trained again
    assert not marker.exists()
    assert json.loads((job / "results.json").read_text())["status"] == "ok"
    log = (job / "job.log").read_text()
    assert log.count("target-last.ckpt does not load; moved it to") == 1
    assert "resuming from" not in log
    assert not list((job / "checkpoints").glob("*-last.*"))  # finished: nothing left to resume


@pytest.mark.slow
def test_planted_pickles_in_a_sweep_folder_run_no_code_on_sweep_resume(cli):
    """In a sweep's sources/<key>/checkpoints/ and its jobs' checkpoints/, then `sweep --resume`:
    no code runs, each phase warns once and trains from the start, every job ends ok."""
    cli(["sweep", "transfer.arm=A4B+", "data.split_seed=0,1", *TINY, "hydra.sweep.dir=multirun/s"])
    sweep, marker = cli.cwd / "multirun" / "s", cli.cwd / "pwned"
    shutil.rmtree(cli.cwd / "cache")  # the sources must be trained again, in round 1
    planted = [*sweep.glob("sources/*/"), sweep / "0", sweep / "1"]
    for folder in planted:
        phase = "source" if folder.parent.name == "sources" else "target"
        plant_pickle(folder / "checkpoints" / f"{phase}-last.ckpt", marker)
        (folder / "results.json").unlink()
    assert len(planted) == 4  # a source per split seed, and two jobs
    cli(["sweep", "--resume"])
    assert not marker.exists()
    for folder in planted:
        assert json.loads((folder / "results.json").read_text())["status"] == "ok"
        assert (folder / "job.log").read_text().count("does not load; moved it to") == 1


def test_a_planted_pickle_as_a_cache_entry_runs_no_code_and_is_retrained(tmp_path, caplog):
    from transfer_lab.store.atomic import file_sha256
    from transfer_lab.store.cache import SourceCache, cache_key

    cache, definition = SourceCache(tmp_path / "cache"), {"source": "planted"}
    key, marker = cache_key(definition), tmp_path / "pwned"
    network = {"state_dict": {"w": torch.ones(2)}, "metrics": {}}
    cache.fetch_or_train(definition, lambda: network)
    checkpoint, record, _ = cache._paths(key)
    plant_pickle(checkpoint, marker)
    meta = json.loads(record.read_text())
    record.write_text(json.dumps({**meta, "sha256": file_sha256(checkpoint)}))  # hash agrees

    trained = []
    with caplog.at_level("WARNING", logger="transfer_lab.store.cache"):
        found, _, now = cache.fetch_or_train(definition, lambda: trained.append(1) or network)
    assert not marker.exists()
    assert now and trained == [1] and torch.equal(found["state_dict"]["w"], torch.ones(2))
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warning.startswith(f"cached source {key[:12]} does not load (")
    assert cache.load(key) is not None  # stored again, whole


def plant_cifar_batch(path: Path, marker: Path) -> None:
    """A CIFAR batch whose pickle runs code (makes `marker`) as soon as it is unpickled."""
    entry = {"batch_label": "planted", "labels": [0], "data": Planted(marker)}
    path.write_bytes(pickle.dumps(entry, protocol=2))
    pickle.loads(path.read_bytes())  # live: an unrestricted load runs it
    assert marker.is_dir()
    marker.rmdir()


class Python2Pickler(pickle._Pickler):
    """Pickles as python 2 did: bytes as a str (BINSTRING), numpy's rebuilder in numpy.core."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_bytes_as_str(self, obj: bytes) -> None:
        self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_bytes_as_str


def python2_pickle(entry: dict) -> bytes:
    buffer = io.BytesIO()
    Python2Pickler(buffer, protocol=2).dump(entry)
    return buffer.getvalue().replace(b"numpy._core.multiarray", b"numpy.core.multiarray")


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
@pytest.mark.parametrize("part", ["train", "meta"])
def test_a_planted_cifar_pickle_runs_no_code_and_is_refused_in_one_sentence(tmp_path, name, part):
    from tests import formats
    from transfer_lab.data.datasets.cifar10 import load_cifar10
    from transfer_lab.data.datasets.cifar100 import load_cifar100

    write, load = {
        "cifar10": (formats.write_cifar10, load_cifar10),
        "cifar100": (formats.write_cifar100, load_cifar100),
    }[name]
    folder, marker = write(tmp_path / "data"), tmp_path / "pwned"
    file = {"cifar10": {"train": "data_batch_3", "meta": "batches.meta"}}.get(name, {})
    planted = folder / file.get(part, part)
    plant_cifar_batch(planted, marker)
    with pytest.raises(UserError) as refused:
        load(str(tmp_path / "data"), check_md5=False)
    assert not marker.exists()
    sentence = str(refused.value)
    assert sentence.startswith(f"{planted} is not a CIFAR batch: its pickle calls posix.mkdir,")
    assert sentence.count(". ") == 0 and sentence.endswith("planted it).")


def test_cifar_pickles_of_python_2_and_of_numpy_2_both_load(tmp_path):
    """The originals were pickled by python 2's numpy (`numpy.core.multiarray`, the pixels a
    latin-1 str); tests/formats.py's copies by numpy 2 (`numpy._core`, the pixels bytes)."""
    import pickletools

    from tests import formats
    from transfer_lab.data.datasets.cifar10 import CIFAR_GLOBALS, load_cifar10

    folder = formats.write_cifar10(tmp_path / "now")
    new = load_cifar10(str(tmp_path / "now"), check_md5=False)
    named = set()
    for file in folder.iterdir():
        for op, arg, _ in pickletools.genops(file.read_bytes()):
            if op.name == "GLOBAL":
                named.add(tuple(arg.split(" ")))
    assert named and named <= set(CIFAR_GLOBALS)

    old = tmp_path / "old" / folder.name
    old.mkdir(parents=True)
    for file in folder.iterdir():
        (old / file.name).write_bytes(python2_pickle(pickle.loads(file.read_bytes())))
    pixels = (old / "data_batch_1").read_bytes()
    assert b"numpy.core.multiarray" in pixels and b"_codecs" not in pixels
    former = load_cifar10(str(tmp_path / "old"), check_md5=False)
    assert torch.equal(former.train_images, new.train_images)
    assert torch.equal(former.test_labels, new.test_labels)
    assert former.class_names == new.class_names


def test_a_cifar_download_fetches_with_torchvision_and_never_runs_its_reader(tmp_path, monkeypatch):
    """torchvision's CIFAR10 unpickles what it finds; a download uses only its fetch."""
    import torchvision.datasets.utils as utils
    from torchvision import datasets

    from tests import formats
    from transfer_lab.data.datasets.cifar10 import load_cifar10

    fetched = []

    def fetch(url, root, filename, md5):
        fetched.append((url, filename, md5))
        formats.write_cifar10(Path(root))

    monkeypatch.setattr(utils, "download_and_extract_archive", fetch)
    monkeypatch.setattr(datasets.CIFAR10, "__init__", lambda *a, **k: pytest.fail("unpickled"))
    images = load_cifar10(str(tmp_path), download=True, check_md5=False)
    assert fetched == [(datasets.CIFAR10.url, "cifar-10-python.tar.gz", datasets.CIFAR10.tgz_md5)]
    assert images.train_images.shape == (100, 3, 32, 32)


# --- no write follows a link -----------------------------------------------------------------


def test_links_planted_as_last_checkpoints_and_stamps_are_not_written_through(cli, monkeypatch):
    """And Lightning's own load of a last checkpoint (and of a SLURM hpc_ckpt) is asked for
    weights_only=True, not left to torch's default, which an environment variable turns off."""
    import pytorch_lightning as pl

    asked, fit = [], pl.Trainer.fit

    def spy(self, *args, **kwargs):
        asked.append(kwargs.get("weights_only"))
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(pl.Trainer, "fit", spy)
    job, targets = cli.cwd / "job", {}
    for phase in ("source", "target"):
        for name in (f"{phase}-last.ckpt", f"{phase}-last.config"):
            targets[name] = outside_file(cli.cwd, name)
            plant_link(job / "checkpoints" / name, targets[name])
    cli(["transfer.arm=A4B+", *TINY, "hydra.run.dir=job"])
    for target in targets.values():
        assert target.read_text() == "the victim's file\n"
    assert json.loads((job / "results.json").read_text())["status"] == "ok"
    assert asked == [True, True]  # the source and the target phase


def test_links_planted_as_figures_are_replaced_not_written_through(tmp_path):
    from matplotlib.figure import Figure

    from transfer_lab.report.figures.plotting import save

    figures = tmp_path / "figures"
    png, svg = outside_file(tmp_path, "a.png"), outside_file(tmp_path, "a.svg")
    plant_link(figures / "beta.png", png)
    plant_link(figures / "beta.svg", svg)
    figure = Figure()
    figure.subplots().plot([0, 1], [1, 0])
    paths = save(figure, figures, "beta")
    assert png.read_text() == svg.read_text() == "the victim's file\n"
    assert all(p.is_file() and not p.is_symlink() for p in paths)
    assert paths[0].read_bytes().startswith(b"\x89PNG") and b"<svg" in paths[1].read_bytes()
    assert [p.name for p in figures.iterdir()] and not list(figures.glob(".*.tmp"))


def test_a_figures_folder_that_is_a_link_is_refused(tmp_path):
    from matplotlib.figure import Figure

    from transfer_lab.report.figures.plotting import save

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "figures").symlink_to(elsewhere)
    with pytest.raises(UserError, match="figures is a symbolic link"):
        save(Figure(), tmp_path / "figures", "beta")
    assert list(elsewhere.iterdir()) == []


def test_links_planted_as_report_outputs_are_replaced_not_written_through(tmp_path):
    sweep = tmp_path / "sweep"
    for seed in range(2):
        make_job(sweep, seed, [f"data.split_seed={seed}"], ok_results(0.8, split_seed=seed))
    victims = {name: outside_file(tmp_path, name) for name in ("summary.md", "summary.csv")}
    for name, target in victims.items():
        plant_link(sweep / name, target)
    report(sweep, draw=False)
    for name, target in victims.items():
        assert target.read_text() == "the victim's file\n"
        assert (sweep / name).is_file() and not (sweep / name).is_symlink()


def test_a_lock_file_that_is_a_link_is_refused_and_not_written(tmp_path):
    from transfer_lab.store.cache import SourceCache, cache_key

    cache, definition = SourceCache(tmp_path / "cache"), {"source": "locked"}
    lock = cache._paths(cache_key(definition))[2]
    victim = outside_file(tmp_path, "lock")
    plant_link(lock, victim)
    with pytest.raises(UserError, match=r"\.lock is a symbolic link"):
        cache.fetch_or_train(definition, lambda: {"state_dict": {}, "metrics": {}})
    assert victim.read_text() == "the victim's file\n"


def test_a_shard_folder_that_is_a_link_is_refused_in_one_sentence(tmp_path):
    from transfer_lab.store.cache import SourceCache, cache_key

    cache, definition = SourceCache(tmp_path / "cache"), {"source": "sharded"}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    plant_link(tmp_path / "cache" / cache_key(definition)[:2], elsewhere)
    with pytest.raises(UserError) as refused:
        cache.fetch_or_train(definition, lambda: {"state_dict": {}, "metrics": {}})
    sentence = str(refused.value)
    assert sentence.count(". ") == 0 and sentence.endswith("run again.")
    assert "is a symbolic link" in sentence
    assert list(elsewhere.iterdir()) == []


def test_a_checkpoints_folder_that_is_a_link_fails_the_job_in_one_sentence(cli):
    elsewhere = cli.cwd / "elsewhere"
    elsewhere.mkdir()
    plant_link(cli.cwd / "job" / "checkpoints", elsewhere)
    done = cli(["transfer.arm=baseB", *TINY, "hydra.run.dir=job"], check=False)
    assert done.returncode == 2
    assert f"error: {cli.cwd / 'job' / 'checkpoints'} is a symbolic link" in done.stderr
    assert list(elsewhere.iterdir()) == []


def test_a_sweep_job_folder_that_is_a_link_is_refused_before_any_job_runs(tmp_path):
    from transfer_lab.sweep.plan import make_plan

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    plant_link(tmp_path / "sweep" / "1", elsewhere)
    with pytest.raises(UserError, match=r"sweep/1 is a symbolic link"):
        make_plan(tmp_path / "sweep", [["model.beta=0"], ["model.beta=0.4"]], lambda job: None)
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize(
    "planted",
    [".hydra", ".hydra/config.yaml", ".hydra/overrides.yaml", "job.log", "../tensorboard"],
)
def test_links_where_hydra_writes_in_a_sweep_job_are_refused_before_any_job_runs(tmp_path, planted):
    """Hydra opens job.log and writes .hydra/*.yaml itself, following a link: the plan refuses."""
    from transfer_lab.sweep.plan import make_plan

    victim = outside_file(tmp_path, "victim")
    target = victim.parent if planted in (".hydra", "../tensorboard") else victim
    link = tmp_path / "sweep" / "1" / planted
    plant_link(link.parent.resolve() / link.name, target)
    with pytest.raises(UserError) as refused:
        make_plan(tmp_path / "sweep", [["model.beta=0"], ["model.beta=0.4"]], lambda job: None)
    sentence = str(refused.value)
    assert sentence.startswith(f"{link.parent.resolve() / link.name} is a symbolic link")
    assert sentence.count(". ") == 0
    assert [p.name for p in victim.parent.iterdir()] == ["victim"]
    assert victim.read_text() == "the victim's file\n"


def test_links_where_hydra_writes_in_a_run_folder_are_refused_before_it_runs(cli):
    victim = outside_file(cli.cwd, "job.log")
    plant_link(cli.cwd / "job" / "job.log", victim)
    done = cli(["transfer.arm=baseB", *TINY, "hydra.run.dir=job"], check=False)
    assert done.returncode == 2
    assert done.stderr.startswith("error: job/job.log is a symbolic link")
    assert victim.read_text() == "the victim's file\n"
    assert not (cli.cwd / "job" / ".hydra").exists()


def test_a_link_planted_as_error_txt_is_replaced_not_written_through(cli, monkeypatch):
    def crash(cfg, ctx):
        raise RuntimeError("a bug in the job")

    monkeypatch.setattr("transfer_lab.job.task.run_job_saying_write_faults", crash)
    sweep = cli.cwd / "multirun" / "s"
    victim = outside_file(cli.cwd, "error.txt")
    plant_link(sweep / "0" / "error.txt", victim)
    args = ["sweep", "transfer.arm=baseB", "data.split_seed=0,1", *TINY]
    done = cli([*args, "hydra.sweep.dir=multirun/s"], check=False)
    assert "a bug in the job" in done.stderr
    assert victim.read_text() == "the victim's file\n"
    written = sweep / "0" / "error.txt"
    assert not written.is_symlink() and "RuntimeError: a bug in the job" in written.read_text()


def test_a_tensorboard_run_folder_that_is_a_link_is_refused(tmp_path):
    from omegaconf import OmegaConf

    from transfer_lab.train.folders import RunFolders
    from transfer_lab.train.trainer import configured_loggers

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    plant_link(tmp_path / "tensorboard" / "run" / "source", elsewhere)
    folders = RunFolders(tmp_path, tmp_path / "tensorboard", "run")
    with pytest.raises(UserError, match=r"run/source is a symbolic link"):
        configured_loggers(OmegaConf.create({"logger": {}}), folders, "source")
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("planted", ["measures", "measures/shard"])
def test_a_measures_folder_or_shard_that_is_a_link_is_refused(tmp_path, monkeypatch, planted):
    from omegaconf import OmegaConf

    from transfer_lab.job import measure_step as measures

    class Measured:
        def as_dict(self):
            return {"stages": [], "per_stage": {}, "output": {}}

    stored = tmp_path / "cache" / "measures" / "shard" / "key.json"
    monkeypatch.setattr(measures, "measures_path", lambda *args: stored)
    monkeypatch.setattr(measures, "backbone_from_state", lambda *args: None)
    monkeypatch.setattr(measures, "measure_source", lambda *args, **kwargs: Measured())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "cache" / planted).parent.mkdir(parents=True, exist_ok=True)
    plant_link(tmp_path / "cache" / planted, elsewhere)
    cfg = OmegaConf.create({"paths": {"cache_dir": str(tmp_path / "cache")}, "backbone": {}})
    with pytest.raises(UserError, match=f"{planted} is a symbolic link"):
        measures.source_measures(cfg, "key", {}, None, None, None)
    assert list(elsewhere.rglob("*")) == []


def test_links_planted_as_progress_files_are_not_written_through(tmp_path):
    from transfer_lab.sweep.progress import FOLDER, record, start_round

    victim = outside_file(tmp_path, "jobs.jsonl")
    plant_link(tmp_path / FOLDER / "jobs.jsonl", victim)
    assert record(tmp_path, "jobs", "0", True) is None  # not appended through the link
    start_round(tmp_path, "jobs", 3)  # replaces the link
    assert victim.read_text() == "the victim's file\n"
    assert record(tmp_path, "jobs", "0", True).done == 1


def test_submitits_folder_is_made_private_and_one_others_may_write_is_refused(tmp_path):
    """submitit hands each job its code as a pickle in `.submitit/` (and we read its result
    there), so only this user may write that folder."""
    import stat

    from transfer_lab.slurm.launch import private_submitit_folder

    root = private_submitit_folder(f"{tmp_path}/sweep/.submitit/%j")
    assert root == tmp_path / "sweep" / ".submitit"
    assert stat.S_IMODE(root.stat().st_mode) & 0o077 == 0
    assert private_submitit_folder(f"{tmp_path}/sweep/.submitit/%j") == root  # again: fine
    root.chmod(0o775)  # a group drive's umask
    with pytest.raises(UserError) as refused:
        private_submitit_folder(f"{tmp_path}/sweep/.submitit/%j")
    sentence = str(refused.value)
    assert sentence.startswith(f"{root} can be written by other users, and submitit keeps")
    assert f"chmod go-w {root}" in sentence and sentence.count(". ") == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    plant_link(tmp_path / "other" / ".submitit", elsewhere)
    with pytest.raises(UserError, match=r"other/\.submitit is a symbolic link"):
        private_submitit_folder(f"{tmp_path}/other/.submitit/%j")


# --- a read-only cache is read ---------------------------------------------------------------


def read_only(monkeypatch):
    """This user may not write the cache (root may write anything, so the refusal is faked)."""

    def refuse(path, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr("transfer_lab.store.cache.open_lock", refuse)


def test_a_read_only_cache_that_holds_the_source_is_read(tmp_path, monkeypatch):
    from transfer_lab.store.cache import SourceCache

    cache, definition = SourceCache(tmp_path / "cache"), {"source": "shared"}
    cache.fetch_or_train(definition, lambda: {"state_dict": {"w": torch.ones(1)}, "metrics": {}})
    read_only(monkeypatch)
    found, _, trained = cache.fetch_or_train(definition, lambda: pytest.fail("trained again"))
    assert not trained and torch.equal(found["state_dict"]["w"], torch.ones(1))


def test_a_read_only_cache_without_the_source_says_so_in_one_sentence(tmp_path, monkeypatch):
    from transfer_lab.store.cache import SourceCache

    read_only(monkeypatch)
    with pytest.raises(UserError) as refused:
        SourceCache(tmp_path / "cache").fetch_or_train({"source": "missing"}, dict)
    assert str(refused.value).startswith(f"the source cache {tmp_path / 'cache'} is read-only")
    assert "paths.cache_dir" in str(refused.value)


def test_a_read_only_cache_mount_is_read_and_a_missing_source_is_one_sentence(cli, disk):
    """A colleague's cache on a read-only mount (EROFS: refused even to root)."""
    cache = disk(20_000)
    args = [f"paths.cache_dir={cache}", "transfer.arm=A4B+", *TINY]
    cli([*args, "hydra.run.dir=mine"])
    remount = ["mount", "-o", "remount,ro", str(cache)]
    subprocess.run(remount, check=True, capture_output=True)
    done = cli([*args, "hydra.run.dir=reader"])
    assert "reusing cached network" in done.stdout + done.stderr
    assert json.loads((cli.cwd / "reader" / "results.json").read_text())["status"] == "ok"
    missing = cli([*args, "data.split_seed=7", "hydra.run.dir=other"], check=False)
    assert missing.returncode == 2
    (line,) = [x for x in missing.stderr.splitlines() if x.startswith("error:")]
    assert line.startswith(f"error: the source cache {cache} is read-only to you and does not ")


# --- the report shows text as text, and refuses numbers out of range -------------------------

HOSTILE = (
    "<script>alert(1)</script> <img src=x onerror=alert(1)>\n# Heading\n"
    "![tracker](http://evil.example/p.png) [click](javascript:alert(1)) `code` a|b"
)


def rendered(markdown: str) -> str:
    """summary.md as a GitHub-like renderer shows it (CommonMark with tables)."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable("table").render(markdown)


def test_text_from_records_is_escaped_in_summary_md(tmp_path):
    sweep = tmp_path / "sweep"
    for seed in range(2):
        make_job(sweep, seed, [f"data.split_seed={seed}"], ok_results(0.8, split_seed=seed))
    make_job(sweep, 2, ["data.split_seed=2", "x=`<b>`"], {"status": "failed", "reason": HOSTILE})
    report(sweep, draw=False)
    markdown = (sweep / "summary.md").read_text()
    html = rendered(markdown)
    for markup in ("<script", "<img", "<a ", "<h1>Heading", "<code>code"):
        assert markup not in html, markup
    assert html.count("<h1>") == 1  # the report's own title
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # shown, letter for letter
    assert "![tracker](http://evil.example/p.png)" in html
    assert "<code>data.split_seed=2 x=`&lt;b&gt;`</code>" in html  # the overrides, as code
    row = next(line for line in markdown.splitlines() if line.startswith("| 2 | failed |"))
    assert row.count(" | ") == 3  # one row of four cells: no new line, no extra cell


@pytest.mark.parametrize(
    "where, value, reason",
    [
        ("target.test_acc", 1e308, "target.test_acc is 1e+308, not in [0, 1]"),
        ("target.test_acc", -5, "target.test_acc is -5, not in [0, 1]"),
        ("source.val_acc", math.nan, "source.val_acc is nan, not in [0, 1]"),
        ("target.test_loss", math.inf, "target.test_loss is inf, not ≥ 0"),
    ],
)
def test_numbers_out_of_their_range_make_the_record_unreadable(tmp_path, where, value, reason):
    sweep = tmp_path / "sweep"
    for seed in range(3):
        make_job(sweep, seed, [f"data.split_seed={seed}"], ok_results(0.8, split_seed=seed))
    path = sweep / "0" / "results.json"
    record = json.loads(path.read_text())
    phase, name = where.split(".")
    record[phase][name] = value
    path.write_text(json.dumps(record))  # NaN and Infinity, as Python's json writes them
    problems, _ = report(sweep, draw=False)
    import pandas as pd

    jobs = pd.read_csv(sweep / "jobs.csv", dtype={"job": str}).set_index("job")
    assert problems == 1 and jobs.loc["0", "status"] == "unreadable"
    assert jobs.loc["0", "reason"] == f"results.json cannot be read: {reason}"
    assert pd.read_csv(sweep / "summary.csv")["n"].tolist() == [2]
    assert reason in (sweep / "summary.md").read_text()


# --- one sweep per folder at a time ----------------------------------------------------------

HOLD = """
import sys, time
from pathlib import Path
from transfer_lab.sweep.lock import sweep_lock
with sweep_lock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_second_sweep_in_a_folder_in_use_is_refused_naming_the_first(cli):
    sweep = cli.cwd / "sweep"
    sweep.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    first = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(sweep)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert first.stdout.readline().strip() == "held"
        done = cli(["sweep", "model.beta=0,0.4", *TINY, "hydra.sweep.dir=sweep"], check=False)
    finally:
        first.kill()
        first.wait()
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"error: another sweep (pid {first.pid} on ")
    assert line.endswith("give this one a new folder (--new, or a new hydra.sweep.dir).")
    assert not list(sweep.glob("*/results.json"))  # it ran nothing


@pytest.mark.slow
def test_two_sweeps_started_at_once_in_one_folder_the_second_is_refused(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "TRANSFER_LAB_CACHE": str(tmp_path / "cache")}
    args = [
        sys.executable,
        "-m",
        "transfer_lab",
        "sweep",
        "model.beta=0,0.4",
        "data.split_seed=0,1",
    ]
    args += ["source.epochs=30", "target.epochs=30", *TINY[2:], "hydra.sweep.dir=sweep"]
    first = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL)
    try:
        lock = tmp_path / "sweep" / ".sweep.lock"
        while first.poll() is None and not (lock.exists() and lock.read_text()):
            time.sleep(0.05)
        second = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert first.poll() is None, "the first sweep ended before the second started"
    finally:
        first.kill()
        first.wait()
    assert second.returncode == 2
    assert second.stderr.strip().splitlines() == [
        f"error: another sweep (pid {first.pid} on {socket.gethostname()}) is running in "
        "sweep; wait for it to end, or give this one a new folder (--new, or a new hydra.sweep.dir)."
    ]


def test_the_sweep_lock_goes_with_its_process_however_it_ends(tmp_path):
    from transfer_lab.sweep.lock import LOCK_FILE, sweep_lock

    (tmp_path / LOCK_FILE).write_text("pid 999999999 on a-host-long-gone")  # stale: no holder
    with sweep_lock(tmp_path), pytest.raises(UserError, match=f"pid {os.getpid()} on "):  # noqa: SIM117
        with sweep_lock(tmp_path):  # another open file, as another process's
            pass
    with pytest.raises(KeyboardInterrupt), sweep_lock(tmp_path):  # Ctrl-C inside a sweep
        raise KeyboardInterrupt
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    killed = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)], env=env, stdout=subprocess.PIPE, text=True
    )
    assert killed.stdout.readline().strip() == "held"
    killed.kill()  # kill -9: no code of its own runs
    killed.wait()
    started = time.monotonic()
    with sweep_lock(tmp_path):
        assert time.monotonic() - started < 1


def test_a_sweep_lock_that_is_a_link_is_refused(tmp_path):
    from transfer_lab.sweep.lock import LOCK_FILE, sweep_lock

    victim = outside_file(tmp_path, "lock")
    plant_link(tmp_path / "sweep" / LOCK_FILE, victim)
    with pytest.raises(UserError, match="is a symbolic link"), sweep_lock(tmp_path / "sweep"):
        pass
    assert victim.read_text() == "the victim's file\n"
