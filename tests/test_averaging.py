"""Parameter averaging (Polyak; SWA; EMA) against its formula, and its gain measured."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dltricks import config, train
from dltricks.averaging import Averaging
from dltricks.run_record import Job


@pytest.mark.parametrize("ema", [None, 0.9])
def test_the_average_starts_at_its_step_and_follows_its_formula(ema):
    model = nn.Linear(3, 2)
    avg = Averaging(model, start=0.5, total_steps=10, ema=ema)
    assert avg.first == 5
    live = avg.average.module  # AveragedModel keeps its own copy: train that copy's twin
    trained = nn.Linear(3, 2)
    trained.load_state_dict(live.state_dict())
    seen = []
    torch.manual_seed(0)
    for step in range(1, 11):
        with torch.no_grad():
            trained.weight.add_(torch.randn_like(trained.weight))
        avg.update(trained, step)
        seen.append(trained.weight.detach().clone())
    if ema is None:  # Polyak/SWA: the plain mean of the weights after steps 5..10
        expected = torch.stack(seen[4:]).mean(0)
    else:  # an EMA that starts at the weights of step 5
        expected = seen[4]
        for w in seen[5:]:
            expected = ema * expected + (1 - ema) * w
    assert torch.allclose(avg.average.module.weight, expected, atol=1e-6)
    assert int(avg.average.n_averaged) == 6


def test_an_averaged_run_records_the_gain_and_ends_with_the_averaged_weights(tmp_path):
    cfg = config.load(["average.start=0.5", "trainer.epochs=4", "trainer.threads=1"])
    summary = train.run(cfg, Job(tmp_path))
    average = summary["average"]
    assert average["updates_averaged"] == summary["steps"] - average["first_step"] + 1
    assert summary["final"]["test_err"] == average["averaged"]["test_err"]
    gain = average["last"]["test_err"] - average["averaged"]["test_err"]
    assert average["gain"]["test_err"] == pytest.approx(gain)


def test_averaging_and_early_stopping_are_refused_together():
    with pytest.raises(config.ConfigError, match=r"average\.start"):
        config.load(["average.start=0.5", "regularization=[early_stopping]"])


def test_an_ensemble_of_runs_averages_their_probabilities(tmp_path):
    from dltricks.ensemble import ensemble

    runs = []
    for seed in (0, 1, 2):
        overrides = [f"seed={seed}", "trainer.epochs=2", "model.width=16", "trainer.threads=1"]
        train.run(config.load(overrides), Job(tmp_path / str(seed), {}, overrides))
        runs.append(tmp_path / str(seed))
    result = ensemble(runs)
    test = result["test"]
    assert len(test["members"]) == 3 and test["mean_member"] == pytest.approx(
        sum(test["members"]) / 3
    )
    assert 0 <= test["ensemble"] <= 1 and test["best_member"] == min(test["members"])
    other = ["seed=0", "data.val_fraction=0.2", "trainer.epochs=1", "model.width=16"]
    train.run(config.load(other), Job(tmp_path / "other", {}, other))
    with pytest.raises(config.ConfigError, match="val_fraction"):
        ensemble([runs[0], tmp_path / "other"])
