"""Where a job writes and how it introduces itself: set by the command line, read by every step."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from transfer_lab.train.folders import RunFolders
from transfer_lab.transfer.arms import source_network


@dataclass
class JobContext:
    job_dir: Path
    tensorboard_dir: Path
    name: str  # the job's TensorBoard run, e.g. "007-A3B+-beta0.4-split1" (see `run_name`)
    banner: str  # e.g. "job 4/16"
    experiment: str | None = None
    overrides: tuple[str, ...] = ()
    number: str = ""  # the zero-padded grid number in a sweep, "" for a single run
    source_key: str = ""  # a sweep's source job: the cache key it trains (its folder's name)
    sweep_dir: Path | None = None  # the sweep's folder; None for a single run

    @classmethod
    def from_hydra(cls, only_source: bool) -> JobContext:
        """The running job's context, from Hydra's runtime config: its folder, and in a sweep
        its number in the grid (its folder's name, transfer_lab.sweep.plan) or the cache key
        of the source it trains. The run's name is given once the job knows its arm."""
        import os

        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        from transfer_lab.sweep.grid import JOB_COUNT_ENV

        hc = HydraConfig.get()
        job_dir = Path(hc.runtime.output_dir)
        common = dict(
            job_dir=job_dir,
            experiment=hc.runtime.choices.get("experiment"),
            overrides=tuple(hc.overrides.task),
        )
        if hc.mode != RunMode.MULTIRUN:
            return cls(tensorboard_dir=job_dir / "tensorboard", name="run", banner="job", **common)
        sweep_dir = Path(hc.sweep.dir)
        common.update(tensorboard_dir=sweep_dir / "tensorboard", sweep_dir=sweep_dir)
        folder = job_dir.name
        if only_source:
            return cls(name=folder, banner=f"source {folder[:8]}", source_key=folder, **common)
        total = os.environ.get(JOB_COUNT_ENV, "?")
        number = job_number(folder, total)
        banner = f"job {int(folder) + 1}/{total}" if folder.isdigit() else f"job {folder}"
        return cls(name=number, banner=banner, number=number, **common)

    def folders(self) -> RunFolders:
        """Where a phase of this job writes (what train/ needs of it), once the run is named."""
        return RunFolders(self.job_dir, self.tensorboard_dir, self.name)

    def name_run(self, label: str, source_task: str | None, beta: float, split_seed: int) -> None:
        """Name the TensorBoard run once the job knows its arm (before any phase logs)."""
        show_beta = source_task == "A" and (
            beta != 0 or any(o.lstrip("+~").startswith("model.beta=") for o in self.overrides)
        )
        self.name = run_name(
            label,
            beta if show_beta else None,
            split_seed,
            number=self.number,
            source_of=source_task if self.source_key else None,
            key=self.source_key,
        )


def run_name(
    label: str,
    beta: float | None,
    split_seed: int,
    number: str = "",
    source_of: str | None = None,
    key: str = "",
) -> str:
    """A run's name by design, so TensorBoard's list says which arm, β and split each run is and
    sorts in job order: `007-A3B+-beta0.4-split1`, a sweep's sources `source-A-split1-1a2b3c4d`
    (`source-baseB-…` for the network BnB copies), a single run `A3B+-beta0.4-split1`."""
    beta_part = [] if beta is None else [f"beta{beta:g}"]
    if source_of is not None:
        network = source_network(source_of)
        return "-".join(["source", network, *beta_part, f"split{split_seed}", key[:8]])
    return "-".join([p for p in [number, label, *beta_part, f"split{split_seed}"] if p])


def job_number(folder: str, total: str | int | None) -> str:
    """The grid number zero-padded to the sweep's width (at least 3), so runs sort numerically."""
    width = max(3, len(str(total))) if str(total).isdigit() else 3
    return f"{int(folder):0{width}d}" if folder.isdigit() else folder
