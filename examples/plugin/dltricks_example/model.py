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
            units = width >> i
            k = activation.pieces  # Maxout computes k maps per unit
            layers += [nn.Linear(features, units * k), norm(units * k), activation(units)]
            layers.append(dropout())
            features = units
        self.hidden = nn.Sequential(*layers)
        self.head = nn.Linear(features, classes)

    @staticmethod
    def check_args(depth: int = 3, width: int = 64, **_: object) -> None:
        """Checked with the config, before anything is built (dltricks' models/contract.py):
        the narrowest hidden layer, width / 2**(depth - 2), keeps at least 2 units."""
        if depth >= 2 and width >> (depth - 2) < 2:
            raise ValueError(
                f"model.width={width}: a funnel of depth {depth} halves it {depth - 2} times; "
                f"use model.width >= {2 ** (depth - 1)}"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (N, *in_shape) -> (N, classes)
        return self.head(self.hidden(x.flatten(1)))
