"""Probes and sanity tools against the seeds' claims: vanishing gradients with sigmoid, the
cs231n init table, dead units, the update ratio, the initial loss ln C, lr-find's curve."""

from __future__ import annotations

import math
from functools import partial

import pandas as pd
import pytest
import torch
from conftest import ROOT, dltricks, read_metrics, read_summary, train_run
from torch import nn

from dltricks.models import activations, init
from dltricks.models.mlp import MLP
from dltricks.probes import Probes
from dltricks.rundir import RunDir
from dltricks.sanity import initial_loss as sanity

RELU, TANH, SIGMOID = activations.relu(), activations.tanh(), activations.sigmoid()


def probe_rows(model: nn.Module, tmp_path, x=None, y=None, activation=RELU) -> pd.DataFrame:
    torch.manual_seed(0)
    x = torch.randn(256, 100) if x is None else x
    y = torch.randint(0, 10, (len(x),)) if y is None else y
    probes = Probes(
        model, x, y, nn.CrossEntropyLoss(), RunDir(tmp_path).layers_writer(fresh=True), activation
    )
    rows = probes.measure(0, 0)
    probes.close()
    return pd.DataFrame(rows)


def deep_mlp(activation, scheme, depth=20, width=100, **kw) -> MLP:
    torch.manual_seed(0)
    model = MLP((100,), 10, depth=depth, width=width, activation=activation, norm=nn.Identity)
    scheme(model, activation=activation, **kw)
    return model


def test_sigmoid_gradients_vanish_toward_the_input_relu_he_does_not(tmp_path):
    sig = probe_rows(deep_mlp(SIGMOID, init.xavier), tmp_path, activation=SIGMOID)
    relu = probe_rows(deep_mlp(RELU, init.he), tmp_path)
    sig_ratio = sig["grad_norm"].iloc[0] / sig["grad_norm"].iloc[-1]
    relu_ratio = relu["grad_norm"].iloc[0] / relu["grad_norm"].iloc[-1]
    assert sig_ratio < 1e-4  # orders of magnitude smaller at the first layer
    assert 0.1 < relu_ratio < 10  # within a small factor


@pytest.mark.parametrize(
    ("kwargs", "check"),
    [
        ({"std": 0.01}, lambda std: std < 1e-3),  # activations collapse to zero
        ({"std": 1.0}, lambda std: std > 0.9),  # saturated at +-1
    ],
)
def test_cs231n_tanh_init_table(tmp_path, kwargs, check):
    # 10 tanh layers of 500 units (depth 11: 10 hidden layers and the output layer)
    model = deep_mlp(TANH, partial(init.gaussian, **kwargs), depth=11, width=500)
    rows = probe_rows(model, tmp_path, x=torch.randn(512, 100), activation=TANH)
    assert check(rows["act_std"].iloc[9])  # the 10th hidden layer


def test_xavier_keeps_tanh_activations_healthy(tmp_path):
    model = deep_mlp(TANH, init.xavier, depth=11, width=500, gain=1.0)
    stds = probe_rows(model, tmp_path, x=torch.randn(512, 100), activation=TANH)["act_std"]
    stds = stds.iloc[:10]
    assert stds.between(0.1, 0.9).all()


def test_dead_fraction_is_one_for_a_layer_forced_negative(tmp_path):
    model = deep_mlp(RELU, init.he, depth=4, width=32)
    with torch.no_grad():
        model.blocks[0].inner[0].bias.fill_(-100.0)  # the second layer is never active
    rows = probe_rows(model, tmp_path)
    assert rows["dead_frac"].iloc[1] == 1.0 and rows["dead_frac"].iloc[0] < 0.5
    assert math.isnan(rows["dead_frac"].iloc[-1])  # the output layer has no relu


def test_update_ratio_is_lr_g_over_w_for_plain_sgd(tmp_path):
    torch.manual_seed(0)
    model = MLP((100,), 10, depth=3, width=16, activation=RELU, norm=nn.Identity)
    x, y = torch.randn(64, 100), torch.randint(0, 10, (64,))
    probes = Probes(
        model, x, y, nn.CrossEntropyLoss(), RunDir(tmp_path).layers_writer(fresh=True), RELU
    )
    lr = 0.1
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    opt.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    expected = [
        (lr * m.weight.grad).norm().item() / m.weight.norm().item()
        for m in model.modules()
        if isinstance(m, nn.Linear)
    ]
    probes.before_step(last_in_epoch=True)
    opt.step()
    rows = probes.measure(1, 1)
    probes.close()
    assert [r["update_ratio"] for r in rows] == pytest.approx(expected, rel=1e-5)


