"""What a user coming from the Lightning-Hydra template or W&B hits first: their own code
without a package (--trust), a report that never pools settings as seeds, and the small
things (the newest output, a sweep's tally, files left where no one asked, completion, a
typo's suggestion, legends, bands, an offline message, a refused run's dir, --help)."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time
import urllib.error
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT, dltricks, read_summary, train_run

TINY = ["trainer.epochs=1", "trainer.threads=1", "model.width=16"]

MYNET = """from torch import nn


def build(in_shape, classes, activation, norm, dropout, hidden=16):
    n = 1
    for d in in_shape:
        n *= d
    layers = [nn.Flatten(), nn.Linear(n, hidden), activation(hidden), nn.Linear(hidden, classes)]
    return nn.Sequential(*layers)
"""


@pytest.fixture
def project(tmp_path) -> Path:
    """A user's folder: mynet.py and myconf/model/mynet.yaml naming mynet.build."""
    (tmp_path / "mynet.py").write_text(MYNET)
    (tmp_path / "myconf" / "model").mkdir(parents=True)
    (tmp_path / "myconf" / "model" / "mynet.yaml").write_text(
        "_target_: mynet.build\n_partial_: true\nhidden: 16\n"
    )
    return tmp_path


def test_your_own_module_runs_with_trust_and_only_with_it(project):
    mine = ["--config-dir", "myconf", "model=mynet", *TINY[:2]]
    refused = dltricks("train", *mine, "hydra.run.dir=r0", cwd=project)
    assert refused.returncode == 2 and "--trust MODULE" in refused.stderr
    assert not (project / "r0").exists()
    trusted = dltricks("train", "--trust", "mynet", *mine, "hydra.run.dir=r1", cwd=project)
    assert trusted.returncode == 0, trusted.stderr
    assert read_summary(project / "r1")["status"] == "completed"
    # trust is never read from the run dir: a resume needs it (and the config dir) again
    again = dltricks("resume", "r1", "trainer.epochs=2", "--config-dir", "myconf", cwd=project)
    assert again.returncode == 2 and "--trust" in again.stderr
    resumed = dltricks(
        "resume",
        "r1",
        "trainer.epochs=2",
        "--config-dir",
        "myconf",
        "--trust",
        "mynet",
        cwd=project,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert read_summary(project / "r1")["epochs"] == 2


def test_trust_from_the_pyproject_of_the_folder_reaches_a_sweeps_workers(project):
    (project / "pyproject.toml").write_text('[tool.dltricks]\ntrust = ["mynet"]\n')
    proc = dltricks(
        "train", "-m", "--config-dir", "myconf", "model=mynet", *TINY[:2], "seed=0,1",
        "hydra/launcher=joblib", "hydra.sweep.dir=s", cwd=project,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 completed" in proc.stdout


@pytest.mark.parametrize("name", ["os", "subprocess", "torch", "dltricks", "my-net"])
def test_trust_never_admits_the_standard_library_or_what_the_allow_list_governs(project, name):
    proc = dltricks("train", "--trust", name, *TINY, "hydra.run.dir=r", cwd=project)
    assert proc.returncode == 2 and f"--trust {name}" in proc.stderr, proc.stderr
    assert not (project / "r").exists()


def test_report_by_never_averages_runs_of_different_settings_as_seeds(tmp_path):
    for epochs in (1, 3):
        dltricks(
            "train", "-m", f"trainer.epochs={epochs}", "seed=0,1", "trainer.threads=1",
            f"hydra.sweep.dir={tmp_path}/e{epochs}",
        )  # fmt: skip
    proc = dltricks("report", str(tmp_path), "--by", "model.depth", "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(io.StringIO(proc.stdout.split("\n\n")[0]), comment="#")
    assert sorted(table["trainer.epochs"]) == [1, 3] and list(table["n"]) == [2, 2]
    said = dltricks("report", str(tmp_path), "--by", "model.depth").stdout
    assert "also differ in trainer.epochs" in said
    assert "train error 0.446" not in said  # each row judged from comparable runs alone
    shown = dltricks("report", str(tmp_path), "--by", "model.depth,trainer.epochs")
    assert "also differ" not in shown.stdout  # grouped as meant: nothing to say


def test_the_newest_output_is_the_last_started_not_the_last_by_name(tmp_path, monkeypatch):
    from dltricks.report.build import newest_output

    monkeypatch.chdir(tmp_path)
    old = tmp_path / "outputs" / "sweeps" / "seeds"  # a named sweep dir, made first
    new = tmp_path / "outputs" / "runs" / "2026-12-01" / "10-00-00-000000"
    for d in (old, new):
        d.mkdir(parents=True)
    an_hour_before = time.mktime(time.strptime("2026-12-01 09-00", "%Y-%m-%d %H-%M"))
    os.utime(old, (an_hour_before, an_hour_before))
    assert newest_output() == Path("outputs/runs/2026-12-01/10-00-00-000000")
    os.utime(old)  # now: the named dir was written last
    assert newest_output() == Path("outputs/sweeps/seeds")


def test_jobs_refused_for_another_runs_dir_are_tallied_as_refused(tmp_path):
    first = dltricks("train", "-m", "seed=0,1", *TINY, f"hydra.sweep.dir={tmp_path}")
    assert first.returncode == 0
    other = dltricks("train", "-m", "seed=5,6", *TINY, f"hydra.sweep.dir={tmp_path}")
    assert other.returncode == 1, other.stdout
    assert "sweep of 2 jobs: 2 refused" in other.stdout
    assert [read_summary(tmp_path / str(j))["overrides"][0] for j in (0, 1)] == ["seed=0", "seed=1"]


def test_an_mlflow_run_leaves_no_mlruns_where_it_was_started(tmp_path):
    pytest.importorskip("mlflow")
    uri = f"sqlite:///{tmp_path}/store/mlflow.db"
    (tmp_path / "store").mkdir()
    proc = dltricks(
        "train", "logger=mlflow", f"logger.mlflow.tracking_uri={uri}", *TINY,
        f"hydra.run.dir={tmp_path}/run", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "mlruns").exists()
    assert (tmp_path / "store" / "mlartifacts").is_dir()  # beside the database


def test_completion_answers_groups_and_options_itself_and_spaces_whole_words():
    from dltricks import completion

    assert completion.quick("dltricks-train opt") == "optimizer. optimizer="
    answer = completion.quick("dltricks-train optimizer=ad").split()
    assert answer == ["optimizer=adabound", "optimizer=adadelta", "optimizer=adagrad",
                      "optimizer=adam", "optimizer=adamw"]  # fmt: skip
    assert completion.quick("dltricks-train optimizer.l") is None  # a key: Hydra's
    hydra = subprocess.run(
        [sys.executable, "-m", "dltricks", "train", "-sc", "query=bash"],
        env={**os.environ, "COMP_LINE": "dltricks-train "},
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    ours = set(hydra.stdout.split())
    assert {"optimizer=", "optimizer.", "trainer.", "seed="} <= ours
    script = completion.install_script("bash")
    assert "compopt +o nospace" in script  # `dltricks tr<TAB>` ends with a space


def test_a_misspelt_group_suggests_group_equals_option(tmp_path):
    proc = dltricks("train", "optimzer=adam", f"hydra.run.dir={tmp_path}/r")
    assert proc.returncode == 2 and "Did you mean optimizer=adam?" in proc.stderr


def test_legends_read_values_as_typed_and_bands_never_go_below_zero(tmp_path, monkeypatch):
    from matplotlib.axes import Axes

    from dltricks.report import build, plots

    assert build._label(["trainer.epochs", "model.depth"], (float("nan"), 3.0)) == "model.depth=3"
    runs = []
    for seed in (0, 1):
        run = tmp_path / f"s{seed}"
        train_run(run, "trainer.epochs=3", f"seed={seed}", "trainer.threads=1")
        runs.append(run)
    lows = []
    real = Axes.fill_between
    monkeypatch.setattr(
        Axes,
        "fill_between",
        lambda ax, x, lo, hi, **k: lows.append(min(lo)) or real(ax, x, lo, hi, **k),
    )
    plots.learning_curves({"a": runs}, tmp_path / "curves.png")
    assert lows and min(lows) >= 0


def test_lr_drops_are_found_where_the_rate_falls_by_2x_or_more():
    from dltricks.report.plots import lr_drops

    df = pd.DataFrame({"epoch": [5, 10, 15, 20, 25], "lr": [0.1, 0.1, 0.01, 0.01, 0.001]})
    assert lr_drops(df) == [(10.0, pytest.approx(10.0)), (20.0, pytest.approx(10.0))]
    assert lr_drops(df.assign(lr=[0.1, 0.09, 0.08, 0.07, 0.06])) == []  # smooth: none


def test_the_offline_mnist_message_names_all_four_files(tmp_path, monkeypatch):
    from dltricks.data import idx
    from dltricks.errors import BadFile

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr("urllib.request.urlopen", offline)
    with pytest.raises(BadFile) as err:
        idx.load("mnist", root=str(tmp_path))
    assert all(f in str(err.value) for f in idx.FILES)


@pytest.mark.parametrize("bad", ["trainer.precision=fp16", "trainer.device=cuda"])
def test_a_run_refused_for_bad_input_leaves_no_failed_run_behind(tmp_path, bad):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is here: these are not bad input")
    proc = dltricks("train", bad, "trainer.device=cpu" if "fp16" in bad else "seed=0",
                    f"hydra.run.dir={tmp_path}/run")  # fmt: skip
    assert proc.returncode == 2
    assert not (tmp_path / "run").exists()
    assert "no runs" in dltricks("report", str(tmp_path)).stderr


def test_train_help_marks_each_groups_default():
    proc = dltricks("train", "--help")
    assert re.search(r"^optimizer: .*momentum\*", proc.stdout, re.M)
    assert re.search(r"^data: .*digits\*", proc.stdout, re.M)


def test_a_one_run_report_shows_what_its_command_line_named(tmp_path):
    train_run(tmp_path / "run", "optimizer=adam", *TINY)
    proc = dltricks("report", str(tmp_path / "run"), "--format", "markdown")
    header = proc.stdout.split("| run |", 1)[1].splitlines()[0]
    assert "optimizer" in header and "trainer.epochs" in header
    assert "activation" not in header and "loss" not in header  # defaults: not news
    assert "1 run under" in proc.stdout
    assert max(len(line) for line in proc.stdout.splitlines() if line.startswith("|")) < 160
    full = dltricks("report", str(tmp_path / "run"), "--format", "csv").stdout
    assert "activation" in full.splitlines()[0]  # the machine format keeps every column


def test_the_readmes_bad_input_examples_print_what_it_shows():
    text = (ROOT / "README.md").read_text()
    block = text.split("Bad input ends before any training", 1)[1].split("```")[1]
    examples = re.findall(r"^\$ (dltricks .+)\n(dltricks: error: .+)$", block, re.M)
    assert len(examples) >= 2
    for command, shown in examples:
        proc = dltricks(*command.split()[1:])
        assert proc.returncode == 2 and proc.stderr.strip() == shown, command
