"""Weight initialization schemes (cs231n's experiment; Glorot 2010; He 2015).

Each scheme is applied to the weight of every Linear and Conv layer; `bias` sets every bias of
those layers to a constant (null keeps PyTorch's). Normalization layers keep weight 1, bias 0.
Recurrent cells (RNN, GRU, LSTM) keep PyTorch's U(-1/sqrt(hidden), 1/sqrt(hidden)): their
gates have nonlinearities of their own, which the activation's gain does not describe; the run
records which layers a scheme left alone. `initialize` applies a scheme, then zeroes the
residual branches that ask for it (model.zero_init_residual), in that order.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from dltricks.models.activations import Activation

WEIGHT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d)
DISTRIBUTIONS = ("normal", "uniform")  # xavier's and he's `distribution`
FAN_MODES = ("fan_in", "fan_out")  # he's `mode`
Scheme = Callable[..., None]  # scheme(model, activation=...): a partial of the functions below


def initialize(model: nn.Module, scheme: Scheme, activation: Activation) -> dict[str, Any]:
    """The init scheme over every Linear/Conv weight, then the residual branches that start
    at zero (after the scheme, which would otherwise overwrite them); what was done."""
    scheme(model, activation=activation)
    zeroed = [m for m in model.modules() if getattr(m, "zero_init", False) is True]
    for block in zeroed:
        block.zero_branch()
    kept = [n for n, m in model.named_modules() if isinstance(m, nn.RNNBase)]
    return {
        "scheme": getattr(scheme, "func", scheme).__name__,
        "layers": len(_weights(model)),
        "pytorch_init_kept": kept,  # recurrent cells: see the module docstring
        "zeroed_branches": len(zeroed),
    }


def _weights(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, WEIGHT_LAYERS)]


def _set_bias(model: nn.Module, bias: float | None) -> None:
    if bias is None:
        return
    for m in _weights(model):
        if m.bias is not None:
            nn.init.constant_(m.bias, bias)


@torch.no_grad()
def default(
    model: nn.Module, activation: Activation | None = None, bias: float | None = None
) -> None:
    """PyTorch's own initialization (already applied at construction)."""
    _set_bias(model, bias)


@torch.no_grad()
def gaussian(
    model: nn.Module,
    activation: Activation | None = None,
    std: float = 0.01,
    bias: float | None = 0.0,
) -> None:
    """w ~ N(0, std^2), whatever the layer's size."""
    for m in _weights(model):
        nn.init.normal_(m.weight, 0.0, std)
    _set_bias(model, bias)


def _gain(gain: float | str, activation: Activation | None) -> float:
    if gain != "auto":
        return float(gain)
    return activation.gain if activation is not None else 1.0


@torch.no_grad()
def xavier(
    model: nn.Module,
    activation: Activation | None = None,
    distribution: str = "normal",
    gain: float | str = "auto",
    bias: float | None = 0.0,
) -> None:
    """Var(w) = gain^2 * 2 / (fan_in + fan_out)."""
    g = _gain(gain, activation)
    for m in _weights(model):
        if distribution == "uniform":
            nn.init.xavier_uniform_(m.weight, gain=g)
        else:
            nn.init.xavier_normal_(m.weight, gain=g)
    _set_bias(model, bias)


@torch.no_grad()
def he(
    model: nn.Module,
    activation: Activation | None = None,
    distribution: str = "normal",
    mode: str = "fan_in",
    gain: float | str = "auto",
    bias: float | None = 0.0,
) -> None:
    """Var(w) = gain^2 / fan (fan_in or fan_out); gain sqrt(2) for ReLU."""
    g = _gain(gain, activation)
    for m in _weights(model):
        fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(m.weight)
        std = g / math.sqrt(fan_in if mode == "fan_in" else fan_out)
        if distribution == "uniform":
            nn.init.uniform_(m.weight, -math.sqrt(3.0) * std, math.sqrt(3.0) * std)
        else:
            nn.init.normal_(m.weight, 0.0, std)
    _set_bias(model, bias)
