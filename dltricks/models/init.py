"""Weight initialization schemes (cs231n's experiment; Glorot 2010; He 2015).

Each scheme is applied to the weight of every Linear and Conv layer; `bias` sets every bias of
those layers to a constant (null keeps PyTorch's). Normalization layers keep weight 1, bias 0.
"""

from __future__ import annotations

import math

import torch
from torch import nn

WEIGHT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d)

# torch.nn.init.calculate_gain's names for the activations of conf/activation
_NONLINEARITY = {
    "Sigmoid": "sigmoid",
    "Tanh": "tanh",
    "ReLU": "relu",
    "LeakyReLU": "leaky_relu",
    "PReLU": "leaky_relu",
    "ELU": "relu",
    "Maxout": "relu",
    "Identity": "linear",
}


def gain_of(activation: object) -> float:
    """The gain `calculate_gain` recommends for an activation factory (1 if unknown)."""
    func = getattr(activation, "func", activation)
    name = _NONLINEARITY.get(getattr(func, "__name__", ""), "linear")
    kw = getattr(activation, "keywords", {})
    slope = kw.get("negative_slope", kw.get("init", 0.01))
    return nn.init.calculate_gain(name, slope if name == "leaky_relu" else None)


def _weights(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, WEIGHT_LAYERS)]


def _set_bias(model: nn.Module, bias: float | None) -> None:
    if bias is None:
        return
    for m in _weights(model):
        if m.bias is not None:
            nn.init.constant_(m.bias, bias)


@torch.no_grad()
def default(model: nn.Module, activation: object = None, bias: float | None = None) -> None:
    """PyTorch's own initialization (already applied at construction)."""
    _set_bias(model, bias)


@torch.no_grad()
def gaussian(
    model: nn.Module, activation: object = None, std: float = 0.01, bias: float | None = 0.0
) -> None:
    """w ~ N(0, std^2), whatever the layer's size."""
    for m in _weights(model):
        nn.init.normal_(m.weight, 0.0, std)
    _set_bias(model, bias)


def _gain(gain: float | str, activation: object) -> float:
    return gain_of(activation) if gain == "auto" else float(gain)


@torch.no_grad()
def xavier(
    model: nn.Module,
    activation: object = None,
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
    activation: object = None,
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