def test_initial_loss_of_a_10_class_net_is_ln_10():
    torch.manual_seed(0)
    model = MLP((64,), 10, depth=4, width=64, activation=RELU, norm=nn.Identity)
    result = sanity(model, torch.randn(512, 64), torch.randint(0, 10, (512,)), 10, 0.1)
    assert result["initial_loss"] == pytest.approx(math.log(10), abs=0.05)
    assert result["expected_loss"] == pytest.approx(2.302585)
    assert result["initial_loss_ok"]
    big = MLP((64,), 10, depth=4, width=64, activation=RELU, norm=nn.Identity)
    init.gaussian(big, std=1.0)
    off = sanity(big, torch.randn(512, 64), torch.randint(0, 10, (512,)), 10, 0.5)
    assert not off["initial_loss_ok"]


def test_the_penalty_check_compares_the_objective_with_and_without_it(tmp_path):
    from dltricks import config
    from dltricks.build import build
    from dltricks.sanity import penalty_effect

    p = build(config.load(["regularization=[l2]", "regularization.l2.lambda=0.1"]), tmp_path)
    x, y = p.data.train.x[:256], p.data.train.y[:256]
    effect = penalty_effect(p, x, y)
    expected = 0.05 * sum(float(w.pow(2).sum()) for w in p.weights)
    assert effect["penalty_raises_loss"] and effect["penalty"] == pytest.approx(expected, rel=1e-4)
    p.reg.add_penalty = lambda loss, weights: loss  # a step that forgot to add it
    assert penalty_effect(p, x, y)["penalty_raises_loss"] is False
    plain = build(config.load(["regularization=[dropout]"]), tmp_path)
    assert penalty_effect(plain, x, y)["penalty_raises_loss"] is None  # no penalty to check


def test_probes_write_layers_csv_and_change_no_metric(tmp_path):
    common = ["trainer.epochs=3", "regularization=[dropout]", "norm=batch", "model.width=32"]
    train_run(tmp_path / "on", *common, "trainer.probes=true")
    train_run(tmp_path / "off", *common)
    cols = ["train_loss", "val_err", "test_err"]
    assert read_metrics(tmp_path / "on")[cols].equals(read_metrics(tmp_path / "off")[cols])
    layers = pd.read_csv(tmp_path / "on" / "layers.csv")
    assert sorted(layers["epoch"].unique()) == [0, 1, 2, 3]
    assert len(layers[layers["epoch"] == 0]) == 4  # 4 weight layers
    assert layers[layers["epoch"] == 0]["update_ratio"].isna().all()
    assert layers[layers["epoch"] > 0]["update_ratio"].between(1e-6, 1).all()
    sanity = read_summary(tmp_path / "on")["sanity"]
    assert sanity["initial_loss"] == pytest.approx(math.log(10), abs=0.5)


def test_a_bad_init_is_flagged_in_the_log_and_the_report(tmp_path):
    proc = train_run(tmp_path / "run", "init=gaussian", "init.std=1.0", "trainer.epochs=1")
    assert "warning: sanity: initial loss" in proc.stdout
    report = dltricks("report", str(tmp_path))
    assert "far from ln C" in report.stdout.replace("\n", " ")


def test_overfit_subset_reaches_near_zero_train_loss(tmp_path):
    proc = train_run(
        tmp_path,
        "trainer.overfit_subset=32",
        "trainer.epochs=60",
        "optimizer=adam",
        "optimizer.lr=0.01",
        "trainer.batch_size=32",
    )
    overfit = read_summary(tmp_path)["overfit"]
    assert overfit["n"] == 32 and overfit["reached"], proc.stdout
    assert "overfit_subset=32: train loss" in proc.stdout


def test_train_size_trains_on_that_many_examples_without_the_overfit_check(tmp_path):
    train_run(tmp_path, "data.train_size=50", "trainer.epochs=1", "trainer.batch_size=10")
    summary = read_summary(tmp_path)
    assert summary["steps"] == 5 and "overfit" not in summary  # 50 examples, 10 a batch


