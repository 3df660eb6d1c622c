"""The loop's contracts with the rest: the schedule it uses is the one `dltricks schedule`
previews, a library call leaves the process' signal handlers alone, a metric has a column."""

from __future__ import annotations

import signal

import pandas as pd
import pytest
from conftest import dltricks

from dltricks import config, train
from dltricks.optim import preview
from dltricks.run_record import Job
from dltricks.rundir import MetricsWriter
from dltricks.settings import lr_schedule

TINY = ["trainer.epochs=3", "model.width=8", "trainer.batch_size=256", "trainer.threads=1"]


@pytest.mark.parametrize(
    "overrides",
    [
        ["schedule=constant", "trainer.lr_scale=10"],
        ["schedule=cosine", "schedule.warmup_steps=4", "trainer.lr_scale=0.5"],
    ],
)
def test_the_preview_shows_the_rates_a_run_uses(tmp_path, overrides):
    cfg = config.load([*overrides, *TINY])
    summary = train.run(cfg, Job(tmp_path))
    rows = pd.read_csv(tmp_path / "metrics.csv")
    points = preview.curve_points(lr_schedule(cfg), cfg.optimizer.lr, summary["steps"])
    # each row's lr is its epoch's last update's, at step - 1
    assert rows["lr"].tolist() == pytest.approx([points[s - 1][1] for s in rows["step"]])


def test_the_schedule_command_scales_by_lr_scale():
    proc = dltricks("schedule", "constant", "trainer.lr_scale=10", "--steps", "10")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1].split() == ["9", "0.5"]  # 0.05 x 10, not 0.05


def test_a_library_run_leaves_the_signal_handlers_alone(tmp_path, monkeypatch):
    installed = []
    monkeypatch.setattr(signal, "signal", lambda *a: installed.append(a))
    train.run(config.load(TINY), Job(tmp_path))
    assert installed == []  # only the command line's job (job.py) takes SIGINT/SIGTERM


def test_a_metric_without_a_column_is_an_error(tmp_path):
    with MetricsWriter(tmp_path / "m.csv") as w:
        w.write({"epoch": 1})
        with pytest.raises(KeyError, match="val_acc"):
            w.write({"epoch": 2, "val_acc": 0.5})
