"""The layers models are built from: normalization, and the dense layer.

conf/norm gives partials that take the number of features (torch.nn.Identity accepts and
ignores it, which makes norm=none the identity); conf/activation gives an Activation
(models/activations.py).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from dltricks.models.activations import Activation

Factory = Callable[..., nn.Module]


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


class Dense(nn.Sequential):
    """affine -> norm -> activation -> dropout: the order every model uses."""

    def __init__(
        self,
        in_features: int,
        width: int,
        activation: Activation,
        norm: Factory,
        dropout: Factory,
    ) -> None:
        k = activation.pieces
        layers = [nn.Linear(in_features, width * k), norm(width * k), activation(width), dropout()]
        # norm=none and no dropout are identities: leave them out of the forward pass
        super().__init__(*(m for m in layers if not isinstance(m, nn.Identity)))
