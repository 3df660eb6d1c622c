"""The plugin's own tests: each piece against its formula, as dltricks tests its own."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from dltricks_example.activations import SWISH_GAIN, Swish, swish
from dltricks_example.data import load
from dltricks_example.model import Funnel
from dltricks_example.optim import Lion
from torch import nn

from dltricks.models.activations import maxout, relu


def test_lion_takes_the_sign_of_the_mixed_momentum_with_decoupled_decay():
    torch.manual_seed(0)
    w = torch.randn(5, dtype=torch.float64, requires_grad=True)
    lr, (b1, b2), wd = 0.1, (0.9, 0.99), 0.01
    opt = Lion([w], lr=lr, betas=(b1, b2), weight_decay=wd)
    ref, m = w.detach().clone(), torch.zeros(5, dtype=torch.float64)
    for _ in range(3):
        g = torch.randn(5, dtype=torch.float64)
        w.grad = g.clone()
        opt.step()
        ref = ref - lr * (torch.sign(b1 * m + (1 - b1) * g) + wd * ref)
        m = b2 * m + (1 - b2) * g
        assert torch.allclose(w.detach(), ref, atol=1e-12)


def test_swish_is_x_sigmoid_beta_x_and_its_gain_keeps_the_variance():
    x = torch.tensor([-2.0, -0.5, 0.0, 0.5, 2.0], requires_grad=True)
    y = Swish(beta=2.0)(x)
    y.sum().backward()
    s = torch.sigmoid(2.0 * x.detach())
    assert torch.allclose(y, x.detach() * s)
    assert torch.allclose(x.grad, s + 2.0 * x.detach() * s * (1 - s))
    z = torch.randn(2_000_000, generator=torch.Generator().manual_seed(0))
    measured = 1 / math.sqrt(Swish()(z).pow(2).mean().item())
    assert measured == pytest.approx(SWISH_GAIN, rel=3e-3)
    assert not swish().rectifies and swish().pieces == 1


def test_the_loader_reads_the_csv_into_the_contract(tmp_path):
    a = load()
    assert a.x.shape == (120, 4) and a.x_test.shape == (30, 4) and a.x.dtype == np.float32
    assert set(a.y) == {0, 1, 2} and a.y.dtype == np.int64
    own = tmp_path / "mine.csv"
    own.write_text("a,b,label\n0.5,1.0,0\n1.5,2.0,1\n2.5,0.0,1\n3.0,3.0,0\n4.0,1.0,1\n")
    mine = load(str(own), test_fraction=0.2)
    assert mine.x.shape == (4, 2) and mine.x_test.shape == (1, 2)


@pytest.mark.parametrize("activation", [relu(), maxout(3)], ids=["relu", "maxout"])
def test_the_funnel_halves_its_widths_and_builds_with_the_given_factories(activation):
    net = Funnel(
        (4,),
        3,
        depth=4,
        width=16,
        activation=activation,
        norm=nn.LayerNorm,
        dropout=lambda: nn.Dropout(0.1),
    )
    linear = [m for m in net.modules() if isinstance(m, nn.Linear)]
    k = activation.pieces
    assert [m.out_features for m in linear] == [16 * k, 8 * k, 4 * k, 3]
    assert sum(isinstance(m, nn.LayerNorm) for m in net.modules()) == 3
    assert sum(isinstance(m, nn.Dropout) for m in net.modules()) == 3
    assert net(torch.randn(7, 4)).shape == (7, 3)
