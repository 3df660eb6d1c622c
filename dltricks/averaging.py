"""Parameter averaging (Polyak & Juditsky 1992; SWA, Izmailov et al. 2018): from `start` (a
fraction of training) on, keep the average of the weights after every update, uniform
(`ema: null`) or exponential (`ema`: the decay); at the end the averaged weights, their
BatchNorm statistics recomputed on the training set, become the model. The run records both
the last weights' metrics and the averaged ones': the gain is measured, not assumed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn
from torch.optim import swa_utils

Evaluate = Callable[[nn.Module, Any], dict[str, float]]


class Averaging:
    def __init__(self, model: nn.Module, start: float, total_steps: int, ema: float | None):
        self.first = max(1, round(start * total_steps))  # the first step averaged
        update = swa_utils.get_ema_multi_avg_fn(ema) if ema else swa_utils.get_swa_multi_avg_fn()
        self.average = swa_utils.AveragedModel(model, multi_avg_fn=update)

    def update(self, model: nn.Module, step: int) -> None:
        """After update number `step` (1-based)."""
        if step >= self.first:
            self.average.update_parameters(model)

    def finish(self, model: nn.Module, data: Any, evaluate: Evaluate) -> dict[str, Any] | None:
        """The averaged weights into `model`; the metrics before and after."""
        if int(self.average.n_averaged) == 0:
            return None
        last = evaluate(model, data)
        batches = data.train.x.split(1024)
        swa_utils.update_bn(batches, self.average)  # BN statistics of the averaged weights
        model.load_state_dict(self.average.module.state_dict())
        averaged = evaluate(model, data)
        gain = {k: last[k] - averaged[k] for k in ("train_err", "val_err", "test_err")}
        return {
            "first_step": self.first,
            "updates_averaged": int(self.average.n_averaged),
            "last": last,
            "averaged": averaged,
            "gain": gain,  # the last weights' error minus the averaged weights'
        }

    def state_dict(self) -> dict[str, Any]:
        return self.average.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.average.load_state_dict(state)


class NoAveraging:
    """average.start=null: the last weights are the model."""

    def update(self, model: nn.Module, step: int) -> None:
        pass

    def finish(self, model: nn.Module, data: Any, evaluate: Evaluate) -> None:
        return None

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


def averaging(model: nn.Module, start: float | None, total: int, ema: float | None) -> Any:
    return Averaging(model, start, total, ema) if start is not None else NoAveraging()
