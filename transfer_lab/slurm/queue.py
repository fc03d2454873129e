"""What the cluster says, through its commands: the nodes of a partition (sinfo) and the state
of jobs (squeue, then scontrol for jobs that left the queue, then sacct where accounting runs).

Reading states this way, and not through submitit's sacct watcher, is what lets a sweep see a
job that died (scancel, OOM, a failed node) on a cluster without accounting: sacct there only
says "accounting storage is disabled", and a job that never wrote its result would be waited on
for ever.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass

# States in which a job may still write its result (a requeued job passes through PENDING).
ALIVE = {
    "PENDING",
    "RUNNING",
    "REQUEUED",
    "REQUEUE_FED",
    "REQUEUE_HOLD",
    "RESIZING",
    "SUSPENDED",
    "CONFIGURING",
    "COMPLETING",
    "SIGNALING",
    "STAGE_OUT",
    "STOPPED",
    "RESV_DEL_HOLD",
}
GONE = "GONE"  # the cluster no longer knows the job (past MinJobAge, no accounting)


class ClusterError(RuntimeError):
    """A SLURM command failed or is missing; the message is one sentence for the user."""


@dataclass(frozen=True)
class JobState:
    state: str  # SLURM's state word: PENDING, RUNNING, CANCELLED, OUT_OF_MEMORY, …
    reason: str = ""  # SLURM's reason (Resources, Priority, BeginTime, …), "" for None

    @property
    def alive(self) -> bool:
        return self.state in ALIVE

    def __str__(self) -> str:
        return f"{self.state} ({self.reason})" if self.reason else self.state


@dataclass(frozen=True)
class Node:
    name: str
    cpus: int
    mem_mb: int
    gpus: int


def run(args: list[str], timeout: float = 60) -> str:
    """stdout of a SLURM command, or ClusterError with its own words."""
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise ClusterError(f"{args[0]} is not installed on this machine") from None
    except subprocess.TimeoutExpired:
        raise ClusterError(f"{args[0]} did not answer in {timeout:.0f} s") from None
    if done.returncode != 0:
        said = " ".join((done.stderr or done.stdout).split()) or f"exit {done.returncode}"
        raise ClusterError(f"{' '.join(args[:2])} failed: {said}")
    return done.stdout


def gpu_count(gres: str) -> int:
    """GPUs in sinfo's GRES field: "gpu:a100:4(S:0-1),shard:8" → 4; "(null)" → 0."""
    total = 0
    for item in gres.split(","):
        item = re.sub(r"\(.*?\)", "", item).strip()
        if item.startswith("gpu"):
            count = item.rsplit(":", 1)[-1]
            total += int(count) if count.isdigit() else 1
    return total


def partition_nodes(partition: str | None) -> tuple[str, list[Node]]:
    """The partition's name (the default one for None) and its nodes, from sinfo."""
    lines = run(["sinfo", "-h", "-N", "-o", "%P|%N|%c|%m|%G"]).splitlines()
    rows = [line.split("|") for line in lines if line.count("|") == 4]
    if partition is None:
        defaults = {p for p, *_ in rows if p.endswith("*")}
        if not defaults:
            raise ClusterError("the cluster has no default partition; set hydra.launcher.partition")
        partition = defaults.pop()
    name = partition.rstrip("*")
    nodes = [
        Node(node, int(cpus), int(mem.rstrip("+") or 0), gpu_count(gres))
        for p, node, cpus, mem, gres in rows
        if p.rstrip("*") == name and cpus.isdigit()
    ]
    known = sorted({p.rstrip("*") for p, *_ in rows})
    if not nodes:
        raise ClusterError(
            f"the cluster has no partition {name!r}; its partitions are {', '.join(known)}"
        )
    return name, nodes


def unsatisfiable(partition: str | None, cpus: int, mem_gb: float | None, gpus: int) -> str | None:
    """Why no node of the partition can ever run a job of this size, or None when one can."""
    name, nodes = partition_nodes(partition)
    mem_mb = None if mem_gb is None else int(mem_gb * 1024)
    for node in nodes:
        if cpus <= node.cpus and gpus <= node.gpus and (mem_mb is None or mem_mb <= node.mem_mb):
            return None
    most_cpus = max(n.cpus for n in nodes)
    most_mem = max(n.mem_mb for n in nodes) / 1024
    most_gpus = max(n.gpus for n in nodes)
    asked = f"{cpus} CPU(s), {gpus} GPU(s)" + (f" and {mem_gb:g} GB" if mem_gb else "")
    return (
        f"no node of partition {name!r} has {asked} (its largest offer {most_cpus} CPU(s), "
        f"{most_gpus} GPU(s), {most_mem:.0f} GB), so the jobs would pend for ever; lower "
        f"hydra.launcher.cpus_per_task, gpus_per_node or mem_gb, or pick another "
        f"hydra.launcher.partition"
    )


def check_request(launcher: dict) -> None:
    """Refuse, before anything is submitted, a SLURM request no node of the partition can meet,
    or a cluster this machine cannot reach (UserError, one sentence)."""
    from transfer_lab.errors import UserError

    try:
        why = unsatisfiable(
            launcher.get("partition"),
            int(launcher.get("cpus_per_task") or 1),
            launcher.get("mem_gb"),
            int(launcher.get("gpus_per_node") or 0),
        )
    except ClusterError as error:
        raise UserError(
            f"launcher=slurm needs a SLURM cluster reachable from this machine, and {error}; "
            f"run the sweep where sbatch works, or use launcher=local or launcher=parallel."
        ) from None
    if why:
        raise UserError(why + ".")


def _chunks(items: list[str], size: int = 200) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def job_states(job_ids: Iterable[str], accounting: bool | None = None) -> dict[str, JobState]:
    """Each job's state and reason; GONE for a job no command knows any more."""
    ids = list(dict.fromkeys(str(i) for i in job_ids))
    states: dict[str, JobState] = {}
    for chunk in _chunks(ids):
        out = run(["squeue", "-h", "-r", "-o", "%i|%T|%r", "-j", ",".join(chunk)])
        for line in out.splitlines():
            job, _, rest = line.strip().partition("|")
            state, _, reason = rest.partition("|")
            states[job] = JobState(state, "" if reason in ("None", "(null)") else reason)
    for job in ids:
        if job not in states:
            states[job] = finished_state(job, accounting)
    return states


def finished_state(job_id: str, accounting: bool | None = None) -> JobState:
    """The end state of a job that left the queue: scontrol keeps it for MinJobAge, sacct for
    as long as the site keeps accounting."""
    try:
        fields = dict(
            item.split("=", 1)
            for item in run(["scontrol", "-o", "show", "job", job_id]).split()
            if "=" in item
        )
        if fields.get("JobState"):
            reason = fields.get("Reason", "")
            return JobState(fields["JobState"], "" if reason == "None" else reason)
    except ClusterError:
        pass
    if accounting is not False:
        try:
            out = run(["sacct", "-n", "-X", "-P", "-o", "JobID,State,Reason", "-j", job_id])
        except ClusterError:
            out = ""
        for line in out.splitlines():
            job, state, *reason = line.split("|")
            if job == job_id and state:
                word = state.split()[0]  # "CANCELLED by 0" → CANCELLED
                why = reason[0] if reason and reason[0] != "None" else ""
                return JobState(word, why)
    return JobState(GONE, "the cluster no longer lists it")


def rename(job_id: str, name: str) -> None:
    """Name a submitted job (an array task too) as squeue will show it."""
    run(["scontrol", "update", f"JobId={job_id}", f"JobName={name}"])
