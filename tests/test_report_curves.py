"""The target losses the report reads back from a job's TensorBoard events, and the figure of the
budget study drawn from them."""

from __future__ import annotations

import math

from torch.utils.tensorboard import SummaryWriter

from transfer_lab.report.curves import curve_columns


def write_run(folder, train, val):
    writer = SummaryWriter(str(folder))
    for epoch, (t, v) in enumerate(zip(train, val, strict=True)):
        writer.add_scalar("target/val/loss", v, 10 * epoch + 9)
        writer.add_scalar("target/train/loss", t, 10 * epoch + 10)
    writer.close()


def test_last_epoch_losses_and_the_lowest_validation_loss(tmp_path):
    sweep = tmp_path / "sweep"
    (sweep / "4").mkdir(parents=True)
    write_run(
        sweep / "tensorboard" / "004-A3B+-split1" / "target", [2.0, 1.0, 0.5], [1.5, 0.9, 1.2]
    )
    write_run(sweep / "tensorboard" / "004-A3B+-split1" / "source", [9.0], [9.0])  # not read
    write_run(sweep / "tensorboard" / "040-A3B+-split1" / "target", [9.0], [9.0])  # job 40's
    columns = curve_columns(sweep / "4")
    assert math.isclose(columns["target_train_loss"], 0.5, rel_tol=1e-6)
    assert math.isclose(columns["target_val_loss"], 1.2, rel_tol=1e-6)
    assert math.isclose(columns["target_val_loss_min"], 0.9, rel_tol=1e-6)  # float32 events


def test_a_job_without_events_has_no_loss_columns(tmp_path):
    (tmp_path / "sweep" / "0").mkdir(parents=True)
    assert curve_columns(tmp_path / "sweep" / "0") == {}
