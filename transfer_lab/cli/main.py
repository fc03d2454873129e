"""The command line: `python -m transfer_lab [run|sweep|report|list] [hydra overrides]`.

`run` (the default) runs one job, `sweep` runs the experiment's grid as a Hydra multirun and
reports it, `report [DIR]` summarises a finished sweep, `list` shows what can be run. The
command word may stand anywhere among the arguments. Each job is job/task.py's Hydra task.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from transfer_lab.cli.words import not_a_command, refuse
from transfer_lab.errors import UserError

COMMANDS = ("run", "sweep", "report", "list")
# Hydra flags that print something and run no job.
INFO_FLAGS = {"--help", "-h", "--hydra-help", "--cfg", "-c", "--info", "-i", "--version"}
INFO_FLAGS |= {"--resolve", "--shell-completion", "-sc"}
# Hydra flags whose value is the next argument.
TAKES_VALUE = {"--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd", "--package"}
TAKES_VALUE |= {"-p", "--experimental-rerun", "--cfg", "-c", "--info", "-i"}
SWEEPS = Path("multirun")  # where a sweep's folder is made, multirun/<date>/<time>


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


def has_override(args: list[str], key: str) -> bool:
    return any(a.lstrip("+~").startswith(f"{key}=") for a in args)


def override_value(args: list[str], key: str) -> str:
    return next(a for a in args if a.lstrip("+~").startswith(f"{key}=")).split("=", 1)[1]


def check_before_running(command: str, args: list[str], sweep_dir: Path | None = None):
    """Refuse bad settings and unwritable folders in one sentence each, before any folder is
    made; returns the run's or sweep's composed config. `sweep_dir` is the sweep's folder to be,
    so each job is composed as the sweep will compose it, and only once (sweep/compose.py)."""
    from transfer_lab.cli.preflight import check_command_line
    from transfer_lab.config.folders import check_writable
    from transfer_lab.sweep.plan import check_launcher, check_something_to_sweep

    for before, word in zip(["", *args], args, strict=False):
        sentence = not_a_command(word, COMMANDS, command)
        if sentence and before not in TAKES_VALUE:
            raise UserError(sentence)
    multirun = command == "sweep" or bool({"-m", "--multirun"} & set(args))
    named = [f"hydra.sweep.dir={sweep_dir}"] if sweep_dir else []
    master = check_command_line([*args, *named], multirun=multirun)
    if multirun:
        from omegaconf import OmegaConf

        check_launcher(OmegaConf.to_container(master.hydra.launcher, resolve=False))
        check_something_to_sweep(master, args)
    key = "hydra.run.dir" if command == "run" else "hydra.sweep.dir"
    if not has_override(args, key):
        check_writable(Path("outputs" if command == "run" else SWEEPS), key)
    return master


def main(argv: list[str] | None = None) -> int:
    command, rest = split_command(list(sys.argv[1:] if argv is None else argv))
    if command == "list":
        from transfer_lab.cli.listing import main as list_main

        return list_main(rest)
    if command == "report":
        from transfer_lab.cli.report import main as report_main

        return report_main(rest)

    from transfer_lab.cli.interrupt import interruptible, stopped
    from transfer_lab.config.folders import free_dir, unique_dir
    from transfer_lab.job.task import quiet_libraries, run_hydra
    from transfer_lab.sweep.resume import folder_to_go_on

    quiet_libraries()
    informational = any(a.split("=")[0] in INFO_FLAGS for a in rest)
    sweep_dir = planned = master = None
    try:
        if command == "sweep":
            sweep_dir = folder_to_go_on(SWEEPS, rest)  # given, --resume'd or this command's
        if command == "sweep" and not informational and sweep_dir is None:
            planned = free_dir(SWEEPS)  # named before the checks, made after them
        if not informational:
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
            again = given if has_override(given, "hydra.run.dir") else rest
            where = f"the job in {override_value(rest, 'hydra.run.dir')}"
            return stopped(where, f"python -m transfer_lab {shlex.join(again)}")
        return 0
    return sweep(rest, sweep_dir, planned, master)


def sweep(rest: list[str], sweep_dir: Path | None, planned: Path | None, master) -> int:
    """Run the checked sweep in its folder (made now when new), then report it."""
    from transfer_lab.cli.interrupt import interruptible, stopped
    from transfer_lab.config.folders import unique_dir
    from transfer_lab.job.task import run_hydra
    from transfer_lab.sweep.resume import failed_line, write_command

    if master is not None:  # not --help and the like
        if sweep_dir is None:
            sweep_dir = unique_dir(SWEEPS, first=planned)
            rest.append(f"hydra.sweep.dir={sweep_dir}")
        write_command(sweep_dir, rest)
        from transfer_lab.slurm.driver import submit_driver_job, wants_driver_job

        if wants_driver_job(rest):
            return submit_driver_job(rest, sweep_dir, master)
    with interruptible() as interrupted:  # the sweeper holds the folder's lock (sweep/lock.py)
        run_hydra(["--multirun", *rest])
    if interrupted:
        where = f"the sweep in {sweep_dir}" if sweep_dir else "the sweep"
        return stopped(where, "python -m transfer_lab sweep --resume")
    if sweep_dir is None:
        return 0
    from transfer_lab.cli.report import report_sweep

    not_ok = report_sweep(sweep_dir)
    if not_ok:
        print(failed_line(sweep_dir, not_ok), file=sys.stderr, flush=True)
        return 1
    return 0
