"""Activation options (conf/activation). Each instantiates to an `Activation`, which carries
every fact the other tricks need, so that none is guessed from a class name:

- `activation(width)` makes one activation layer for `width` units;
- `pieces`: affine maps per unit (Maxout's k: the layer before computes width * pieces);
- `gain`: the init gain of Xavier and He with `gain: auto` (torch.nn.init.calculate_gain's);
- `rectifies`: a unit is active when its output is > 0 (the probes' dead-unit fraction).

A new activation is one YAML file: a function here (or in a plugin) returning an
`Activation`, or the class itself with its module as a nested `_target_`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, partial

import torch
from torch import nn
from torch.nn.init import calculate_gain


@dataclass(frozen=True)
class Activation:
    """An activation option: how to make its layer, and what the other tricks need to know."""

    module: Callable[..., nn.Module]  # a class or partial: module() or module(width=...)
    gain: float  # required, like `rectifies`: a forgotten fact must not default silently
    rectifies: bool
    pieces: int = 1
    takes_width: bool = False  # module(width=...): per-unit parameters (PReLU) or Maxout

    def __call__(self, width: int) -> nn.Module:
        """One activation layer for `width` units."""
        return self.module(width=width) if self.takes_width else self.module()

    @cached_property
    def module_type(self) -> type[nn.Module]:
        """The class of its layers: how the probes find them in a model."""
        return type(self(1))


class PReLU(nn.PReLU):
    """PReLU (He et al. 2015) with a learnable slope per unit (the seeds' version,
    per_neuron=True) or one per layer."""

    def __init__(self, width: int, per_neuron: bool = True, init: float = 0.25) -> None:
        super().__init__(num_parameters=width if per_neuron else 1, init=init)


class Maxout(nn.Module):
    """Maxout (Goodfellow et al. 2013): each of `width` units is the max of `pieces` affine
    maps, which the layer before computes as width * pieces features (consecutive groups of
    `pieces` per unit). It learns a convex piecewise-linear activation; ReLU is the case
    max(w.x + b, 0)."""

    def __init__(self, width: int, pieces: int = 2) -> None:
        super().__init__()
        self.width, self.pieces = width, pieces

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (N, width * pieces, *positions) -> (N, width, pieces, *positions) -> max over pieces
        n, _, *positions = x.shape
        return x.view(n, self.width, self.pieces, *positions).amax(dim=2)

    def extra_repr(self) -> str:
        return f"width={self.width}, pieces={self.pieces}"


def sigmoid() -> Activation:
    """1 / (1 + e^-x): saturates at both ends, slope at most 1/4 (vanishing gradients)."""
    return Activation(nn.Sigmoid, gain=calculate_gain("sigmoid"), rectifies=False)


def tanh() -> Activation:
    """tanh(x): zero-centred, saturates at +-1; gain 5/3."""
    return Activation(nn.Tanh, gain=calculate_gain("tanh"), rectifies=False)


def relu() -> Activation:
    """max(0, x) (Nair & Hinton 2010): no saturation for x > 0; gain sqrt(2) (He et al.)."""
    return Activation(nn.ReLU, gain=calculate_gain("relu"), rectifies=True)


def leaky_relu(negative_slope: float = 0.01) -> Activation:
    """max(x, negative_slope * x) (Maas et al. 2013): no dead units; slope -1 is |x|."""
    return Activation(
        partial(nn.LeakyReLU, negative_slope=negative_slope),
        gain=_leaky_gain(negative_slope),
        rectifies=True,
    )


def prelu(per_neuron: bool = True, init: float = 0.25) -> Activation:
    """Leaky ReLU with a learned slope (He et al. 2015), one per unit or one per layer."""
    return Activation(
        partial(PReLU, per_neuron=per_neuron, init=init),
        gain=_leaky_gain(init),
        rectifies=True,
        takes_width=True,
    )


def elu(alpha: float = 1.0) -> Activation:
    """x for x > 0, alpha * (e^x - 1) otherwise (Clevert et al. 2016). torch gives ELU no
    gain: ReLU's sqrt(2), as for its positive half."""
    return Activation(partial(nn.ELU, alpha=alpha), gain=calculate_gain("relu"), rectifies=True)


def maxout(pieces: int = 2) -> Activation:
    """The max of `pieces` affine maps per unit (Goodfellow et al. 2013); ReLU's gain, the
    case of one piece fixed at zero."""
    return Activation(
        partial(Maxout, pieces=pieces),
        gain=calculate_gain("relu"),
        rectifies=False,  # the max of affine maps: no unit is "off"
        pieces=pieces,
        takes_width=True,
    )


def linear() -> Activation:
    """No nonlinearity: a deep linear net computes a linear function at any depth."""
    return Activation(nn.Identity, gain=1.0, rectifies=False)


def _leaky_gain(slope: float) -> float:
    """sqrt(2 / (1 + slope^2)); a float, so that slope 0 is not taken for torch's 0.01."""
    return calculate_gain("leaky_relu", float(slope))
