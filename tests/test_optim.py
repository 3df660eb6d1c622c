"""Optimizer parameter groups and the schedules' closed forms."""

from __future__ import annotations

import math
from functools import partial

import pytest
import torch
from torch import nn

from dltricks import optim
from dltricks.models.layers import batch_norm
from dltricks.models.mlp import MLP
from dltricks.optim import schedules


def test_weight_decay_skips_biases_and_norm_parameters():
    model = MLP((4,), 3, depth=3, width=8, activation=nn.ReLU, norm=batch_norm)
    opt = optim.build(partial(torch.optim.SGD, lr=0.1, weight_decay=0.5), model)
    weights, others = opt.param_groups
    assert weights["weight_decay"] == 0.5 and others["weight_decay"] == 0.0
    assert all(p.ndim == 2 for p in weights["params"])
    assert len(weights["params"]) == 3  # the three Linear weights
    norm_params = {
        id(p) for m in model.modules() if isinstance(m, nn.BatchNorm1d) for p in m.parameters()
    }
    assert norm_params <= {id(p) for p in others["params"]}


def test_set_lr_scales_the_initial_lr():
    model = nn.Linear(2, 2)
    opt = optim.build(partial(torch.optim.SGD, lr=0.2), model)
    assert optim.set_lr(opt, 0.5) == pytest.approx(0.1)
    assert all(g["lr"] == pytest.approx(0.1) for g in opt.param_groups)


@pytest.mark.parametrize("step", [0, 10, 50, 99, 100])
def test_cosine_matches_its_closed_form(step):
    expected = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / 100))
    assert schedules.cosine(step, 100, final=0.1) == pytest.approx(expected)


def test_warmup_is_linear_then_hands_over_to_the_curve():
    s = schedules.with_warmup(schedules.cosine, warmup_steps=10)
    assert [s(t, 110) for t in range(3)] == pytest.approx([0.1, 0.2, 0.3])
    assert s(9, 110) == pytest.approx(1.0)
    assert s(10, 110) == pytest.approx(1.0)  # cosine starts at its top
    assert s(60, 110) == pytest.approx(schedules.cosine(50, 100))
