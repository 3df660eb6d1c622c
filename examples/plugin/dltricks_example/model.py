"""A model of one's own: a funnel, whose hidden layers halve in width. It builds its layers
with the factories dltricks passes, so every trick applies to it: the activation (Maxout's
pieces included), the norm, dropout, and on its nn.Linear layers the init scheme, weight
decay, probes and transfer."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from dltricks.models.activations import Activation


class Funnel(nn.Module):
    def __init__(
        self,
        in_shape: tuple[int, ...],
        classes: int,
        depth: int = 3,
        width: int = 64,
        *,
        activation: Activation,
        norm: Callable[..., nn.Module],
        dropout: Callable[[], nn.Module],
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        features = math.prod(in_shape)
        for i in range(depth - 1):  # depth weight layers: depth - 1 hidden, one output
            units = max(width >> i, 2)
            k = activation.pieces  # Maxout computes k maps per unit
            layers += [nn.Linear(features, units * k), norm(units * k), activation(units)]
            layers.append(dropout())
            features = units
        self.hidden = nn.Sequential(*layers)
        self.head = nn.Linear(features, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (N, *in_shape) -> (N, classes)
        return self.head(self.hidden(x.flatten(1)))
