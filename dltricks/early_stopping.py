"""Early stopping (the seeds: stop when the validation error stops improving, keep the best
weights). The loop asks after every evaluation, `if early_stopping.update(row, model): break`,
and at the end `finish` restores the best weights, whose numbers become the final ones."""

from __future__ import annotations

import copy
import math
from typing import Any

from torch import nn

MONITORS = ("val_loss", "val_err")


MODES = ("patience", "increases")


class EarlyStopping:
    """mode=patience: stop after `patience` evaluations in a row without an improvement of
    more than `min_delta` on the best `monitor` (val_loss or val_err) so far;
    mode=increases: stop after `patience` evaluations in a row each higher than the one
    before (the notes' "n consecutive increases"). Then restore the best weights."""

    def __init__(
        self,
        patience: int = 5,
        min_delta: float = 0.0,
        monitor: str = "val_loss",
        mode: str = "patience",
    ) -> None:
        if monitor not in MONITORS:
            raise ValueError(f"monitor must be val_loss or val_err, not {monitor}")
        if mode not in MODES:
            raise ValueError(f"mode must be patience or increases, not {mode}")
        self.patience, self.min_delta, self.monitor, self.mode = patience, min_delta, monitor, mode
        self.best = math.inf
        self.best_epoch: int | None = None
        self.bad_evals = 0  # in a row: without improvement, or increases
        self.best_state: dict | None = None
        self.last = math.inf

    def update(self, metrics: dict[str, float], model: nn.Module) -> bool:
        """Whether to stop after this evaluation."""
        value = metrics[self.monitor]
        improved = value < self.best - self.min_delta
        if improved:
            self.best, self.best_epoch = value, metrics["epoch"]
            self.best_state = copy.deepcopy(model.state_dict())
        increased = value > self.last + self.min_delta
        bad = increased if self.mode == "increases" else not improved
        self.bad_evals, self.last = (self.bad_evals + 1 if bad else 0), value
        return self.bad_evals >= self.patience

    def finish(self, model: nn.Module) -> dict[str, Any]:
        """Restore the best weights; what the summary records."""
        if self.best_state is not None:
            model.load_state_dict(self.best_state)
        return {"best_epoch": self.best_epoch, "monitor": self.monitor, "best": self.best}

    def state_dict(self) -> dict[str, Any]:
        return {
            "best": self.best,
            "best_epoch": self.best_epoch,
            "bad_evals": self.bad_evals,
            "best_state": self.best_state,
            "last": self.last,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch = state["best"], state["best_epoch"]
        self.bad_evals, self.best_state = state["bad_evals"], state["best_state"]
        self.last = state.get("last", math.inf)


class NoEarlyStopping:
    """Without regularization=[early_stopping]: train every epoch, keep the last weights."""

    def update(self, metrics: dict[str, float], model: nn.Module) -> bool:
        return False

    def finish(self, model: nn.Module) -> None:
        return None

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass
