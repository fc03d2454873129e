"""A study axis is declared once (store/results.AXES): the report's columns, a configuration's
short names, the tables' headers and TensorBoard's hparams all follow from the declaration."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from transfer_lab.report import collect, summary, tables
from transfer_lab.store.results import AXES
from transfer_lab.train import tensorboard

ROOT = Path(__file__).resolve().parent.parent

# Adds the axis `data.crop` ("crop") to the declaration before anything derives from it, then
# collects a one-job sweep that ran with data.crop=24 and reads its TensorBoard session.
NEW_AXIS = textwrap.dedent(
    """
    import dataclasses, sys
    from pathlib import Path
    from transfer_lab.store import results
    results.AXES = (*results.AXES, results.Axis("data.crop", "crop", "c", recorded=False))
    from transfer_lab.report.collect import BASE_COLUMNS, OVERRIDE_COLUMNS, collect
    from transfer_lab.report.summary import SHORT_NAMES
    from transfer_lab.report.tables import COLUMN_TITLES
    from transfer_lab.train.tensorboard import COVERED, hparams_of

    job = Path(sys.argv[1]) / "0"
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text("- data.crop=24\\n")
    record = results.JobResults(
        status="ok", treatment="scratch", label="baseB", family="baseB", depth=0,
        split_seed=1, seed=0, overrides=["data.crop=24"], config={"data": {"crop": 24}},
        target=results.PhaseResults(test_acc=0.5),
    )
    record.write(job)
    row = collect(job.parent).iloc[0]
    assert "crop" in BASE_COLUMNS and OVERRIDE_COLUMNS["data.crop"] == "crop", BASE_COLUMNS
    assert row["crop"] == 24, row
    assert SHORT_NAMES["crop"] == "c" and COLUMN_TITLES["crop"] == "c", SHORT_NAMES
    assert "data.crop" in COVERED and hparams_of(record)["data.crop"] == 24
    print("derived")
    """
)


def test_a_new_axis_declared_once_reaches_collect_summary_tables_and_tensorboard(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", NEW_AXIS, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0 and "derived" in done.stdout, done.stderr


def test_every_declared_axis_is_a_report_column_with_a_short_name_and_a_hparam():
    for axis in AXES:
        assert axis.column in (*collect.BASE_COLUMNS, *collect.REPLICATE_KEYS)
        assert summary.SHORT_NAMES[axis.column] == (axis.short or axis.column)
        assert tables.COLUMN_TITLES[axis.column] == (axis.title or axis.short or axis.column)
        assert axis.key is None or axis.key in tensorboard.COVERED
    assert summary.SHORT_NAMES["beta"] == "β" and summary.SHORT_NAMES["depth"] == "n"
    assert collect.TREATMENT_COLUMNS[0] == "label"  # tables.py shows the rest under the label
