"""Optimizer parameter groups and the schedules' closed forms."""

from __future__ import annotations

import math
from functools import partial

import pytest
import torch
from torch import nn

from dltricks import optim, targets
from dltricks.models.activations import relu
from dltricks.models.layers import batch_norm
from dltricks.models.mlp import MLP
from dltricks.optim import schedules


def test_weight_decay_skips_biases_and_norm_parameters():
    model = MLP((4,), 3, depth=3, width=8, activation=relu(), norm=batch_norm)
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


def curve(name: str, *overrides: str):
    from dltricks import config

    cfg = config.load([f"schedule={name}", *overrides])
    return schedules.with_warmup(targets.instantiate(cfg.schedule.curve), cfg.schedule.warmup_steps)


T = 1000
# (schedule, step, closed form) with the YAML defaults
CLOSED_FORMS = [
    ("constant", 500, 1.0),
    ("inv_sqrt", 0, 1.0),
    ("inv_sqrt", 99, 1 / math.sqrt(100)),
    ("step", 299, 1.0),
    ("step", 300, 0.1),
    ("step", 650, 0.01),
    ("multistep", 499, 1.0),
    ("multistep", 500, 0.1),
    ("multistep", 750, 0.01),
    ("exponential", 500, 0.01**0.5),
    ("cosine", 250, 0.5 * (1 + math.cos(math.pi / 4))),
    ("cyclic", 0, 0.1),
    ("cyclic", 125, 1.0),  # the top of the first triangle (period 250)
    ("cyclic", 62.5, 0.55),
    ("cyclic", 250, 0.1),
    ("sgdr", 50, 0.5),  # halfway through the first run (t0 = 100 steps)
    ("sgdr", 100, 1.0),  # a restart
    ("sgdr", 200, 0.5),  # halfway through the second run (200 steps)
    ("sgdr", 300, 1.0),
    ("one_cycle", 0, 0.04),
    ("one_cycle", 450, 1.0),
    ("one_cycle", 675, 0.52),
    ("one_cycle", 900, 0.04),
    ("one_cycle", 1000, 0.004),
]


@pytest.mark.parametrize(("name", "step", "expected"), CLOSED_FORMS)
def test_schedule_matches_its_closed_form(name, step, expected):
    assert curve(name)(step, T) == pytest.approx(expected, abs=1e-9)


def test_every_schedule_has_closed_form_checks():
    from dltricks import config

    assert {name for name, _, _ in CLOSED_FORMS} == set(config.options("schedule"))


@pytest.mark.parametrize("name", ["cosine", "step", "one_cycle", "constant"])
def test_warmup_composes_with_every_schedule(name):
    s = curve(name, "schedule.warmup_steps=100")
    base = curve(name)
    assert s(0, T) == pytest.approx(0.01) and s(49, T) == pytest.approx(0.5)
    assert s(100 + 270, T) == pytest.approx(base(270, T - 100))


def test_schedule_command_prints_and_plots(tmp_path):
    from conftest import dltricks

    proc = dltricks(
        "schedule",
        "multistep",
        "optimizer.lr=0.1",
        "--steps",
        "100",
        "--out",
        str(tmp_path / "lr.png"),
    )
    assert proc.returncode == 0, proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines() if line.strip()[:1].isdigit()]
    lr = {int(step): float(value) for step, value in rows}
    assert lr[0] == pytest.approx(0.1) and lr[50] == pytest.approx(0.01)
    assert lr[99] == pytest.approx(0.001)
    assert (tmp_path / "lr.png").stat().st_size > 1000
    bad = dltricks("schedule", "cosine", "schedule.curve.final=2")
    assert bad.returncode == 2 and "schedule.curve.final" in bad.stderr


def test_metrics_record_the_lr_actually_used(tmp_path):
    from conftest import read_metrics, train_run

    train_run(
        tmp_path,
        "schedule=multistep",
        "trainer.epochs=4",
        "model.width=8",
        "trainer.batch_size=full",
        "optimizer=sgd",
        "optimizer.lr=1.0",
    )
    # full batch: one update per epoch; the lr of the last update of each epoch
    assert read_metrics(tmp_path)["lr"].tolist() == pytest.approx([1.0, 1.0, 0.1, 0.01])
