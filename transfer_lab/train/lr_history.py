"""Each parameter group's learning rate at every epoch, so anyone can audit a recipe."""

from __future__ import annotations

import pytorch_lightning as pl


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

    # Kept in the stage's last checkpoint, so a resumed stage goes on with its rates so far.
    def state_dict(self) -> dict:  # noqa: D102
        return {"history": {k: list(v) for k, v in self.history.items()}}

    def load_state_dict(self, state_dict: dict) -> None:  # noqa: D102
        self.history = {k: list(v) for k, v in state_dict.get("history", {}).items()}
