"""A fully connected net of any depth, plain or residual (He et al. 2016, as an MLP)."""

from __future__ import annotations

import math

import torch
from torch import nn

from dltricks.models import BLOCKS, one_of
from dltricks.models.activations import Activation
from dltricks.models.layers import Dense, Factory


class Block(nn.Module):
    """Two weight layers. post (He et al. 2016a): y = act(x + norm(W2 act(norm(W1 x))));
    pre (He et al. 2016b): y = x + W2 act(norm(W1 act(norm(x)))). With residual=False the same
    layers without the shortcut, so plain and residual nets have exactly the same parameters."""

    def __init__(
        self,
        width: int,
        activation: Activation,
        norm: Factory,
        dropout: Factory,
        residual: bool,
        block: str = "post",
        zero_init: bool = False,
    ) -> None:
        super().__init__()
        self.k = activation.pieces
        self.residual, self.pre = residual, block == "pre"
        self.zero_init = zero_init and residual  # models.init.initialize calls zero_branch
        if self.pre:
            self.norm_in = norm(width)
            self.act_in = activation(width)
            self.inner = Dense(width, width, activation, norm, dropout)
            self.fc = nn.Linear(width, width)
        else:
            self.inner = Dense(width, width, activation, norm, dropout)
            self.fc = nn.Linear(width, width * self.k)
            self.norm = norm(width * self.k)
            self.act = activation(width)
            self.drop = dropout()
            self.has_norm = not isinstance(self.norm, nn.Identity)
            self.has_dropout = not isinstance(self.drop, nn.Identity)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pre:
            out = self.fc(self.inner(self.act_in(self.norm_in(x))))
            return x + out if self.residual else out
        out = self.fc(self.inner(x))
        if self.has_norm:  # skipping nn.Identity calls: a measurable share of a small step
            out = self.norm(out)
        if self.residual:
            # Maxout's pre-activations come in groups of k per unit: add x to each of them.
            out = out + (x.repeat_interleave(self.k, dim=1) if self.k > 1 else x)
        out = self.act(out)
        return self.drop(out) if self.has_dropout else out

    def zero_branch(self) -> None:
        """Make the residual branch output zero, so the block starts as the identity."""
        last = self.fc if self.pre or not hasattr(self.norm, "weight") else self.norm
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)


class MLP(nn.Module):
    """`depth` weight layers: an input layer, (depth - 2) hidden layers in two-layer blocks
    (an odd one left over is a plain layer), and a linear output layer."""

    stackable = True  # hydra/launcher=stacked may train several as one (dltricks.stacked)

    def __init__(
        self,
        in_shape: tuple[int, ...],
        classes: int,
        depth: int = 4,
        width: int = 128,
        residual: bool = False,
        block: str = "post",
        zero_init_residual: bool = False,
        *,
        activation: Activation,
        norm: Factory,
        dropout: Factory = nn.Identity,
    ) -> None:
        super().__init__()
        hidden = depth - 2
        self.stem = Dense(math.prod(in_shape), width, activation, norm, dropout)
        blocks: list[nn.Module] = [
            Block(width, activation, norm, dropout, residual, block, zero_init_residual)
            for _ in range(hidden // 2)
        ]
        if hidden % 2:
            blocks.append(Dense(width, width, activation, norm, dropout))
        self.blocks = nn.Sequential(*blocks)
        # pre-activation blocks end without norm and activation: add them before the head
        self.final = (
            nn.Sequential(norm(width), activation(width))
            if block == "pre" and residual
            else nn.Identity()
        )
        self.head = nn.Linear(width, classes)

    @staticmethod
    def check_args(block: str = "post", **_: object) -> None:
        """The rules of its arguments, checked with the config (models/contract.py)."""
        one_of("model.block", block, BLOCKS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (N, *in_shape) -> logits (N, classes)
        return self.head(self.final(self.blocks(self.stem(x.flatten(1)))))
