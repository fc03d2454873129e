"""A job's settings and final metrics as a TensorBoard hparams session (the HPARAMS tab)."""

from __future__ import annotations

from typing import Any

from pytorch_lightning.loggers import Logger, TensorBoardLogger
from torch.utils.tensorboard.summary import hparams

from transfer_lab.store.results import JobResults

# Override keys already shown under their design name.
COVERED = {
    "model.beta",
    "model.binary_heads",
    "transfer.treatment",
    "transfer.depth",
    "transfer.freeze",
    "transfer.lr_scale",
    "data.split_seed",
    "seed",
    "experiment",
}
DESIGN = ("experiment", "dataset", "treatment", "label", "family", "depth", "freeze")


def hparams_of(results: JobResults) -> dict[str, Any]:
    """The job's settings: the design values, then every other override.

    Settings that do not apply (β for scratch, say) are left out rather than given a dummy
    value, so each column keeps one type across the sweep.
    """
    params: dict[str, Any] = {k: getattr(results, k) for k in DESIGN}
    params.update(split_seed=results.split_seed, seed=results.seed)
    if results.has_source:
        params.update(
            beta=results.beta, binary_heads=results.binary_heads, lr_scale=results.lr_scale
        )
    data = results.config.get("data") or {}
    params["data.fraction"] = data.get("fraction")
    params["data.per_class"] = data.get("per_class")
    for text in results.overrides:
        key, _, value = str(text).partition("=")
        key = key.lstrip("+~")
        if key in COVERED or key in params or key.startswith("hydra") or "enable_" in key:
            continue
        try:
            params[key] = float(value)
        except ValueError:
            params[key] = value
    return {k: v for k, v in params.items() if v is not None}


def log_hparams(loggers: list[Logger], results: JobResults) -> None:
    """Write the session and the final metrics (hp/*) into the target run's TensorBoard log.

    No job writes an experiment summary of its own: TensorBoard then builds the HPARAMS table
    from every session under the log directory, so all jobs (and sweeps with different swept
    keys) show side by side instead of one job's columns winning.
    """
    logger = next((lg for lg in loggers if isinstance(lg, TensorBoardLogger)), None)
    if logger is None or results.target is None:
        return
    source, target = results.source, results.target
    metrics = {
        "hp/target_test_acc": target.test_acc,
        "hp/target_test_loss": target.test_loss,
        "hp/target_val_acc": target.val_acc,
        "hp/source_val_acc": source.val_acc,
        "hp/source_test_acc": source.test_acc,
    }
    logger.log_metrics({k: v for k, v in metrics.items() if v is not None}, step=0)
    _experiment, session_start, session_end = hparams(hparams_of(results), {})
    writer = logger.experiment._get_file_writer()  # as Lightning's own log_hyperparams does
    writer.add_summary(session_start)
    writer.add_summary(session_end)
    logger.finalize("success")
