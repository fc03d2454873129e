"""What a source network's cache key hashes: the package's code, the library versions, the
device, precision, CPU thread count and CPU kernels of the machine the job runs on
(transfer_lab.machine), and the definition of the network (data, the bytes read, classes,
exact images, backbone, β and K, schedule, seed, Trainer settings); a pretrained source's key
hashes its weights instead."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
import torchvision
from omegaconf import DictConfig, OmegaConf

import transfer_lab
from transfer_lab.data.images import ImageSet
from transfer_lab.data.splits import Task
from transfer_lab.machine import Machine, cpu_kind, job_machine, job_threads
from transfer_lab.test_epochs import epochs_to_test

# Trainer keys that change only what is shown, never what is trained.
DISPLAY_KEYS = {"enable_progress_bar", "enable_model_summary", "log_every_n_steps"}


# Data keys that act on a source network only through its classes and image indices (hashed
# separately in its cache key), or that say where files live (what was read is hashed as
# `data_sha256`): leaving them out of the key lets jobs that differ only there (budgets,
# directions, out-of-domain targets, copies of the same files) share a source.
SPLIT_ONLY_DATA_KEYS = {
    "root",
    "download",
    "check_md5",
    "num_workers",
    "eval_batch_size",
    "split_seed",
    "split",
    "source_classes",
    "target_classes",
    "source_superclasses",
    "target_superclasses",
    "direction",
    "binary",
    "val_fraction",
    "val_from_budget",
    "fraction",
    "per_class",
    "target",
    "name",
    "num_classes",
}


@functools.cache
def code_sha256() -> str:
    """SHA-256 of the package's own source files, read once per process.

    Any change to the code (initialisation, BatchNorm handling, a loss) makes every source key
    new, so a network trained by older code is never paired with newer targets.
    """
    package = Path(transfer_lab.__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def resolved_accelerator(setting: Any, machine: Machine | None = None) -> str:
    """The device kind Lightning will pick for `trainer.accelerator` on the machine that runs the
    job (for launcher=slurm: what the job asks for, see transfer_lab.machine), never "auto"."""
    setting = str(setting)
    if setting == "gpu":
        return "cuda"
    if setting != "auto":
        return setting
    machine = machine or job_machine()
    if machine.gpus > 0:
        return "cuda"
    return "mps" if machine.mps else "cpu"


def key_precision(setting: Any, accelerator: str) -> str:
    """`trainer.precision` as a cache key holds it.

    "auto" is 32-bit off a CUDA GPU, but on one it is bf16 where the GPU has it, which only the
    node knows. Hashing "auto" there (not what it resolved to) keeps the key the same on the
    login node that plans and the GPU node that trains, so a source is neither trained twice
    nor stored under a key no job asks for; the price is that on a cluster mixing GPUs with and
    without bf16, "auto" sources are shared between them. Set trainer.precision to keep them
    apart.
    """
    if setting != "auto":
        return str(setting)
    return "auto" if accelerator == "cuda" else "32-true"


def index_digest(task: Task) -> str:
    """A short hash of a task's exact train/val/test images and partitions."""
    digest = hashlib.sha256()
    for array in (task.train, task.val, task.test, task.binary):
        digest.update(np.ascontiguousarray(array, dtype=np.int64).tobytes())
    return digest.hexdigest()


def source_definition(cfg: DictConfig, images: ImageSet, task: Task) -> dict[str, Any]:
    """Everything that determines a source network: its cache key is a hash of this."""
    data = {
        k: v
        for k, v in OmegaConf.to_container(cfg.data, resolve=True).items()
        if k not in SPLIT_ONLY_DATA_KEYS
    }
    trainer = {
        k: v
        for k, v in OmegaConf.to_container(cfg.trainer, resolve=True).items()
        if k not in DISPLAY_KEYS
    }
    trainer["accelerator"] = resolved_accelerator(trainer.get("accelerator", "auto"))
    trainer["precision"] = key_precision(trainer.get("precision", "auto"), trainer["accelerator"])
    return {
        "code_sha256": code_sha256(),
        "versions": {
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "pytorch_lightning": pl.__version__,
        },
        "dataset": images.name,
        "data_sha256": images.digest(),  # what was read: other pixels, another source
        "image_shape": list(images.shape),
        "data": data,
        "classes": list(task.classes),
        "indices": index_digest(task),
        "backbone": OmegaConf.to_container(cfg.backbone, resolve=True),
        "beta": float(cfg.model.beta),
        "binary_heads": int(cfg.model.binary_heads),
        "schedule": OmegaConf.to_container(cfg.source, resolve=True),
        "test_epochs": epochs_to_test(
            cfg.get("paper"), cfg.source, on_b=False
        ),  # what its record holds
        "seed": int(cfg.seed),
        "trainer": trainer,
        "cpu_threads": job_threads(),  # the order of sums on the CPU, so the numbers
        "cpu_kernels": cpu_kernels(trainer["accelerator"]),
    }


def weights_sha256(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 of a state dict: its names, shapes, dtypes and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}\0{tuple(tensor.shape)}\0{tensor.dtype}\0".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def pretrained_definition(
    cfg: DictConfig, images: ImageSet, state: dict[str, torch.Tensor]
) -> dict:
    """What a pretrained source's cache key hashes: its weights (by their hash), the backbone
    they fill and the images' shape. Nothing is trained, so no schedule or machine; the code
    is in, as for any source, because the measures kept beside it are keyed by it."""
    return {
        "code_sha256": code_sha256(),
        "pretrained": str(cfg.source.get("pretrained") or "file"),
        "weights_sha256": weights_sha256(state),
        "backbone": OmegaConf.to_container(cfg.backbone, resolve=True),
        "image_shape": list(images.shape),
    }


def cpu_kernels(accelerator: str, machine: Machine | None = None) -> str | None:
    """The vector instructions torch's CPU kernels use on this machine and the CPU that runs
    them ("AVX512 on Intel(R) Xeon(R) Processor", machine.cpu_kind), for a job that trains on
    this machine's CPU; None otherwise.

    They move the last bits as the thread count does, and 34 training images turn last bits
    into other epochs and other accuracies: the same digits job tested 97.77% with AVX-512
    kernels, 97.32% forced to AVX2, 98.21% on an AMD EPYC. Without this, a lab-wide cache
    shared by machines of two CPU kinds gave whichever numbers the first machine trained. A
    SLURM job's node is not known to the planner on the login node, so its key leaves them
    out, as it does the GPU model.
    """
    machine = machine or job_machine()
    if accelerator != "cpu" or machine.requested:
        return None
    return cpu_kind()
