"""The TensorBoard logger writes each call's scalars as one event that TensorBoard reads back."""

import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

from transfer_lab.train.tensorboard import TensorBoardLogger


def test_scalars_of_one_call_share_an_event_and_read_back_by_tag_and_step(tmp_path):
    logger = TensorBoardLogger(save_dir=str(tmp_path), name="job", version="target")
    logger.log_metrics({"train/loss": torch.tensor(0.5), "train/acc": 0.25}, step=3)
    logger.log_metrics({"train/loss": 0.125, "train/acc": 0.75}, step=7)
    logger.finalize("success")
    events = EventAccumulator(str(tmp_path / "job" / "target")).Reload()
    assert {"train/loss", "train/acc"} <= set(events.Tags()["scalars"])
    assert [(e.step, e.value) for e in events.Scalars("train/loss")] == [(3, 0.5), (7, 0.125)]
    assert [(e.step, e.value) for e in events.Scalars("train/acc")] == [(3, 0.25), (7, 0.75)]
    (event_file,) = (tmp_path / "job" / "target").glob("events.out.tfevents.*")
    with_values = [e for e in EventFileLoader(str(event_file)).Load() if e.summary.value]
    assert [len(e.summary.value) for e in with_values] == [2, 2]  # one event per call
