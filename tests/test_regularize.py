"""Every regularizer against its formula: one hand-computed step, an expectation, a count."""

from __future__ import annotations

import math
from functools import partial

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dltricks import optim
from dltricks.data.augment import random_shift
from dltricks.data.order import EpochOrder, class_distance
from dltricks.early_stopping import EarlyStopping
from dltricks.losses import SoftmaxMSE
from dltricks.models.dropout import ClassicDropout, Dropout
from dltricks.regularize import (
    L1,
    L2,
    Adversarial,
    Augment,
    GradientNoise,
    Regularization,
    WeightDecay,
    WeightNoise,
)


def sgd_step(reg: Regularization, lr: float = 0.1) -> tuple[nn.Linear, dict, dict]:
    """One SGD step on a linear layer with `reg`; returns the layer, weights before, grads."""
    torch.manual_seed(0)
    layer = nn.Linear(4, 3)
    opt = optim.build(partial(torch.optim.SGD, lr=lr), layer)
    weights, _ = optim.decayed(layer)
    x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
    before = {k: v.detach().clone() for k, v in layer.state_dict().items()}
    data_grad = torch.autograd.grad(F.cross_entropy(layer(x), y), list(layer.parameters()))
    loss = F.cross_entropy(layer(x), y) + reg.penalty(weights)
    opt.zero_grad()
    loss.backward()
    opt.step()
    reg.after_step(weights, lr)
    return layer, before, dict(zip(("weight", "bias"), data_grad, strict=True))


def test_l2_step_is_weight_decay_of_the_weights_only():
    lr, lam = 0.1, 0.5
    layer, w0, g = sgd_step(Regularization([L2(**{"lambda": lam})]), lr)
    assert torch.allclose(layer.weight, (1 - lr * lam) * w0["weight"] - lr * g["weight"], atol=1e-7)
    assert torch.allclose(layer.bias, w0["bias"] - lr * g["bias"], atol=1e-7)  # no decay


def test_l1_step_subtracts_lr_lambda_sign_w():
    lr, lam = 0.1, 0.05
    layer, w0, g = sgd_step(Regularization([L1(**{"lambda": lam})]), lr)
    expected = w0["weight"] - lr * lam * w0["weight"].sign() - lr * g["weight"]
    assert torch.allclose(layer.weight, expected, atol=1e-7)
    assert torch.allclose(layer.bias, w0["bias"] - lr * g["bias"], atol=1e-7)


def test_decoupled_weight_decay_shrinks_after_the_step():
    lr, wd = 0.1, 0.3
    layer, w0, g = sgd_step(Regularization([WeightDecay(wd)]), lr)
    expected = (w0["weight"] - lr * g["weight"]) * (1 - lr * wd)
    assert torch.allclose(layer.weight, expected, atol=1e-7)
    assert torch.allclose(layer.bias, w0["bias"] - lr * g["bias"], atol=1e-7)


def sparsity_after_training(reg: Regularization) -> float:
    """Fraction of |w| < 1e-3 after training a linear model where 15 of 20 inputs are noise."""
    torch.manual_seed(0)
    x = torch.randn(512, 20)
    y = (x[:, :5].sum(1) > 0).long()
    layer = nn.Linear(20, 2)
    opt = torch.optim.SGD(layer.parameters(), lr=0.05)
    for _ in range(1500):
        loss = F.cross_entropy(layer(x), y) + reg.penalty([layer.weight])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return (layer.weight.abs() < 1e-3).float().mean().item()


def test_proximal_l1_soft_thresholds_after_the_step_and_makes_exact_zeros():
    lr, lam = 0.1, 0.05
    layer, w0, g = sgd_step(Regularization([L1(proximal=True, **{"lambda": lam})]), lr)
    stepped = w0["weight"] - lr * g["weight"]
    expected = stepped.sign() * (stepped.abs() - lr * lam).clamp_min(0)
    assert torch.allclose(layer.weight, expected, atol=1e-7)
    torch.manual_seed(0)
    x = torch.randn(512, 20)
    y = (x[:, :5].sum(1) > 0).long()  # 15 of the 20 inputs are noise
    exact = {}
    for proximal in (False, True):
        reg = Regularization([L1(proximal=proximal, **{"lambda": 0.01})])
        layer = nn.Linear(20, 2)
        opt = torch.optim.SGD(layer.parameters(), lr=0.05)
        for _ in range(1500):
            loss = reg.add_penalty(F.cross_entropy(layer(x), y), [layer.weight])
            opt.zero_grad()
            loss.backward()
            opt.step()
            reg.after_step([layer.weight], 0.05)
        exact[proximal] = (layer.weight == 0).float().mean().item()
    assert exact[False] == 0.0  # the subgradient step never lands on 0
    assert exact[True] > 0.3  # the noise inputs' weights are exactly 0


