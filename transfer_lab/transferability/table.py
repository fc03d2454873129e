"""One value per measure per stage of a source network, on target task B's images.

Every measure is computed on B's training budget (what a transfer job may train on); the linear
probe, which needs held-out images, is scored on B's validation carve-out. The test set is never
read. LEEP and NCE need the source head, so they appear only when it is given.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from torch import nn

from transfer_lab.data.splits import Task
from transfer_lab.models.backbone import Backbone
from transfer_lab.transferability.cka import layerwise_cka
from transfer_lab.transferability.features import Features, extract
from transfer_lab.transferability.hscore import h_score
from transfer_lab.transferability.leep import leep
from transfer_lab.transferability.logme import logme
from transfer_lab.transferability.nce import nce_from_probabilities
from transfer_lab.transferability.probe import linear_probe_accuracy
from transfer_lab.transferability.transrate import transrate

# Measures of one stage's features on B's training budget: (features, labels) → value.
LABEL_MEASURES: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "logme": logme,
    "hscore": h_score,
    "transrate": transrate,
}
STAGE_MEASURES = ("probe", *LABEL_MEASURES)


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
    per_stage: dict[str, list[float]] = {name: [] for name in STAGE_MEASURES}
    for stage in train.stage_names:
        x = train.stages[stage]
        per_stage["probe"].append(
            linear_probe_accuracy(x, train.labels, val.stages[stage], val.labels)
        )
        for name, measure in LABEL_MEASURES.items():
            per_stage[name].append(float(measure(x, train.labels)))
    output = {}
    if train.probabilities is not None:
        output["leep"] = leep(train.probabilities, train.labels)
        output["nce"] = nce_from_probabilities(train.probabilities, train.labels)
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
