"""The TensorBoard logger writes each call's scalars as one event that TensorBoard reads back,
tagged by phase, and runs are named by design."""

import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

from transfer_lab.job.context import JobContext, job_number, run_name
from transfer_lab.train.tensorboard import TensorBoardLogger


def test_scalars_of_one_call_share_an_event_and_read_back_by_tag_and_step(tmp_path):
    logger = TensorBoardLogger(save_dir=str(tmp_path), name="job", version="target")
    logger.log_metrics({"train/loss": torch.tensor(0.5), "train/acc": 0.25, "epoch": 0}, step=3)
    logger.log_metrics({"train/loss": 0.125, "train/acc": 0.75, "epoch": 1}, step=7)
    logger.log_metrics({"trial/target_test_acc": 0.5}, step=0)
    logger.finalize("success")
    events = EventAccumulator(str(tmp_path / "job" / "target")).Reload()
    # the phase in every tag, Lightning's epoch left out, the session's trial/* as they are
    tags = set(events.Tags()["scalars"])
    assert tags == {"target/train/loss", "target/train/acc", "trial/target_test_acc"}
    assert [(e.step, e.value) for e in events.Scalars("target/train/loss")] == [
        (3, 0.5),
        (7, 0.125),
    ]
    assert [(e.step, e.value) for e in events.Scalars("target/train/acc")] == [(3, 0.25), (7, 0.75)]
    (event_file,) = (tmp_path / "job" / "target").glob("events.out.tfevents.*")
    with_values = [e for e in EventFileLoader(str(event_file)).Load() if e.summary.value]
    assert [len(e.summary.value) for e in with_values] == [2, 2, 1]  # one event per call


def test_runs_are_named_by_arm_beta_and_split_and_sort_in_job_order():
    assert run_name("A3B+", 0.4, 1, number="007") == "007-A3B+-beta0.4-split1"
    assert run_name("baseB", None, 0, number="012") == "012-baseB-split0"
    assert run_name("A3B+", None, 2) == "A3B+-split2"  # a single run: no number
    key = "1a2b3c4d5e6f" * 5
    assert run_name("A3B+", None, 1, source_of="A", key=key) == "source-A-split1-1a2b3c4d"
    assert run_name("B2B", None, 1, source_of="B", key=key) == "source-baseB-split1-1a2b3c4d"
    numbers = [job_number(str(n), 116) for n in (0, 9, 10, 115)]
    assert numbers == ["000", "009", "010", "115"] == sorted(numbers)
    assert job_number("7", 1234) == "0007" and job_number("7", "?") == "007"


def test_beta_is_named_where_it_varies_or_matters():
    def named(label, source_task, beta, overrides=(), **kwargs):
        ctx = JobContext(None, None, "", "", overrides=overrides, number="003", **kwargs)
        ctx.name_run(label, source_task, beta, 1)
        return ctx.name

    assert named("A4B+", "A", 0.0, ("model.beta=0",)) == "003-A4B+-beta0-split1"  # swept
    assert named("A3B", "A", 0.0) == "003-A3B-split1"  # Yosinski's arms: β stays 0
    assert named("A3B", "A", 0.67) == "003-A3B-beta0.67-split1"
    assert named("B3B", "B", 0.4, ("model.beta=0.4",)) == "003-B3B-split1"  # no A, no β
    assert named("A3B", "A", 0.0, source_key="ab" * 32) == "source-A-split1-abababab"


def test_a_sources_session_names_the_task_it_learnt_not_the_first_arm_that_needed_it():
    from transfer_lab.store.results import JobResults, PhaseResults
    from transfer_lab.train.tensorboard import hparams_of

    def job(treatment, label):
        return JobResults(
            status="ok",
            experiment="digits_beta",
            dataset="digits",
            split_seed=1,
            seed=0,
            treatment=treatment,
            label=label,
            family=label,
            depth=3,
            freeze=False,
            lr_scale=1.0,
            beta=0.4,
            binary_heads=1,
            overrides=[f"transfer.arm={label}", "model.beta=0.4", "only_source=true"],
            source=PhaseResults(cache_key="ab" * 32),
        )

    source_a = hparams_of(job("transfer", "A3B+"), source="A")
    assert source_a["label"] == "source A" and source_a["family"] == "source"
    assert source_a["beta"] == "0.4" and source_a["split_seed"] == 1  # text: a discrete domain
    assert not {"depth", "freeze", "treatment", "transfer.arm", "only_source"} & set(source_a)
    source_b = hparams_of(job("selffer", "B3B"), source="baseB")
    assert source_b["label"] == "source baseB" and "beta" not in source_b
    target = hparams_of(job("transfer", "A3B+"))
    assert (target["label"], target["depth"], target["beta"]) == ("A3B+", 3, "0.4")
    assert "transfer.arm" not in target  # the label says it


def test_the_final_metrics_sort_after_the_curves_so_tensorboard_opens_on_curves(tmp_path):
    from transfer_lab.train.tensorboard import TRIAL

    logger = TensorBoardLogger(save_dir=str(tmp_path), name="job", version="target")
    logger.log_metrics({"val/acc": 0.5}, step=1)
    logger.log_metrics({TRIAL + "target_test_acc": 0.5}, step=0)
    logger.finalize("success")
    tags = EventAccumulator(str(tmp_path / "job" / "target")).Reload().Tags()["scalars"]
    groups = sorted({tag.split("/")[0] for tag in tags} | {"source"})  # TensorBoard's order
    assert groups == ["source", "target", TRIAL.rstrip("/")]
