"""Dropout (Srivastava et al. 2014), a trick of the model: `regularization=[dropout]` gives
the model a factory for the layer it puts after every hidden activation, and one for the
layer before its inputs. A fresh mask for every update."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

MODES = ("inverted", "classic")


class ClassicDropout(nn.Module):
    """Dropout as the seeds describe it: drop with probability p at train time without
    rescaling, and multiply by (1 - p) at test time (same expectation as inverted dropout)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return x * (torch.rand_like(x) >= self.p).to(x.dtype)
        return x * (1.0 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


@dataclass(frozen=True)
class Dropout:
    """p after every hidden activation, input_p on the inputs; mode: inverted (scale by
    1/(1-p) at train time, torch's nn.Dropout) or classic (ClassicDropout)."""

    p: float = 0.5
    input_p: float = 0.0
    mode: str = "inverted"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be inverted or classic, not {self.mode}")

    @property
    def hidden(self) -> Callable[[], nn.Module]:
        """The factory a model calls after each hidden activation."""
        return self._factory(self.p)

    @property
    def inputs(self) -> Callable[[], nn.Module]:
        """The factory of the layer before the model's inputs."""
        return self._factory(self.input_p)

    def _factory(self, p: float) -> Callable[[], nn.Module]:
        if p == 0:
            return nn.Identity
        return partial(nn.Dropout, p) if self.mode == "inverted" else partial(ClassicDropout, p)


NO_DROPOUT = Dropout(p=0.0)
