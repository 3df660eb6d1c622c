"""dltricks' own search (issue 31): Optuna's ask-and-tell API behind hydra/sweeper=search, its
spaces from the options' own files, its samplers and pruners, resumable, failures counted,
bad spaces refused before any trial, on real storages (a journal file, SQLite)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, dltricks, read_summary

optuna = pytest.importorskip("optuna", reason="the search extra: pip install 'dltricks[search]'")

from dltricks.errors import ConfigError  # noqa: E402
from dltricks.search import space  # noqa: E402

TINY = ["trainer.epochs=2", "model.width=16", "trainer.threads=1"]
SEARCH = ["-m", "hydra/sweeper=search"]


def search(tmp_path: Path, *args: str, **kw):
    return dltricks("train", *SEARCH, *TINY, f"hydra.sweep.dir={tmp_path / 's'}", *args, **kw)


def study_of(tmp_path: Path, name: str = "dltricks-search"):
    from dltricks.search import study

    url = f"journal:///{tmp_path / 's' / 'search.journal'}"
    return optuna.load_study(study_name=name, storage=study.storage(url, name))


def job_dirs(tmp_path: Path) -> list[Path]:
    return sorted(
        (p for p in (tmp_path / "s").iterdir() if p.name.isdigit()), key=lambda p: int(p.name)
    )


# ---------------------------------------------------------------- spaces


@pytest.mark.parametrize(
    ("text", "default", "expected"),
    [
        (
            "tag(log, interval(1e-5, 0.1))",
            0.001,
            "FloatDistribution(high=0.1, log=True, low=1e-05, step=None)",
        ),
        ("interval(0.5, 0.99)", 0.9, "FloatDistribution(high=0.99, log=False, low=0.5, step=None)"),
        ("interval(0, 500)", 0, "IntDistribution(high=500, log=False, low=0, step=1)"),
        ("tag(int, interval(1, 9))", None, "IntDistribution(high=9, log=False, low=1, step=1)"),
        ("choice(16, 32, 64)", 16, "CategoricalDistribution(choices=(16, 32, 64))"),
        ("range(0, 300, 100)", 0, "CategoricalDistribution(choices=(0, 100, 200))"),
        ("adam,sgd", None, "CategoricalDistribution(choices=('adam', 'sgd'))"),
    ],
)
def test_a_space_in_hydras_syntax_is_optunas_distribution(text, default, expected):
    dim = space.parse("k", text, "here", default)
    assert repr(dim.distribution()) == expected
    assert space.parse("k", "0.3", "here") is None  # a plain value fixes the key


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("interval(1.0, 0.1)", "low must be below high"),
        ("tag(log, interval(0, 1))", "a log range needs low > 0"),
        ("interval(1,", "not a search space"),
        ("glob(*)", "use interval"),
    ],
)
def test_a_bad_range_is_refused_naming_the_key_and_where(text, said):
    with pytest.raises(ConfigError, match=f"hydra.sweeper.params: k=.*{said}"):
        space.parse("k", text, "hydra.sweeper.params")


def test_the_grid_spreads_a_log_range_in_log_space():
    dim = space.parse("k", "tag(log, interval(1e-4, 1.0))", "here")
    assert dim.grid(5) == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1, 1.0])


def test_each_option_declares_its_space_and_the_command_line_wins():
    from dltricks import config

    cfg = config.load(["optimizer=adam", "regularization=[l2,dropout]"])
    dims, fixed = space.dimensions(cfg, {"regularization.dropout.p": "0.2"}, ["optimizer.lr=0.01"])
    assert [d.key for d in dims] == [
        "optimizer.betas.0",
        "optimizer.eps",
        "regularization.l2.lambda",
    ]
    assert fixed == ["optimizer.lr=0.01", "regularization.dropout.p=0.2"]
    assert all(d.where.endswith("search space") for d in dims)


def test_every_optimizer_has_a_space_with_its_learning_rate_in_log_space():
    from dltricks import config

    for option in config.options("optimizer"):
        dims, _ = space.dimensions(config.load([f"optimizer={option}"]), {}, [])
        lr = [d for d in dims if d.key == "optimizer.lr"]
        assert lr and lr[0].log, option


# ---------------------------------------------------------------- refused before any trial


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["hydra.sweeper.params.regularization.l2.lambda=tag(log,interval(1e-6,0.1))"],
         "regularization.l2.lambda: the config has no such key; regularization=[l2] adds it"),
        (["hydra/sweeper/sampler=bayes"], "hydra/sweeper/sampler=bayes"),
        (["hydra.sweeper.pruner=asha"], "hydra.sweeper.pruner=asha: must be one of none, median"),
        (["hydra.sweeper.params.optimizer.lr=interval(1.0,0.1)"], "low must be below high"),
        (["hydra.sweeper.params.optimizer.lr=tag(log,interval(0,1))"], "a log range needs low > 0"),
        (["hydra.sweeper.params.optimizer.lr=interval(1,"], "not a search space"),
        (["optimizer.lr=interval(-1.0, 1.0)"], "optimizer.lr=-1.0: must be a number > 0"),
        (["hydra.sweeper.n_trials=0"], "hydra.sweeper.n_trials=0"),
        (["hydra/launcher=joblib", "hydra.sweeper.pruner=median", "hydra.sweeper.storage=null"],
         "in-memory study"),
    ],
)  # fmt: skip
def test_a_bad_search_exits_2_before_any_trial(tmp_path, args, said):
    proc = search(tmp_path, *args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert said in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not list((tmp_path / "s").glob("*/summary.json")) if (tmp_path / "s").exists() else True


def test_a_space_that_does_not_fit_the_shared_study_leaves_it_as_it_was(tmp_path):
    db = f"sqlite:///{tmp_path}/study.db"
    shared = [
        f"hydra.sweeper.storage={db}",
        "hydra.sweeper.study_name=x",
        "hydra.sweeper.n_trials=2",
    ]
    first = dltricks(
        "train", *SEARCH, *TINY, "optimizer=sgd", *shared, f"hydra.sweep.dir={tmp_path}/a"
    )
    assert first.returncode == 0, first.stderr
    other = "hydra.sweeper.params.optimizer.lr=tag(log,interval(1e-4,1e-2))"
    more = ["hydra.sweeper.n_trials=4", f"hydra.sweep.dir={tmp_path}/b"]
    proc = dltricks("train", *SEARCH, *TINY, "optimizer=sgd", *shared, other, *more)
    assert proc.returncode == 2 and "optimizer.lr: the study 'x' holds trials of" in proc.stderr
    trials = optuna.load_study(study_name="x", storage=db).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]  # none left RUNNING


# ---------------------------------------------------------------- a search that runs


def test_an_options_own_space_is_searched_with_nothing_else_given(tmp_path):
    proc = search(tmp_path, "optimizer=adam", "hydra.sweeper.n_trials=3")
    assert proc.returncode == 0, proc.stderr
    assert "search of 3 trials: 3 completed" in proc.stdout
    result = yaml.safe_load((tmp_path / "s" / "optimization_results.yaml").read_text())
    assert set(result["best_params"]) == {"optimizer.lr", "optimizer.betas.0", "optimizer.eps"}
    trials = study_of(tmp_path).trials
    best = min(read_summary(d)["best"]["val_err"] for d in job_dirs(tmp_path))
    assert result["best_value"] == pytest.approx(best) == min(t.value for t in trials)
    for trial, job in zip(trials, job_dirs(tmp_path), strict=True):  # each trial is its job
        assert read_summary(job)["best"]["val_err"] == pytest.approx(trial.value)
        given = read_summary(job)["overrides"]
        assert f"optimizer.lr={trial.params['optimizer.lr']!r}" in given


@pytest.mark.parametrize("sampler", ["random", "qmc", "tpe", "gp", "grid"])
def test_every_sampler_searches_and_a_seed_repeats_it(tmp_path, sampler):
    args = [f"hydra/sweeper/sampler={sampler}", "optimizer=sgd", "hydra.sweeper.n_trials=2",
            "trainer.epochs=1"]  # fmt: skip
    runs = []
    for name in ("a", "b"):
        proc = search(tmp_path / name, *args)
        assert proc.returncode == 0, proc.stderr
        runs.append([t.params for t in study_of(tmp_path / name).trials])
    assert runs[0] == runs[1] and len(runs[0]) == 2
    if sampler == "grid":  # lr at 5 log-spaced points between 1e-3 and 1
        assert {p["optimizer.lr"] for p in runs[0]} <= set(space.parse(
            "k", "tag(log, interval(1.0e-3, 1.0))", "x").grid(5))  # fmt: skip


def test_hyperband_prunes_runs_that_end_pruned_with_their_rows(tmp_path):
    args = ["optimizer=adam", "hydra.sweeper.n_trials=9", "hydra.sweeper.pruner=hyperband",
            "hydra/sweeper/sampler=random", "trainer.epochs=6"]  # fmt: skip
    proc = search(tmp_path, *args)
    assert proc.returncode == 0, proc.stderr  # a pruned run is a result
    pruned = [d for d in job_dirs(tmp_path) if read_summary(d)["status"] == "pruned"]
    assert pruned and "pruned" in proc.stdout.splitlines()[-1]
    for d in pruned:
        rows = (d / "metrics.csv").read_text().splitlines()[1:]
        assert len(rows) == read_summary(d)["epochs"] < 6
    states = {t.number: t.state.name for t in study_of(tmp_path).trials}
    assert sorted(states.values()).count("PRUNED") == len(pruned)
    report = dltricks("report", str(tmp_path / "s"), "--format", "csv")
    assert report.stdout.count(",pruned,") == len(pruned)


def test_a_search_whose_every_trial_fails_ends_with_the_tally(tmp_path):
    empty = tmp_path / "nodata"
    empty.mkdir()
    proc = search(tmp_path, "data=mnist", "hydra.sweeper.n_trials=3",
                  env={"DLTRICKS_DATA": str(empty), "no_proxy": "*"})  # fmt: skip
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "search of 3 trials: 3 failed" in proc.stdout
    assert [t.state.name for t in study_of(tmp_path).trials] == ["FAIL"] * 3
    result = yaml.safe_load((tmp_path / "s" / "optimization_results.yaml").read_text())
    assert result["best_params"] is None


def test_a_search_runs_its_trials_on_another_launcher(tmp_path):
    args = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "hydra.sweeper.n_jobs=2",
            "optimizer=sgd", "hydra.sweeper.n_trials=4", "hydra.sweeper.pruner=median"]  # fmt: skip
    proc = search(tmp_path, *args, timeout=300)
    assert proc.returncode == 0, proc.stderr
    summaries = [read_summary(d) for d in job_dirs(tmp_path)]
    assert len(summaries) == 4 and len({s["pid"] for s in summaries}) >= 2  # other processes
    reported = [t.intermediate_values for t in study_of(tmp_path).trials]
    assert all(reported)  # each job reached its trial through the journal file


# ---------------------------------------------------------------- resumable


def test_a_killed_search_rerun_continues_its_study(tmp_path):
    args = [sys.executable, "-m", "dltricks", "train", *SEARCH, "hydra.sweeper.n_trials=8",
            "trainer.epochs=6", "trainer.threads=1",
            "hydra/sweeper/sampler=random", f"hydra.sweep.dir={tmp_path / 's'}"]  # fmt: skip
    first = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while time.time() < deadline:
        done = [d for d in (tmp_path / "s").glob("[0-9]*") if _finished(d)]
        if len(done) >= 3 or first.poll() is not None:
            break
        time.sleep(0.1)
    first.send_signal(signal.SIGKILL)
    first.wait()
    before = {d.name: (d / "summary.json").read_bytes() for d in job_dirs(tmp_path) if _finished(d)}
    assert len(before) >= 3
    again = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    trials = study_of(tmp_path).trials
    died = [t for t in trials if t.user_attrs.get("died")]  # failed, and replaced
    assert all(t.state.name == "FAIL" for t in died) and len(died) <= 1
    states = [(t.number, t.state.name, t.user_attrs) for t in trials]
    assert len([t for t in trials if t.state.name == "COMPLETE"]) == 8, states  # the total
    dirs = {d.name for d in job_dirs(tmp_path)}  # numbers never reused: the dead one's kept
    assert dirs == {str(t.user_attrs["job"]) for t in trials if "run_dir" in t.user_attrs}
    assert len(dirs) == 8 + sum(1 for t in died if "run_dir" in t.user_attrs)
    for name, summary in before.items():  # none overwritten
        assert (tmp_path / "s" / name / "summary.json").read_bytes() == summary
    assert "RUNNING" not in {t.state.name for t in trials}


def _finished(job: Path) -> bool:
    try:
        return json.loads((job / "summary.json").read_text())["status"] == "completed"
    except (OSError, ValueError, KeyError):
        return False


def test_the_study_opens_with_optunas_own_reader(tmp_path):
    db = tmp_path / "study.db"
    shared = [f"hydra.sweeper.storage=sqlite:///{db}", "hydra.sweeper.study_name=mine"]
    proc = search(tmp_path, "optimizer=sgd", "hydra.sweeper.n_trials=2", *shared)
    assert proc.returncode == 0, proc.stderr
    study = optuna.load_study(study_name="mine", storage=f"sqlite:///{db}")  # optuna-dashboard's
    assert len(study.trials) == 2 and study.best_trial.value == pytest.approx(
        min(read_summary(d)["best"]["val_err"] for d in job_dirs(tmp_path))
    )
    assert all(t.user_attrs["run_dir"] for t in study.trials)
    assert os.environ.get("DLTRICKS_SEARCH_TRIAL") is None  # the job's env is the job's