def test_l1_gives_sparser_weights_than_l2_at_matched_strength():
    l1 = sparsity_after_training(Regularization([L1(**{"lambda": 0.01})]))
    l2 = sparsity_after_training(Regularization([L2(**{"lambda": 0.01})]))
    assert l1 > 0.3 and l1 > l2 + 0.2


@pytest.mark.parametrize("mode", ["inverted", "classic"])
def test_dropout_preserves_the_expected_activation(mode):
    torch.manual_seed(0)
    layer = Dropout(p=0.3, mode=mode).hidden()
    x = torch.full((2000, 50), 2.0)
    train_mean = layer.train()(x).mean().item()
    eval_out = layer.eval()(x)
    assert train_mean == pytest.approx(eval_out.mean().item(), rel=0.02)
    assert torch.equal(eval_out, layer.eval()(x))  # eval is deterministic
    dropped = (layer.train()(x) == 0).float().mean().item()
    assert dropped == pytest.approx(0.3, abs=0.01)


def test_dropout_masks_differ_between_updates_and_classic_scales_at_test():
    layer = ClassicDropout(0.5)
    x = torch.ones(1, 1000)
    assert not torch.equal(layer.train()(x), layer.train()(x))
    assert torch.equal(layer.eval()(x), torch.full_like(x, 0.5))
    hidden, inputs = Dropout(p=0.5, input_p=0.2).hidden, Dropout(p=0.5, input_p=0.2).inputs
    assert isinstance(hidden(), nn.Dropout) and hidden().p == 0.5
    assert isinstance(inputs(), nn.Dropout) and inputs().p == 0.2


@pytest.mark.parametrize("patience", [1, 3])
def test_early_stopping_stops_after_exactly_patience_bad_evaluations(patience):
    stopper = EarlyStopping(patience=patience, min_delta=0.01)
    model = nn.Linear(1, 1)
    losses = [1.0, 0.5, 0.499, 0.6, 0.7, 0.8, 0.9]  # 0.499 is not better by min_delta
    stops = [
        stopper.update({"epoch": e, "val_loss": v}, model) for e, v in enumerate(losses, start=1)
    ]
    assert stops.index(True) == 1 + patience  # epoch 2 was the best
    assert stopper.best_epoch == 2


def test_early_stopping_on_consecutive_increases_ignores_a_plateau():
    stopper = EarlyStopping(patience=2, mode="increases")
    model = nn.Linear(1, 1)
    losses = [1.0, 0.5, 0.6, 0.55, 0.55, 0.7, 0.8, 0.9]  # up, down, flat, up, up: stop at 0.8
    stops = [stopper.update({"epoch": e, "val_loss": v}, model) for e, v in enumerate(losses, 1)]
    assert stops.index(True) == 6 and stopper.best_epoch == 2
    patient = EarlyStopping(patience=2)  # no improvement on 0.5 for 2 evaluations: earlier
    stops = [patient.update({"epoch": e, "val_loss": v}, model) for e, v in enumerate(losses, 1)]
    assert stops.index(True) == 3


def test_early_stopping_restores_the_best_weights():
    stopper = EarlyStopping(patience=1)
    model = nn.Linear(1, 1)
    nn.init.constant_(model.weight, 1.0)
    stopper.update({"epoch": 1, "val_loss": 0.1}, model)
    nn.init.constant_(model.weight, 5.0)
    assert stopper.update({"epoch": 2, "val_loss": 0.2}, model)
    summary = stopper.finish(model)
    assert model.weight.item() == 1.0 and summary["best_epoch"] == 1


def test_gradient_noise_variance_decays_as_eta_over_1_plus_t_to_the_gamma():
    noise = GradientNoise(eta=0.3, gamma=0.55)
    for step in (0, 10, 1000):
        p = nn.Parameter(torch.zeros(200_000))
        p.grad = torch.zeros_like(p)
        noise.on_gradients([p], step)
        expected = 0.3 / (1 + step) ** 0.55
        assert p.grad.var().item() == pytest.approx(expected, rel=0.02)


