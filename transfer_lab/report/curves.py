"""Each job's target losses, read back from its TensorBoard events (no torch).

The Fashion-MNIST study reads its budget question off loss curves: training loss favours the
pre-trained CNN at every budget, validation loss favours scratch from about 25% of B. results.json
keeps accuracies of the selected checkpoint; the losses at the last epoch, and the lowest
validation loss, come from the per-epoch scalars the job logged.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

CURVE_METRICS = ("target_train_loss", "target_val_loss", "target_val_loss_min")


def event_folder(job_dir: Path, phase: str = "target") -> Path | None:
    """A sweep job's TensorBoard run of one phase: <sweep>/tensorboard/<number>-<arm…>/<phase>,
    the run whose name starts with the job's grid number (job/context.run_name)."""
    number = job_dir.name
    for folder in sorted((job_dir.parent / "tensorboard").glob(f"*/{phase}")):
        first = folder.parent.name.partition("-")[0]
        if folder.is_dir() and first.isdigit() and number.isdigit() and int(first) == int(number):
            return folder
    return None


def scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of a run by tag, as (step, value) sorted by step (a resumed phase's files
    are read together)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    # TensorBoard logs each event file it moves past at INFO, which a sweep's logging prints
    logging.getLogger("tensorboard").setLevel(logging.WARNING)
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    events.Reload()
    return {
        tag: sorted((e.step, float(e.value)) for e in events.Scalars(tag))
        for tag in events.Tags()["scalars"]
    }


def curve_columns(job_dir: Path) -> dict[str, float]:
    """The target phase's last-epoch training and validation loss and its lowest validation
    loss; empty when the job logged no TensorBoard events."""
    folder = event_folder(job_dir)
    if folder is None:
        return {}
    curves = scalars(folder)
    # tags carry the phase (target/train/loss); logs written before that did not
    train = curves.get("target/train/loss") or curves.get("train/loss", [])
    val = curves.get("target/val/loss") or curves.get("val/loss", [])
    columns = {}
    if train:
        columns["target_train_loss"] = train[-1][1]
    if val:
        columns["target_val_loss"] = val[-1][1]
        columns["target_val_loss_min"] = min(v for _, v in val if not math.isnan(v))
    return columns