@pytest.mark.parametrize(
    "bad",
    [["--steps", "5"], ["--min-lr", "0"], ["--min-lr", "1", "--max-lr", "0.1"],
     ["--max-lr", "1e400"], ["--max-lr", "nan"]],
)  # fmt: skip
def test_lr_find_refuses_a_range_it_cannot_sweep_before_any_step(tmp_path, bad):
    proc = dltricks("lr-find", *bad, "--out", str(tmp_path / "lr"))
    assert proc.returncode == 2 and "0 < --min-lr < --max-lr, both finite" in proc.stderr
    assert not (tmp_path / "lr").exists()


def test_lr_find_suggests_an_lr_inside_the_range_and_has_the_expected_shape(tmp_path):
    proc = dltricks(
        "lr-find",
        "optimizer=sgd",
        "--out",
        str(tmp_path),
        "--steps",
        "150",
        "--min-lr",
        "1e-5",
        "--max-lr",
        "100",
    )
    assert proc.returncode == 0, proc.stderr
    suggested = float(proc.stdout.split("suggested lr: ")[1].split()[0])
    assert 1e-5 < suggested < 100
    curve = pd.read_csv(tmp_path / "lr_find.csv")
    start, low = curve["smoothed"].iloc[0], curve["smoothed"].min()
    assert low < 0.9 * start  # the loss falls once the rate is useful...
    assert curve["smoothed"].iloc[-1] > 2 * low or len(curve) < 150  # ...and blows up after
    assert (tmp_path / "lr_find.png").stat().st_size > 1000


def test_the_update_ratio_check_warns_two_decades_from_1e_3(capsys):
    from dltricks.probes import check_update_ratio

    assert check_update_ratio(1, [1e-3, 2e-3, float("nan")])["ok"] is True
    low = check_update_ratio(1, [2e-5, 3e-5, 4e-5])
    assert low == {"epoch": 1, "median": 3e-5, "ok": False}
    assert "likely too low" in capsys.readouterr().out
    assert check_update_ratio(2, [0.5, 0.9])["ok"] is False
    assert "likely too high" in capsys.readouterr().out
    assert check_update_ratio(0, [float("nan")])["ok"] is None


REGULARIZERS = sorted(p.stem for p in (ROOT / "conf" / "regularization").glob("*.yaml"))


def lr_find_rows(tmp_path, *overrides: str) -> list[dict]:
    from dltricks import config, lr_find

    cfg = config.load(["model.width=16", "trainer.threads=1", *overrides])
    lr_find.lr_find(cfg, tmp_path, steps=20, min_lr=1e-4, max_lr=1.0)
    return pd.read_csv(tmp_path / "lr_find.csv").to_dict("records")


@pytest.mark.parametrize("option", REGULARIZERS)
def test_the_range_test_takes_the_training_step_with_every_regularizer(tmp_path, option):
    rows = lr_find_rows(tmp_path, f"regularization=[{option}]")
    assert rows and all(math.isfinite(r["loss"]) for r in rows[:5])
    assert rows[0]["lr"] == pytest.approx(1e-4)


@pytest.mark.parametrize(("max_norm", "moves"), [(1e-9, False), (1.0, True)])
def test_the_range_test_steps_through_the_loops_own_step(tmp_path, max_norm, moves):
    from dltricks import config, lr_find
    from dltricks.build import build

    cfg = config.load(
        [
            "model.width=16",
            "trainer.threads=1",
            "regularization=[grad_clip]",
            f"regularization.grad_clip.max_norm={max_norm}",
        ]
    )
    p = build(cfg, RunDir(tmp_path))
    before = [w.detach().clone() for w in p.params]
    lr_find.range_test(p, 20, 1e-4, 1.0, 0.9, 4.0)
    moved = max((w - b).abs().max().item() for w, b in zip(p.params, before, strict=True))
    assert (moved > 1e-3) is moves, moved  # a clip at 1e-9 (the loop's hook) keeps w still


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_the_range_test_runs_in_fp16_through_the_grad_scaler(tmp_path):
    rows = lr_find_rows(tmp_path, "trainer.precision=fp16", "trainer.device=cuda")
    assert rows and math.isfinite(rows[0]["loss"])
