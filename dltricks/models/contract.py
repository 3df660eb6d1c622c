"""What a model factory receives and what every trick expects of the model it returns: the
contract between a model option and dltricks, for the built-in models and a plugin's alike.

A model option's YAML names the factory with `_target_` and `_partial_: true`; its own keys
(depth, width, residual...) are the factory's arguments. dltricks completes the call with:

- in_shape: one example's shape, (C,), (C, L) or (C, H, W), from the data option;
- classes: the number of classes; the model returns logits (N, classes);
- activation: an `Activation` (models/activations.py): `activation(width)` makes a layer for
  `width` units; Maxout needs `activation.pieces` times as many inputs (see layers.Dense);
- norm: `norm(num_features, spatial_dims=0|1|2)` makes a normalization layer (identity for
  norm=none), to put between an affine map and its activation;
- dropout: `dropout()` makes the layer to put after a hidden activation (identity when
  regularization has no dropout; input dropout is put before the model by dltricks).

The tricks then find what they need in the model itself: init schemes, weight decay, L1/L2,
probes, `transfer.freeze` and `transfer.init_from` act on its nn.Linear / nn.Conv1d /
nn.Conv2d layers (in the order they are defined: input first); a residual block that should
start as its shortcut (model.zero_init_residual) sets `zero_init = True` and defines
`zero_branch()`. A model may ignore a factory (a recurrent cell has its own nonlinearities):
it still trains, and summary.json's `tricks` says how many layers each trick made.

What the config checks need to know of a model, it declares: a factory may carry
`check_args(**its YAML keys)`, raising ValueError naming the key (ConvNet's depth 6n+2, an
RNN's cell), which runs with the config's checks, before anything is built. No rule guesses a
model from its class name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from torch import nn

from dltricks.models.activations import Activation
from dltricks.models.init import WEIGHT_LAYERS

NormFactory = Callable[..., nn.Module]  # norm(num_features, spatial_dims=0)
DropoutFactory = Callable[[], nn.Module]


class ModelFactory(Protocol):
    """model: a partial of a model class or function, its YAML keys already bound."""

    def __call__(
        self,
        *,
        in_shape: tuple[int, ...],
        classes: int,
        activation: Activation,
        norm: NormFactory,
        dropout: DropoutFactory,
    ) -> nn.Module: ...


def tricks_used(
    model: nn.Module, activation: Activation, norm: NormFactory, dropout: DropoutFactory
) -> dict[str, int | None]:
    """How many layers of each picked trick the model holds (0: the model ignores it; None:
    none was picked, e.g. norm=none), and its weight layers (what init, weight decay, probes
    and transfer act on)."""
    kinds = {
        "weight_layers": WEIGHT_LAYERS,
        "activation": (activation.module_type,),
        "norm": tuple({type(norm(4, spatial_dims=d)) for d in (0, 1, 2)}),
        "dropout": (type(dropout()),),
    }
    return {
        trick: None if nn.Identity in kind else sum(isinstance(m, kind) for m in model.modules())
        for trick, kind in kinds.items()
    }
