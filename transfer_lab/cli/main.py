"""The command line: `python -m transfer_lab [run|sweep|report|list] [hydra overrides]`.

`run` (the default) runs one job, `sweep` runs the experiment's grid as a Hydra multirun and
reports it, `report [DIR]` summarises a finished sweep, `list` shows what can be run. The
command word may stand anywhere among the arguments.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import signal
import sys
import traceback
import warnings
from datetime import datetime
from pathlib import Path

from transfer_lab.cli.words import not_a_command, refuse
from transfer_lab.errors import UserError

COMMANDS = ("run", "sweep", "report", "list")
# Hydra flags that print something and run no job.
INFO_FLAGS = {
    "--help",
    "-h",
    "--hydra-help",
    "--cfg",
    "-c",
    "--info",
    "-i",
    "--version",
    "--resolve",
    "--shell-completion",
    "-sc",
}

# Hydra flags whose value is the next argument.
TAKES_VALUE = {"--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd", "--package"}
TAKES_VALUE |= {"-p", "--experimental-rerun", "--cfg", "-c", "--info", "-i"}

log = logging.getLogger("transfer_lab")


def split_command(argv: list[str]) -> tuple[str, list[str]]:
    """The command word (default `run`) and the remaining arguments, in order."""
    words = [a for a in argv if a in COMMANDS]
    if len(words) > 1:
        refuse(f"give one command, not {' and '.join(words)}.")
    command = words[0] if words else "run"
    rest = list(argv)
    if words:
        rest.remove(command)
    return command, rest


def _candidates(root: Path, now: datetime | None):
    now = now or datetime.now()
    base = root / now.strftime("%Y-%m-%d") / now.strftime("%H-%M-%S")
    for attempt in range(1, 10_000):
        yield base if attempt == 1 else base.with_name(f"{base.name}-{attempt}")


def unique_dir(root: Path, now: datetime | None = None, first: Path | None = None) -> Path:
    """root/<date>/<time> (or `first`, a name chosen before), made now; a second made in the
    same second gets a suffix."""
    for candidate in [first] if first else _candidates(root, now):
        candidate.parent.mkdir(parents=True, exist_ok=True)
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    if first:  # taken meanwhile
        return unique_dir(root, now)
    raise RuntimeError(f"could not make a new folder under {root}")


def free_dir(root: Path, now: datetime | None = None) -> Path:
    """The name unique_dir would make now, not made yet (the checks compose with it first)."""
    return next(c for c in _candidates(root, now) if not c.exists())


def quiet_libraries() -> None:
    """Keep the console to what a researcher reads: our lines and the progress bars."""
    for name in ("pytorch_lightning", "lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for pattern in (
        ".*does not have many workers.*",
        ".*smaller than the logging interval.*",
        ".*LeafSpec.*",
        ".*Checkpoint directory.*exists and is not empty.*",
        ".*GPU available but not used.*",
        ".*module\\(s\\) in eval mode at the start of training.*",  # frozen BatchNorm, on purpose
        ".*treespec.*",
    ):
        warnings.filterwarnings("ignore", message=pattern)
    if "SLURM_JOB_ID" not in os.environ:  # a login node has srun, but this job is not SLURM's
        warnings.filterwarnings("ignore", message=".*`srun` command is available.*not used")


def task(cfg) -> float:
    """Hydra's task function: run one job in its folder, recording failures in results.json.

    Returns the job's objective, target validation accuracy (NaN when it failed), so Hydra's
    Optuna or Ax sweepers can tune a setting such as β or a learning rate.
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from transfer_lab.config.folders import (
        WRITE_ERRNOS,
        job_fault_sentence,
        quiet_write_errors_in_threads,
    )
    from transfer_lab.job.context import JobContext, job_number
    from transfer_lab.job.pipeline import run_job, write_failure
    from transfer_lab.sweep.grid import JOB_COUNT_ENV

    quiet_libraries()
    quiet_write_errors_in_threads()

    hc = HydraConfig.get()
    job_dir = Path(hc.runtime.output_dir)
    multirun = hc.mode == RunMode.MULTIRUN
    if multirun and "joblib" in str(hc.launcher.get("_target_", "")):
        from transfer_lab.sweep.workers import pin_worker

        log.info(pin_worker(Path(hc.sweep.dir), int(hc.launcher.n_jobs)))
    # The run's name (job/context.run_name) is given once the job knows its arm.
    number = source_key = ""
    if multirun and cfg.get("only_source"):
        source_key, tensorboard_dir = job_dir.name, Path(hc.sweep.dir) / "tensorboard"
        banner = f"source {job_dir.name[:8]}"
    elif multirun:  # the folder is the job's number in the grid (transfer_lab.sweep.plan)
        total = os.environ.get(JOB_COUNT_ENV, "?")
        number, tensorboard_dir = (
            job_number(job_dir.name, total),
            Path(hc.sweep.dir) / "tensorboard",
        )
        name = job_dir.name
        banner = f"job {int(name) + 1}/{total}" if name.isdigit() else f"job {name}"
    else:
        banner, tensorboard_dir = "job", job_dir / "tensorboard"
    ctx = JobContext(
        job_dir=job_dir,
        tensorboard_dir=tensorboard_dir,
        name=source_key or number or "run",
        banner=banner,
        experiment=hc.runtime.choices.get("experiment"),
        overrides=tuple(hc.overrides.task),
        number=number,
        source_key=source_key,
    )
    objective, results = float("nan"), None
    try:
        try:
            results = run_job(cfg, ctx)
        except OSError as error:
            if error.errno not in WRITE_ERRNOS:
                raise
            cache = Path(cfg.paths.cache_dir)
            raise UserError(job_fault_sentence(error, job_dir, cache, multirun)) from error
    except UserError as error:
        with contextlib.suppress(OSError):  # the disk may be the problem
            write_failure(job_dir, cfg, ctx, str(error))
        log.error("error: %s", error)
        if not multirun:
            sys.exit(2)
    except Exception as error:  # a sweep goes on; the report names the failure
        reason = f"{type(error).__name__}: {error}"
        write_failure(job_dir, cfg, ctx, reason)
        (job_dir / "error.txt").write_text(traceback.format_exc())
        if not multirun:
            raise
        log.error("%s failed: %s (traceback in %s)", banner, reason, job_dir / "error.txt")
    else:
        if results.target is not None and results.target.val_acc is not None:
            objective = results.target.val_acc
        if not multirun:
            log.info("results: %s", job_dir / "results.json")
    if multirun:  # the round's k/N, time, ETA and this job's metric
        from transfer_lab.sweep.progress import job_finished

        job_finished(Path(hc.sweep.dir), bool(cfg.get("only_source")), ctx.name, results)
    return objective


