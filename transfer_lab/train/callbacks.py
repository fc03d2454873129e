"""The callbacks every phase has: the best weights kept in memory, seeds per epoch, a stop on a
non-finite loss, whole-or-absent checkpoint files, each group's learning rate per epoch, and
the progress bar the `callbacks` group names."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import RichProgressBar
from pytorch_lightning.plugins import TorchCheckpointIO

from transfer_lab.data.batches import epoch_seed
from transfer_lab.errors import UserError
from transfer_lab.store.cache import save_atomically


class RichBar(RichProgressBar):
    """Lightning's rich progress bar without the logger's version number, which means nothing here."""

    def get_metrics(self, trainer, pl_module):
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return metrics


class EpochSeeds(pl.Callback):
    """Seed the global RNG (dropout) from (seed, epoch, rank) at every epoch's start, so a run
    resumed from its last checkpoint draws what an uninterrupted one would."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        seed = epoch_seed(self.seed, trainer.current_epoch, trainer.global_rank, 2)
        if pl_module.device.type == "cpu":
            # the CPU's generator alone: torch.manual_seed also seeds every other device type
            # PyTorch knows (CUDA, XPU, MTIA), which cost more than a digits epoch's training
            torch.default_generator.manual_seed(seed)
        else:
            torch.manual_seed(seed)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written beside their path, flushed and renamed into place, so a killed job
    leaves the previous file or none, never half of one (Lightning's local save copies a
    temporary file from /tmp, which is not atomic across disks)."""

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        save_atomically(Path(path), checkpoint)


class ConfigStamp(pl.Callback):
    """Stamps the phase's last checkpoint with the hash of the config that wrote it, inside the
    checkpoint (a plain string, which `weights_only=True` loads), so a rerun with other
    settings in the same folder does not resume from foreign weights (train/fit.resumable)."""

    def __init__(self, fingerprint: str) -> None:
        self.fingerprint = fingerprint

    def state_dict(self) -> dict[str, str]:
        return {"config_sha256": self.fingerprint}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Nothing to restore: resumable() has read the stamp before the fit."""


class StopOnNonFiniteLoss(pl.Callback):
    """Fail the phase, in one sentence, when its training loss becomes NaN or infinite.

    The check accumulates on the device and is read once per epoch, so it costs no per-step sync.
    """

    def __init__(self, phase: str) -> None:
        self.phase = phase
        self.bad: torch.Tensor | None = None

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.bad = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if isinstance(loss, torch.Tensor):
            flag = ~torch.isfinite(loss.detach()).all()
            self.bad = flag if self.bad is None else self.bad | flag

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        bad = self.bad is not None and bool(self.bad)
        if trainer.strategy.reduce_boolean_decision(bad, all=False):  # any process, all stop
            raise UserError(
                f"the {self.phase} training loss became NaN or infinite in epoch "
                f"{trainer.current_epoch + 1}; lower {self.phase}.optim.lr or use "
                f"trainer.precision=32-true."
            )


def check_finite_test(phase: str, tested: dict[str, Any]) -> None:
    """Fail the phase, in one sentence, when its test loss or accuracy is NaN or infinite.

    The training loss is checked at each step, before that step's update: an update that
    breaks the weights after the last step leaves every training loss finite, and only the
    test shows it.
    """
    bad = [name for name, value in tested.items() if not math.isfinite(float(value))]
    if bad:
        raise UserError(
            f"the {phase} network's {' and '.join(bad)} came out NaN or infinite (its weights "
            f"diverged in the last training steps); lower {phase}.optim.lr or use "
            f"trainer.precision=32-true."
        )


SELECTS = ("best", "last")


