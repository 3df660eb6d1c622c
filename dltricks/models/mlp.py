"""A fully connected net of any depth, plain or residual (He et al. 2016, as an MLP)."""

from __future__ import annotations

import math

import torch
from torch import nn

from dltricks.models.layers import Dense, Factory, make_activation, pieces


class Block(nn.Module):
    """Two weight layers. Post-activation (the paper): y = act(x + norm(W2 act(norm(W1 x)))).
    With residual=False the same layers without the shortcut, so plain and residual nets
    have exactly the same parameters."""

    def __init__(
        self, width: int, activation: Factory, norm: Factory, dropout: Factory, residual: bool
    ) -> None:
        super().__init__()
        self.k = pieces(activation)
        self.inner = Dense(width, width, activation, norm, dropout)
        self.fc = nn.Linear(width, width * self.k)
        self.norm = norm(width * self.k)
        self.act = make_activation(activation, width)
        self.drop = dropout()
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.norm(self.fc(self.inner(x)))
        if self.residual:
            # Maxout's pre-activations come in groups of k per unit: add x to each of them.
            out = out + (x.repeat_interleave(self.k, dim=1) if self.k > 1 else x)
        return self.drop(self.act(out))


class MLP(nn.Module):
    """`depth` weight layers: an input layer, (depth - 2) hidden layers in two-layer blocks
    (an odd one left over is a plain layer), and a linear output layer."""

    def __init__(
        self,
        in_shape: tuple[int, ...],
        classes: int,
        depth: int = 4,
        width: int = 128,
        residual: bool = False,
        *,
        activation: Factory,
        norm: Factory,
        dropout: Factory = nn.Identity,
    ) -> None:
        super().__init__()
        hidden = depth - 2
        self.stem = Dense(math.prod(in_shape), width, activation, norm, dropout)
        blocks: list[nn.Module] = [
            Block(width, activation, norm, dropout, residual) for _ in range(hidden // 2)
        ]
        if hidden % 2:
            blocks.append(Dense(width, width, activation, norm, dropout))
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (N, *in_shape) -> logits (N, classes)
        return self.head(self.blocks(self.stem(x.flatten(1))))