def run_hydra(args: list[str]) -> None:
    import hydra

    from transfer_lab.config.folders import guard_hydra_config_save
    from transfer_lab.config.paths import config_dir

    guard_hydra_config_save()

    entry = hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="config")(
        task
    )
    saved = sys.argv
    sys.argv = ["transfer_lab", *args]
    try:
        entry()
    finally:
        sys.argv = saved


def has_override(args: list[str], key: str) -> bool:
    return any(a.lstrip("+~").startswith(f"{key}=") for a in args)


def check_launcher_of(master) -> None:
    """What the sweep asks of its launcher: one task on one node, and for SLURM a request that
    some node of the partition can meet (sinfo), all before a folder is made or a job submitted."""
    from omegaconf import OmegaConf

    from transfer_lab.machine import runs_elsewhere
    from transfer_lab.sweep.plan import check_launcher

    launcher = OmegaConf.to_container(master.hydra.launcher, resolve=False)
    check_launcher(launcher)
    n_jobs = launcher.get("n_jobs", 1)
    if "joblib" in str(launcher.get("_target_")) and not (
        isinstance(n_jobs, int) and not isinstance(n_jobs, bool) and (n_jobs >= 1 or n_jobs == -1)
    ):
        raise UserError(
            f"hydra.launcher.n_jobs={n_jobs!r} is not a number of jobs to run at once; give 1 or "
            f"more (or -1, one per core), e.g. hydra.launcher.n_jobs=2."
        )
    if runs_elsewhere(launcher):
        from transfer_lab.slurm.queue import check_request

        check_request(launcher)


