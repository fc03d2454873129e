"""One value per measure per stage of a source network, on target task B's images.

Every measure is computed on B's training budget (what a transfer job may train on); the linear
probe, which needs held-out images, is scored on B's validation carve-out. The test set is never
read. LEEP and NCE need the source head, so they appear only when it is given.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from torch import nn

from transfer_lab.data.splits import Task
from transfer_lab.models.backbone import Backbone
from transfer_lab.transferability.cka import layerwise_cka
from transfer_lab.transferability.features import Features, extract
from transfer_lab.transferability.measure import PROBE
from transfer_lab.transferability.registry import OUTPUT, PER_STAGE


@dataclass
class StageMeasures:
    """`per_stage[measure][i]` is the measure after stage `stages[i]` (cut depth i + 1)."""

    stages: list[str]
    per_stage: dict[str, list[float]]
    output: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form kept in results.json."""
        return {"stages": self.stages, "per_stage": self.per_stage, "output": self.output}

    def frame(self) -> pd.DataFrame:
        """Stages as rows (with their cut depth), measures as columns."""
        table = pd.DataFrame(self.per_stage, index=pd.Index(self.stages, name="stage"))
        table.insert(0, "depth", range(1, len(self.stages) + 1))
        return table


def measure_features(train: Features, val: Features) -> StageMeasures:
    """Every measure at every stage from features already extracted."""
    per_stage: dict[str, list[float]] = {m.name: [] for m in PER_STAGE}
    for stage in train.stage_names:
        x = train.stages[stage]
        for m in PER_STAGE:
            held_out = (val.stages[stage], val.labels) if m.reads == PROBE else ()
            per_stage[m.name].append(float(m.fn(x, train.labels, *held_out)))
    output = {}
    if train.probabilities is not None:
        output = {m.name: float(m.fn(train.probabilities, train.labels)) for m in OUTPUT}
    return StageMeasures(train.stage_names, per_stage, output)


def task_batches(images: Any, task: Task, part: str):
    """Normalised, unaugmented batches of a task's `train` or `val` images, labels 0..C−1.

    Served by the task's own data module (its evaluation path), so the images are exactly
    those a job trains or validates on, scaled as it scales them.
    """
    from transfer_lab.data.datamodule import TaskDataModule
    from transfer_lab.data.loading import datamodule_for

    indices = {"train": task.train, "val": task.val}[part]
    only = dataclasses.replace(task, val=indices)
    if getattr(images, "settings", None) is not None:
        return datamodule_for(images, only, seed=0).val_dataloader()
    return TaskDataModule(images, only).val_dataloader()


def measure_source(
    backbone: Backbone,
    images: Any,
    task: Task,
    head: nn.Module | None = None,
    device: Any = None,
) -> StageMeasures:
    """The per-stage measures of a (source) backbone on task B: `images` with B's `task`."""
    train = extract(backbone, task_batches(images, task, "train"), head=head, device=device)
    val = extract(backbone, task_batches(images, task, "val"), device=device)
    return measure_features(train, val)


def network_cka(
    first: Backbone, second: Backbone, images: Any, task: Task, part: str = "val", device=None
) -> dict[str, float]:
    """Linear CKA between the same-named stages of two networks on the same images of a task."""
    a = extract(first, task_batches(images, task, part), device=device)
    b = extract(second, task_batches(images, task, part), device=device)
    return layerwise_cka(a.stages, b.stages)
