"""Swish (Ramachandran et al. 2017): x * sigmoid(beta * x), as a dltricks Activation."""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from dltricks.models.activations import Activation

# The init gain that keeps a layer's output variance: 1 / sqrt(E[f(z)^2]) for z ~ N(0, 1)
# (for ReLU, E[relu(z)^2] = 1/2 gives He's sqrt(2)); for swish with beta = 1,
# E[swish(z)^2] = 0.3557, computed in tests/test_example.py.
SWISH_GAIN = 1.6766


class Swish(nn.Module):
    def __init__(self, beta: float = 1.0) -> None:
        super().__init__()
        self.beta = beta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.beta * x)


def swish(beta: float = 1.0) -> Activation:
    """Smooth and non-monotonic; not a rectifier (it is negative for x < 0)."""
    return Activation(partial(Swish, beta=beta), gain=SWISH_GAIN, rectifies=False)
