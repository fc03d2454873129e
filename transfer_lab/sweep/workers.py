"""One GPU and a share of the CPU for each worker of a parallel (joblib) sweep.

joblib does not number its workers, so each worker process claims a slot 0..n_jobs-1 by
locking a file in the sweep folder, and keeps it for its life (a worker runs many jobs, and
CUDA_VISIBLE_DEVICES only counts before CUDA starts in that process). Slot i gets GPU
i mod (GPUs on the machine) and usable CPUs / n_jobs torch threads (machine.worker_threads:
fewer where OMP_NUM_THREADS asks for fewer), so the workers together fill the cores and no more.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import subprocess
from pathlib import Path
from typing import IO

from transfer_lab.machine import usable_cpus, worker_threads
from transfer_lab.store.atomic import open_lock, own_folder

log = logging.getLogger(__name__)

_claimed: tuple[int, IO[str]] | None = None  # this process's slot and the open, locked file


def claim_slot(folder: Path, slots: int) -> int:
    """The lowest free slot under folder/, locked until this process ends."""
    global _claimed
    if _claimed is not None:
        return _claimed[0]
    own_folder(folder)
    for slot in range(slots):
        # held for the process's life; never opened through a link
        handle = os.fdopen(open_lock(folder / f"{slot}.lock"), "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        _claimed = (slot, handle)
        return slot
    raise RuntimeError(f"more parallel workers than the {slots} slots under {folder}")


def visible_gpus() -> list[str]:
    """The GPUs this sweep may use: CUDA_VISIBLE_DEVICES as given, else every GPU nvidia-smi sees."""
    given = os.environ.get("TRANSFER_LAB_GPUS") or os.environ.get("CUDA_VISIBLE_DEVICES")
    if given is not None:
        return [g for g in given.split(",") if g.strip()]
    if shutil.which("nvidia-smi") is None:
        return []
    # nvidia-smi, not torch: torch caches its device count, and CUDA must not start here yet.
    listed = subprocess.run(["nvidia-smi", "--list-gpus"], capture_output=True, text=True)
    return [str(i) for i, line in enumerate(listed.stdout.splitlines()) if line.startswith("GPU")]


def pin_worker(sweep_dir: Path, n_jobs: int) -> str:
    """Give this worker its GPU (if any) and its CPU threads; returns a line saying which."""
    import torch

    slots = n_jobs if n_jobs > 0 else usable_cpus()
    slot = claim_slot(sweep_dir / ".workers", slots)
    gpus = visible_gpus()
    if gpus:
        os.environ.setdefault("TRANSFER_LAB_GPUS", ",".join(gpus))  # for later jobs of the worker
        os.environ["CUDA_VISIBLE_DEVICES"] = gpus[slot % len(gpus)]
    threads = worker_threads(n_jobs)  # what job_threads tells the planner's cache keys
    torch.set_num_threads(threads)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    gpu = f"GPU {os.environ['CUDA_VISIBLE_DEVICES']}" if gpus else "no GPU"
    return f"worker {slot}: {gpu}, {threads} CPU thread(s) of {usable_cpus()} for {slots} worker(s)"
