"""Layer factories the models are built from: activation, normalization, dense layer.

conf/activation and conf/norm give partials. Torch's activations take no arguments; the
width-aware ones written here (PReLU per unit, Maxout) take `width`. Norms take the number of
features (torch.nn.Identity accepts and ignores it, which makes norm=none the identity).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch
from torch import nn

Factory = Callable[..., nn.Module]


def make_activation(factory: Factory, width: int) -> nn.Module:
    """One activation layer for `width` units."""
    func = getattr(factory, "func", factory)
    try:
        wants_width = "width" in inspect.signature(func).parameters
    except (TypeError, ValueError):
        wants_width = False
    return factory(width=width) if wants_width else factory()


def pieces(factory: Factory) -> int:
    """Affine maps per unit: Maxout's k (its layer is k times as wide), 1 otherwise."""
    return int(getattr(factory, "keywords", {}).get("pieces", 1))


def batch_norm(
    num_features: int, spatial_dims: int = 0, momentum: float = 0.1, eps: float = 1e-5
) -> nn.Module:
    """BatchNorm over the batch (and positions, for conv features): 1d for vectors and
    sequences, 2d for images."""
    cls = nn.BatchNorm2d if spatial_dims == 2 else nn.BatchNorm1d
    return cls(num_features, eps=eps, momentum=momentum)


def layer_norm(num_features: int, spatial_dims: int = 0, eps: float = 1e-5) -> nn.Module:
    """LayerNorm over each example's features (Ba et al. 2016); for conv features over
    channels and positions together (GroupNorm with one group)."""
    if spatial_dims == 0:
        return nn.LayerNorm(num_features, eps=eps)
    return nn.GroupNorm(1, num_features, eps=eps)


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


class Dense(nn.Sequential):
    """affine -> norm -> activation -> dropout: the order every model uses."""

    def __init__(
        self, in_features: int, width: int, activation: Factory, norm: Factory, dropout: Factory
    ) -> None:
        k = pieces(activation)
        layers = [
            nn.Linear(in_features, width * k),
            norm(width * k),
            make_activation(activation, width),
            dropout(),
        ]
        # norm=none and no dropout are identities: leave them out of the forward pass
        super().__init__(*(m for m in layers if not isinstance(m, nn.Identity)))