class BestWeights(pl.Callback):
    """Keeps a copy of the weights of the epoch with the best `monitor` (in its `mode`).

    An epoch is kept when its score is strictly better than the best so far (the first epoch
    always), as Lightning's ModelCheckpoint selects; a non-finite score never improves. With
    `select="last"` every epoch replaces the one before, so the final epoch is kept (Yosinski's
    sources are their final snapshots). The classifier's validation accuracy of the kept epoch
    is noted too, whatever selected it. The copy stays on the training device: no host
    transfer, no file per improvement.
    """

    def __init__(self, monitor: str = "val/acc", mode: str = "max", select: str = "best") -> None:
        if select not in SELECTS:
            raise UserError(f"select={select!r} is neither best nor last; use one of them.")
        self.monitor = monitor
        self.select = select
        self.sign = 1.0 if mode == "max" else -1.0
        self.state: dict[str, torch.Tensor] | None = None
        self.score: torch.Tensor | None = None
        self.val_acc: float | None = None
        self.epoch: int | None = None

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Consider this epoch, whose validation (train/validation.py, the callback before this
        one) has just recorded its metrics in the module (`validated`, which costs less than
        reading them back through Lightning's logging)."""
        metrics = getattr(pl_module, "validated", None) or trainer.callback_metrics
        score = metrics.get(self.monitor)
        if trainer.sanity_checking or score is None:
            return
        score = score.detach().float()
        finite = math.isfinite(score.item())
        better = finite and (
            self.state is None or self.sign * score.item() > self.sign * self.score.item()
        )
        if self.state is not None and not better and self.select == "best":
            return
        self.score = score if finite else torch.tensor(-self.sign * math.inf)
        self.epoch = trainer.current_epoch
        val_acc = metrics.get("val/acc")
        self.val_acc = float(val_acc) if val_acc is not None else None
        self.state = {k: v.detach().clone() for k, v in pl_module.state_dict().items()}

    def state_dict(self) -> dict[str, Any]:
        """What the resumable last checkpoint keeps of the selection so far."""
        return {
            "state": self.state,
            "score": self.score,
            "val_acc": self.val_acc,
            "epoch": self.epoch,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.state, self.score = state_dict["state"], state_dict["score"]
        self.val_acc, self.epoch = state_dict["val_acc"], state_dict["epoch"]

    def restore(self, module: pl.LightningModule) -> None:
        """Load the kept weights into `module` (nothing happens if none were kept)."""
        if self.state is not None:
            module.load_state_dict(self.state)

    def save(self, path: Path) -> Path:
        """Write the kept weights as one checkpoint, whole or absent, as Lightning lays one out."""
        payload = {
            "state_dict": {k: v.cpu() for k, v in self.state.items()},
            "epoch": self.epoch,
            "monitor": self.monitor,
            "score": float(self.score),
        }
        save_atomically(path, payload)
        return path


class LearningRateHistory(pl.Callback):
    """Records {group name: [rate in epoch 1, epoch 2, …]} as each training epoch starts.

    Lightning steps epoch schedulers after an epoch ends, so the rate a group holds when an
    epoch starts is the one it trains with throughout that epoch.
    """

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        for optimizer in trainer.optimizers:
            for index, group in enumerate(optimizer.param_groups):
                name = str(group.get("name", f"group{index}"))
                self.history.setdefault(name, []).append(float(group["lr"]))

    # Kept in the phase's last checkpoint, so a resumed phase goes on with its rates so far.
    def state_dict(self) -> dict:
        return {"history": {k: list(v) for k, v in self.history.items()}}

    def load_state_dict(self, state_dict: dict) -> None:
        self.history = {k: list(v) for k, v in state_dict.get("history", {}).items()}


class EpochHistory(pl.Callback):
    """Records each epoch's training and validation loss and accuracy (and the selection
    monitor), {"epoch": [1, 2, …], "train_loss": […], "val_acc": […], …}, so a phase's curves
    can be read from results.json and its convergence judged (train/convergence.py).

    Validation metrics are read when this callback's epoch end runs (after the validation
    pass); the training means only when the module's own epoch end has computed them, which
    Lightning calls after the callbacks, so they are caught up at the next epoch's end, at the
    fit's end, and before the resumable checkpoint keeps this record.
    """

    def __init__(self, monitor: str = "val/acc") -> None:
        self.names = [
            "val/loss",
            "val/acc",
            *([monitor] if monitor not in ("val/loss", "val/acc") else []),
        ]
        self.history: dict[str, list] = {"epoch": []}
        self.module: pl.LightningModule | None = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self.module = pl_module

    def _catch_up(self) -> None:
        """Add the last epoch's training means, once the module has them."""
        trained = getattr(self.module, "trained", None) or {}
        if len(self.history.get("train_loss", [])) < len(self.history["epoch"]) and trained:
            for name in ("train/loss", "train/acc"):
                value = trained.get(name)
                key = name.replace("/", "_")
                self.history.setdefault(key, []).append(None if value is None else float(value))

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._catch_up()
        validated = getattr(pl_module, "validated", None) or {}
        if trainer.sanity_checking or not validated:
            return
        self.history["epoch"].append(trainer.current_epoch + 1)
        for name in self.names:
            value = validated.get(name)
            key = name.replace("/", "_")
            self.history.setdefault(key, []).append(None if value is None else float(value))
        if hasattr(pl_module, "trained"):
            pl_module.trained = {}  # this epoch's training means are still to come

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._catch_up()

    def state_dict(self) -> dict[str, Any]:
        self._catch_up()
        return {"history": {k: list(v) for k, v in self.history.items()}}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = {k: list(v) for k, v in state_dict.get("history", {"epoch": []}).items()}
