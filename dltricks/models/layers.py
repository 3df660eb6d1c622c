"""Layer factories the models are built from: activation, normalization, dense layer.

conf/activation and conf/norm give partials. Torch's activations take no arguments; the
width-aware ones written here (PReLU per unit, Maxout) take `width`. Norms take the number of
features (torch.nn.Identity accepts and ignores it, which makes norm=none the identity).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

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


class Dense(nn.Sequential):
    """affine -> norm -> activation -> dropout: the order every model uses."""

    def __init__(
        self, in_features: int, width: int, activation: Factory, norm: Factory, dropout: Factory
    ) -> None:
        k = pieces(activation)
        super().__init__(
            nn.Linear(in_features, width * k),
            norm(width * k),
            make_activation(activation, width),
            dropout(),
        )
