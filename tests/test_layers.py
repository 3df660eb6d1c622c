"""Activations, initializations and normalizations, each against its formula."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from dltricks import config, targets
from dltricks.models import activations, init
from dltricks.models.activations import Maxout, PReLU
from dltricks.models.layers import batch_norm, layer_norm
from dltricks.models.mlp import MLP

POINTS = torch.tensor([-2.0, -0.5, 0.0, 0.5, 2.0])
# (option, f(x), f'(x)) by the textbook formulas
FORMULAS = {
    "sigmoid": (lambda x: 1 / (1 + math.exp(-x)), lambda x: math.exp(-x) / (1 + math.exp(-x)) ** 2),
    "tanh": (math.tanh, lambda x: 1 - math.tanh(x) ** 2),
    "relu": (lambda x: max(x, 0.0), lambda x: 1.0 if x > 0 else 0.0),
    "leaky_relu": (lambda x: x if x > 0 else 0.01 * x, lambda x: 1.0 if x > 0 else 0.01),
    "elu": (lambda x: x if x > 0 else math.exp(x) - 1, lambda x: 1.0 if x > 0 else math.exp(x)),
    "prelu": (lambda x: x if x > 0 else 0.25 * x, lambda x: 1.0 if x > 0 else 0.25),
    "linear": (lambda x: x, lambda x: 1.0),
}


def activation(option: str):
    return targets.instantiate(config.compose([f"activation={option}"]).activation)


@pytest.mark.parametrize("option", sorted(FORMULAS))
def test_activation_value_and_gradient(option):
    f, df = FORMULAS[option]
    layer = activation(option)(len(POINTS))
    x = POINTS.clone().view(1, -1).requires_grad_(True)
    y = layer(x)
    y.sum().backward()
    assert y.detach().view(-1).tolist() == pytest.approx([f(v) for v in POINTS.tolist()])
    assert x.grad.view(-1).tolist() == pytest.approx([df(v) for v in POINTS.tolist()])


# (init gain, rectifies) from torch.nn.init.calculate_gain's table and the formulas above
FACTS = {
    "sigmoid": (1.0, False),
    "tanh": (5 / 3, False),
    "relu": (math.sqrt(2), True),
    "leaky_relu": (math.sqrt(2 / (1 + 0.01**2)), True),
    "prelu": (math.sqrt(2 / (1 + 0.25**2)), True),
    "elu": (math.sqrt(2), True),
    "maxout": (math.sqrt(2), False),
    "linear": (1.0, False),
}


@pytest.mark.parametrize("option", sorted(FACTS))
def test_every_activation_carries_its_gain_and_whether_it_rectifies(option):
    spec = activation(option)
    assert isinstance(spec, activations.Activation)
    assert (spec.gain, spec.rectifies) == (pytest.approx(FACTS[option][0]), FACTS[option][1])
    assert spec.pieces == (2 if option == "maxout" else 1)
    assert isinstance(spec(4), spec.module_type)


def test_an_activation_that_forgets_its_gain_is_refused():
    from omegaconf import OmegaConf

    node = OmegaConf.create(
        {
            "_target_": "dltricks.models.activations.Activation",
            "module": {"_target_": "torch.nn.SiLU", "_partial_": True},
            "rectifies": False,
        }
    )
    with pytest.raises(config.ConfigError, match="needs gain"):
        targets.instantiate(node)


def test_every_activation_option_has_a_formula_test():
    assert set(config.options("activation")) == set(FORMULAS) | {"maxout"}


def test_maxout_with_a_zero_piece_is_exactly_relu():
    # the seeds: maxout with k=2 learns relu when one of the two affine maps is zero
    torch.manual_seed(0)
    fc = nn.Linear(5, 3)
    maxout_fc = nn.Linear(5, 6)
    with torch.no_grad():
        maxout_fc.weight.zero_()
        maxout_fc.bias.zero_()
        maxout_fc.weight[0::2] = fc.weight  # piece 0 of each unit: the relu unit's map
        maxout_fc.bias[0::2] = fc.bias  # piece 1: the zero map
    x = torch.randn(100, 5)
    # the same dot products (BLAS may round the 6-wide matmul differently in the last bit)
    assert torch.allclose(Maxout(3, pieces=2)(maxout_fc(x)), torch.relu(fc(x)), atol=1e-6)
    z = fc(x)  # and on the very same pre-activations, bit for bit
    pieces = torch.stack([z, torch.zeros_like(z)], dim=2).flatten(1)
    assert torch.equal(Maxout(3, pieces=2)(pieces), torch.relu(z))


def test_maxout_layers_are_k_times_as_wide():
    m = MLP((4,), 3, depth=3, width=8, activation=activations.maxout(3), norm=nn.Identity)
    assert m.stem[0].out_features == 24
    assert m(torch.randn(2, 4)).shape == (2, 3)


def test_prelu_slope_is_learned_per_neuron():
    layer = PReLU(width=4, per_neuron=True)
    assert layer.weight.shape == (4,)
    assert PReLU(width=4, per_neuron=False).weight.shape == (1,)
    opt = torch.optim.SGD(layer.parameters(), lr=0.1)
    layer(-torch.ones(3, 4)).sum().backward()
    assert layer.weight.grad.abs().min() > 0
    before = layer.weight.detach().clone()
    opt.step()
    assert not torch.equal(before, layer.weight)


def big_mlp() -> MLP:
    return MLP((400,), 10, depth=3, width=300, activation=activations.tanh(), norm=nn.Identity)


def weight_std(model: MLP) -> float:
    return model.blocks[0][0].weight.std().item()  # a 300 x 300 hidden layer


@pytest.mark.parametrize(
    ("scheme", "kwargs", "expected"),
    [
        (init.gaussian, {"std": 0.01}, 0.01),
        (init.gaussian, {"std": 1.0}, 1.0),
        (init.xavier, {"distribution": "normal", "gain": 1.0}, math.sqrt(2 / 600)),
        (init.xavier, {"distribution": "uniform", "gain": 1.0}, math.sqrt(2 / 600)),
        (init.xavier, {"gain": "auto"}, 5 / 3 * math.sqrt(2 / 600)),  # tanh's gain
        (init.he, {"gain": math.sqrt(2)}, math.sqrt(2 / 300)),
        (init.he, {"distribution": "uniform", "gain": math.sqrt(2)}, math.sqrt(2 / 300)),
    ],
)
def test_init_std_matches_the_scheme(scheme, kwargs, expected):
    torch.manual_seed(0)
    model = big_mlp()
    scheme(model, activation=activations.tanh(), **kwargs)
    assert weight_std(model) == pytest.approx(expected, rel=0.03)


def test_he_fan_in_and_fan_out_differ_on_a_rectangular_layer():
    torch.manual_seed(0)
    model = big_mlp()
    init.he(model, activation=activations.relu(), mode="fan_in")
    assert model.stem[0].weight.std().item() == pytest.approx(math.sqrt(2 / 400), rel=0.03)
    init.he(model, activation=activations.relu(), mode="fan_out")
    assert model.stem[0].weight.std().item() == pytest.approx(math.sqrt(2 / 300), rel=0.03)


def test_the_bias_constant_is_applied_to_every_layer():
    model = big_mlp()
    init.he(model, activation=activations.relu(), bias=0.01)
    biases = [m.bias for m in model.modules() if isinstance(m, nn.Linear)]
    assert all(torch.all(b == 0.01) for b in biases)
    init.default(model, bias=None)  # null keeps what is there
    assert all(torch.all(b == 0.01) for b in biases)


def test_batch_norm_uses_batch_stats_in_train_and_running_stats_in_eval():
    bn = batch_norm(3, momentum=1.0)  # momentum 1: the running stats become the last batch's
    x = torch.randn(64, 3) * 4 + 2
    out = bn.train()(x)
    assert out.mean(0).abs().max() < 1e-5
    assert out.std(0, unbiased=False).sub(1).abs().max() < 1e-3
    y = torch.randn(8, 3)
    expected = (y - x.mean(0)) / torch.sqrt(x.var(0, unbiased=True) + bn.eps)
    assert torch.allclose(bn.eval()(y), expected, atol=1e-5)


def test_layer_norm_normalizes_each_example_alike_in_train_and_eval():
    ln = layer_norm(6)
    x = torch.randn(4, 6) * 3 + 1
    out = ln(x)
    assert out.mean(1).abs().max() < 1e-5
    assert torch.equal(ln.train()(x), ln.eval()(x))
    assert isinstance(layer_norm(6, spatial_dims=2), nn.GroupNorm)


def test_leaky_relu_with_slope_minus_one_is_the_absolute_value():
    # note 002: |x| as a leaky ReLU of slope -1; its gain is 1 (sqrt(2 / (1 + 1)))
    spec = targets.instantiate(
        config.load(["activation=leaky_relu", "activation.negative_slope=-1"]).activation
    )
    x = POINTS.view(1, -1)
    assert torch.equal(spec(len(POINTS))(x), x.abs())
    assert spec.gain == pytest.approx(1.0)