def check_something_to_sweep(master, args: list[str]) -> None:
    """A sweep on this machine needs a grid: an experiment's, or values the user gives
    (model.beta=0,0.4). A one-job sweep on SLURM (or submitit) is how one job is submitted."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    local = any(n in str(master.hydra.launcher.get("_target_")) for n in ("Basic", "Joblib"))
    if master.hydra.sweeper.get("params") or not local:
        return
    overrides = OverridesParser.create().parse_overrides([a for a in args if "=" in a])
    if not any(o.is_sweep_override() for o in overrides):
        raise UserError(
            "sweep has nothing to sweep: add +experiment=NAME (python -m transfer_lab list "
            "experiments) or values to sweep such as model.beta=0,0.4, or drop the word sweep "
            "to run one job."
        )


def check_before_running(command: str, args: list[str], sweep_dir: Path | None = None):
    """Refuse bad settings and unwritable folders in one sentence each, before any folder is
    made; returns the run's or sweep's composed config. `sweep_dir` is the sweep's folder to be,
    so each job is composed as the sweep will compose it, and only once (sweep/compose.py)."""
    from transfer_lab.cli.preflight import check_command_line
    from transfer_lab.config.folders import check_writable

    for before, word in zip(["", *args], args, strict=False):
        sentence = not_a_command(word, COMMANDS, command)
        if sentence and before not in TAKES_VALUE:
            raise UserError(sentence)
    multirun = command == "sweep" or bool({"-m", "--multirun"} & set(args))
    named = [f"hydra.sweep.dir={sweep_dir}"] if sweep_dir else []
    master = check_command_line([*args, *named], multirun=multirun)
    if multirun:
        check_launcher_of(master)
        check_something_to_sweep(master, args)
    key = "hydra.run.dir" if command == "run" else "hydra.sweep.dir"
    if not has_override(args, key):
        check_writable(Path("outputs" if command == "run" else "multirun"), key)
    return master


def main(argv: list[str] | None = None) -> int:
    command, rest = split_command(list(sys.argv[1:] if argv is None else argv))
    if command == "list":
        from transfer_lab.cli.listing import main as list_main

        return list_main(rest)
    if command == "report":
        from transfer_lab.report.cli import main as report_main

        return report_main(rest)

    quiet_libraries()
    from transfer_lab.sweep.resume import resume_arguments, write_command

    if command == "sweep" and "--resume" in rest:
        rest.remove("--resume")
        try:
            _, rest = resume_arguments(Path("multirun"), rest)
        except UserError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    informational = any(a.split("=")[0] in INFO_FLAGS for a in rest)
    master = None
    planned = None  # a new sweep's folder: named before the checks, made after them
    if command == "sweep" and not informational and not has_override(rest, "hydra.sweep.dir"):
        planned = free_dir(Path("multirun"))
    if not informational:
        try:
            master = check_before_running(command, rest, planned)
        except UserError as error:
            if os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise
            for sentence in str(error).splitlines():
                print(f"error: {sentence}", file=sys.stderr)
            return 2
    if command == "run":
        given = list(rest)
        if not informational and not has_override(rest, "hydra.run.dir"):
            rest.append(f"hydra.run.dir={unique_dir(Path('outputs'))}")
        with interruptible() as interrupted:
            run_hydra(rest)
        if interrupted:
            run_dir = next(a for a in rest if a.startswith("hydra.run.dir=")).split("=", 1)[1]
            again = given if has_override(given, "hydra.run.dir") else rest
            return stopped(f"the job in {run_dir}", f"python -m transfer_lab {shlex.join(again)}")
        return 0

    sweep_dir = None
    if not informational:
        if has_override(rest, "hydra.sweep.dir"):
            sweep_dir = Path(
                next(a for a in rest if a.lstrip("+").startswith("hydra.sweep.dir=")).split("=", 1)[
                    1
                ]
            )
        else:
            sweep_dir = unique_dir(Path("multirun"), first=planned)
            rest.append(f"hydra.sweep.dir={sweep_dir}")
        write_command(sweep_dir, rest)
        from transfer_lab.slurm.driver import wants_driver_job

        if wants_driver_job(rest):
            return submit_driver_job(rest, sweep_dir, master)
    with interruptible() as interrupted:
        run_hydra(["--multirun", *rest])
    if interrupted:
        where = f"the sweep in {sweep_dir}" if sweep_dir else "the sweep"
        return stopped(where, "python -m transfer_lab sweep --resume")
    if sweep_dir is None:
        return 0
    from transfer_lab.report.cli import report_sweep

    not_ok = report_sweep(sweep_dir)
    if not_ok:
        print(failed_line(sweep_dir, not_ok), file=sys.stderr, flush=True)
        return 1
    return 0


class Interrupted:
    """Whether Ctrl-C stopped the work (Lightning turns it into SystemExit(1) on its way out)."""

    def __init__(self) -> None:
        self.seen = False

    def __bool__(self) -> bool:
        return self.seen


@contextlib.contextmanager
def interruptible():
    """Note a Ctrl-C and swallow what it raises (KeyboardInterrupt, or Lightning's exit)."""
    interrupted = Interrupted()
    previous = signal.getsignal(signal.SIGINT)

    def on_sigint(number, frame):
        interrupted.seen = True
        signal.default_int_handler(number, frame)

    signal.signal(signal.SIGINT, on_sigint)
    try:
        yield interrupted
    except (KeyboardInterrupt, SystemExit):
        if not interrupted:
            raise
    finally:
        signal.signal(signal.SIGINT, previous)


def stopped(what: str, command: str) -> int:
    """The one line Ctrl-C gets: what stopped, and the command that goes on from there."""
    print(
        f"error: interrupted: {what} stopped; go on from where it stopped with: {command}",
        file=sys.stderr,
        flush=True,
    )
    return 130


def below_warning():
    """A logging filter: the console's stdout handler passes info; warnings and errors go to
    stderr (conf/hydra/job_logging)."""
    return lambda record: record.levelno < logging.WARNING


def submit_driver_job(args: list[str], sweep_dir: Path, master) -> int:
    """`hydra.launcher.driver=true`: this sweep's driver goes to SLURM as a job of its own."""
    from omegaconf import OmegaConf

    from transfer_lab.slurm.driver import submit_driver
    from transfer_lab.slurm.queue import ClusterError

    launcher = OmegaConf.to_container(master.hydra.launcher, resolve=False)
    try:
        submit_driver(args, sweep_dir, launcher, master.hydra.runtime.choices.get("experiment"))
    except ClusterError as error:
        print(f"error: {error}.", file=sys.stderr)
        return 2
    return 0


def failed_line(sweep_dir: Path, not_ok: int) -> str:
    """One line: which jobs failed or did not finish, and the command that runs them again
    (the sweep's own command: it skips what finished and retries the rest)."""
    import shlex

    from transfer_lab.sweep.plan import JOBS_FILE, finished
    from transfer_lab.sweep.resume import COMMAND_FILE

    try:
        jobs = json.loads((sweep_dir / JOBS_FILE).read_text())
        numbers = [str(n) for n, job in enumerate(jobs) if not finished(sweep_dir / str(n), job)]
    except (OSError, ValueError):
        numbers = []
    try:
        command = json.loads((sweep_dir / COMMAND_FILE).read_text())
    except (OSError, ValueError):
        command = [f"hydra.sweep.dir={sweep_dir}"]
    named = f" (jobs {', '.join(numbers)})" if numbers else ""
    return (
        f"error: {not_ok} job(s) failed or did not finish{named}; "
        f"{sweep_dir / 'summary.md'} says why; retry them with: "
        f"python -m transfer_lab sweep {shlex.join(command)}"
    )
