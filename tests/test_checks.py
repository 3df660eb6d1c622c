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
    rows = gradient_check(p, n=8, per_layer=5)
    assert [r["verdict"] for r in rows] == ["right"] * 4
    assert max(r["max_rel_error"] for r in rows) < 1e-4
    # a penalty whose gradient autograd cannot see: the check must call it wrong
    p.reg.add_penalty = lambda loss, weights: loss + sum(w.detach().pow(2).sum() for w in weights)
    assert {r["verdict"] for r in gradient_check(p, n=8, per_layer=5)} == {"WRONG"}


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
