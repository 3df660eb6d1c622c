"""Models: depth counts weight layers; plain and residual nets share their parameters."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dltricks.models.mlp import MLP


def mlp(**kw) -> MLP:
    return MLP((1, 8, 8), 10, activation=nn.ReLU, norm=nn.Identity, **kw)


@pytest.mark.parametrize("depth", [2, 3, 4, 5, 20, 56])
def test_depth_is_the_number_of_weight_layers(depth):
    model = mlp(depth=depth, width=8)
    assert sum(isinstance(m, nn.Linear) for m in model.modules()) == depth
    assert model(torch.randn(3, 1, 8, 8)).shape == (3, 10)


def test_plain_and_residual_nets_have_the_same_parameters():
    plain, res = mlp(depth=20, width=16), mlp(depth=20, width=16, residual=True)
    shapes = [p.shape for p in plain.parameters()]
    assert shapes == [p.shape for p in res.parameters()]
    res.load_state_dict(plain.state_dict())
    x = torch.randn(4, 1, 8, 8)
    assert not torch.allclose(plain(x), res(x))  # same weights, different function


def test_residual_block_adds_the_identity():
    model = mlp(depth=4, width=8, residual=True)
    block = model.blocks[0]
    for p in block.parameters():
        nn.init.zeros_(p)
    x = torch.rand(5, 8)  # non-negative, so relu(x + 0) == x
    assert torch.equal(block(x), x)