def test_augment_shift_moves_each_example_within_its_padding():
    torch.manual_seed(0)
    x = torch.zeros(64, 1, 8, 8)
    x[:, :, 3:5, 3:5] = 1.0  # a centred square
    out = random_shift(x, 2)
    assert out.shape == x.shape and torch.all(out.sum((1, 2, 3)) == 4)  # never cut off
    centers = [tuple(torch.nonzero(o[0])[0].tolist()) for o in out]
    assert len(set(centers)) > 10  # offsets differ between examples
    assert all(1 <= r <= 5 and 1 <= c <= 5 for r, c in centers)
    seq = torch.arange(1.0, 11.0).view(1, 1, 10).repeat(64, 1, 1)
    padded = F.pad(seq[0, 0], (1, 1))
    shifts = {d: padded[1 + d : 11 + d] for d in (-1, 0, 1)}  # zero-filled shifts by d
    seen = set()
    for s in random_shift(seq, 1):
        (d,) = [d for d, ref in shifts.items() if torch.equal(s[0], ref)]
        seen.add(d)
    assert seen == {-1, 0, 1}


def test_augment_noise_and_flip():
    torch.manual_seed(0)
    x = torch.arange(16.0).view(1, 1, 4, 4).repeat(256, 1, 1, 1)
    flipped = Augment(flip=True).perturb(x, None)[0]
    is_flipped = (flipped == x.flip(-1)).flatten(1).all(1)
    assert 0.35 < is_flipped.float().mean() < 0.65
    assert torch.all(is_flipped | (flipped == x).flatten(1).all(1))
    noisy = Augment(noise_std=0.5).perturb(torch.zeros(10000), None)[0]
    assert noisy.std().item() == pytest.approx(0.5, rel=0.03)


def test_weight_noise_is_applied_for_the_gradient_and_removed_before_the_step():
    torch.manual_seed(0)
    layer = nn.Linear(3, 1, bias=False)
    w0 = layer.weight.detach().clone()
    noise = WeightNoise(std=0.1)
    noise.bind(layer, None, [layer.weight])
    noise.perturb(None, None)
    assert not torch.equal(layer.weight, w0)
    noisy = layer.weight.detach().clone()
    layer(torch.ones(1, 3)).sum().backward()
    noise.on_gradients([layer.weight], 0)
    assert torch.allclose(layer.weight, w0) and not torch.allclose(noisy, w0)


def test_fgsm_adds_the_sign_of_the_input_gradient():
    layer = nn.Linear(2, 2)
    criterion = nn.CrossEntropyLoss()
    adv = Adversarial(eps=0.25)
    adv.bind(layer, criterion, [])
    x, y = torch.randn(5, 2), torch.tensor([0, 1, 0, 1, 1])
    xs, ys = adv.perturb(x, y)
    x_in = x.clone().requires_grad_(True)
    criterion(layer(x_in), y).backward()
    assert torch.equal(xs[:5], x) and torch.equal(ys, torch.cat([y, y]))
    assert torch.allclose(xs[5:], x + 0.25 * x_in.grad.sign())


def test_curriculum_starts_with_the_easiest_fraction_and_grows_to_all():
    x = torch.tensor([[0.0], [0.1], [5.0], [1.0], [1.1], [9.0]] * 2)
    y = torch.tensor([0, 0, 0, 1, 1, 1] * 2)
    score = class_distance(x, y)
    order = EpochOrder(len(y), shuffle=True, seed=0, difficulty=score, start=0.5, epochs=2)
    assert [order.size(e) for e in (1, 2, 3, 4)] == [6, 9, 12, 12]
    first = set(order(1).tolist())
    hardest = {2, 5, 8, 11}  # the outliers 5.0 and 9.0
    assert not first & hardest and len(first) == 6
    assert set(order(3).tolist()) == set(range(12))


def test_no_shuffle_visits_the_data_in_order():
    assert EpochOrder(5, shuffle=False)(1).tolist() == [0, 1, 2, 3, 4]
    a, b = EpochOrder(50, seed=1), EpochOrder(50, seed=1)
    assert torch.equal(a(1), b(1)) and not torch.equal(a(1), a(2))


def test_softmax_mse_and_label_smoothing():
    logits = torch.tensor([[2.0, 0.0, -1.0]])
    p = logits.softmax(1)[0]
    expected = (p[0] - 1) ** 2 + p[1] ** 2 + p[2] ** 2
    assert SoftmaxMSE()(logits, torch.tensor([0])).item() == pytest.approx(expected.item())
    smooth = nn.CrossEntropyLoss(label_smoothing=0.3)(logits, torch.tensor([0]))
    target = torch.tensor([0.7 + 0.1, 0.1, 0.1])
    assert smooth.item() == pytest.approx(-(target * logits.log_softmax(1)[0]).sum().item())
    assert math.isfinite(smooth.item())
