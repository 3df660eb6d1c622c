"""dltricks check: the gradient check and dropout as an ensemble, against what they claim."""

from __future__ import annotations

import torch
from conftest import dltricks

from dltricks import config
from dltricks.build import build
from dltricks.checks import dropout_ensemble, gradient_check


def parts(tmp_path, *overrides: str):
    return build(config.load(["trainer.threads=1", *overrides]), tmp_path)


def test_the_gradient_check_passes_autograd_and_catches_a_wrong_gradient(tmp_path):
    p = parts(tmp_path, "norm=batch", "regularization=[l2]", "model.width=16")
    rows = gradient_check(p, n=8, per_tensor=5)
    weights = [r for r in rows if r["layer"].endswith("weight") and r["kind"] == "linear"]
    assert len(weights) == 4 and {r["verdict"] for r in weights} == {"right"}
    assert {r["verdict"] for r in rows} <= {"right", "too small to check"}  # biases before BN: 0
    assert len(rows) == len(list(p.model.parameters()))  # every parameter, BN's included
    # a penalty whose gradient autograd cannot see: the check must call it wrong
    p.reg.add_penalty = lambda loss, weights: loss + sum(w.detach().pow(2).sum() for w in weights)
    assert {r["verdict"] for r in weights} == {"right"}
    wrong = {r["layer"] for r in gradient_check(p, n=8, per_tensor=5) if r["verdict"] == "WRONG"}
    assert {r["layer"] for r in weights} <= wrong


def test_a_20_layer_sigmoid_net_passes_its_vanished_gradients_unjudged(tmp_path):
    proc = dltricks("check", "model.depth=20", "activation=sigmoid", "init=xavier")
    assert proc.returncode == 0, proc.stdout  # 13 layers were called WRONG before
    assert "too small to check" in proc.stdout and "WRONG" not in proc.stdout


class _BadBias(torch.autograd.Function):
    """x W^T + b whose backward gives the bias three times its gradient."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        return x @ weight.T + bias

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        return g @ weight, g.T @ x, 3 * g.sum(0)


class _BadTanh(torch.autograd.Function):
    """tanh whose backward forgets a square: 1 - y instead of 1 - y^2."""

    @staticmethod
    def forward(ctx, x):
        y = torch.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * (1 - y)


class _BadLinear(torch.nn.Linear):
    def forward(self, x):
        return _BadBias.apply(x, self.weight, self.bias)


class _BadTanhModule(torch.nn.Tanh):
    def forward(self, x):
        return _BadTanh.apply(x)


def test_a_wrong_bias_gradient_and_a_wrong_activation_backward_are_caught(tmp_path):
    p = parts(tmp_path / "b", "model.width=16")
    bad = _BadLinear(p.model.head.in_features, p.model.head.out_features)
    bad.load_state_dict(p.model.head.state_dict())
    p.model.head = bad
    rows = {r["layer"]: r["verdict"] for r in gradient_check(p, n=8, per_tensor=5)}
    assert rows["head.bias"] == "WRONG" and rows["head.weight"] == "right"
    p = parts(tmp_path / "t", "model.width=16", "activation=tanh")
    for m in p.model.modules():
        if isinstance(m, torch.nn.Tanh):
            m.__class__ = _BadTanhModule
    verdicts = {r["verdict"] for r in gradient_check(p, n=8, per_tensor=5)}
    assert "WRONG" in verdicts


def test_the_check_agrees_with_torch_gradcheck_on_the_default_nets(tmp_path):
    from torch.func import functional_call

    for overrides in ([], ["model=convnet", "data=mnist1d", "model.depth=8", "model.width=4",
                           "data.load.num_samples=200"]):  # fmt: skip
        p = parts(tmp_path / str(len(overrides)), *overrides)
        model = p.model.double().eval()  # gradcheck needs one fixed function: eval mode
        x, y = p.data.train.x[:4].double(), p.data.train.y[:4]
        names = [n for n, _ in model.named_parameters()][-2:]  # the head: a few entries each
        params = dict(model.named_parameters())

        def f(*tensors, names=names, params=params, model=model, x=x, y=y):
            given = {**params, **dict(zip(names, tensors, strict=True))}
            return torch.nn.functional.cross_entropy(functional_call(model, given, (x,)), y)

        inputs = tuple(params[n].detach().clone().requires_grad_() for n in names)
        assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-5)
        assert "WRONG" not in {r["verdict"] for r in gradient_check(p, n=8, per_tensor=5)}


def test_weight_scaling_is_the_ensemble_mean_for_linear_units_only(tmp_path):
    torch.manual_seed(0)
    common = ["regularization=[dropout]", "model.depth=3", "model.width=32"]
    linear = parts(tmp_path / "l", "activation=linear", *common)
    relu = parts(tmp_path / "r", *common)
    gaps = {m: dropout_ensemble(linear, masks=m, n=64)["logit_gap"] for m in (50, 3200)}
    assert gaps[3200] < gaps[50] / 4  # Monte Carlo noise only: it shrinks as 1/sqrt(masks)
    assert dropout_ensemble(relu, masks=3200, n=64)["logit_gap"] > 3 * gaps[3200]
    assert dropout_ensemble(parts(tmp_path / "n"), masks=10) is None  # no dropout: no check


def test_the_check_command_prints_each_layer(tmp_path):
    proc = dltricks("check", "regularization=[dropout]", "--masks", "20")
    assert proc.returncode == 0, proc.stderr
    assert (
        "stem.0" in proc.stdout
        and "head" in proc.stdout
        and "dropout as an ensemble" in proc.stdout
    )
    assert dltricks("check", "optimizer=adamm").returncode == 2
