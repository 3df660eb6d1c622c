"""`dltricks versus` (issue 32): the comparison protocol end to end on a tiny budget (the
defaults, the tuning study, the best re-run, the report); a re-run continues without
repeating a finished run; a failed tuning trial does not end it; bad input exits 2 first."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import dltricks

pytest.importorskip("optuna", reason="the search extra: pip install 'dltricks[search]'")

TINY = ["--budget", "2", "--seeds", "2", "trainer.epochs=2", "trainer.threads=1"]
PROBLEMS = ["--problems", "digits_mlp,spirals_mlp"]


def versus(out: Path, *args: str, **kw):
    return dltricks("versus", *args, "--out", str(out), **kw)


@pytest.fixture(scope="module")
def compared(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("versus") / "cmp"
    proc = versus(out, "optimizer=sgd,adam", *PROBLEMS, *TINY)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    assert "dltricks versus: optimizer=sgd,adam on 2 problems" in proc.stdout  # its report
    return out


def summaries(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("summary.json"))
    }


def test_every_phase_is_an_ordinary_sweep_in_one_folder(compared):
    plan = json.loads((compared / "plan.json").read_text())
    assert plan["options"] == ["sgd", "adam"] and plan["targets"] == {
        "digits_mlp": 0.06, "spirals_mlp": 0.05,
    }  # fmt: skip
    for problem in ("digits_mlp", "spirals_mlp"):
        for option in ("sgd", "adam"):
            here = compared / problem / option
            assert len(list((here / "default").glob("*/summary.json"))) == 2  # the seeds
            assert len(list((here / "tune").glob("*/summary.json"))) == 2  # the budget
            assert (here / "tune" / "search.journal").exists()
            rerun = [json.loads(p.read_text()) for p in (here / "rerun").glob("*/summary.json")]
            assert sorted(r["seed"] for r in rerun) == [0, 1]
            best = (here / "tune" / "optimization_results.yaml").read_text()
            lr = next(o for o in rerun[0]["overrides"] if o.startswith("optimizer.lr="))
            assert lr.split("=")[1][:6] in best  # the re-run is the study's best setting


def test_the_report_reads_the_folder_alone(compared, tmp_path):
    proc = dltricks("report", str(compared), "--format", "csv", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    df = pd.read_csv(tmp_path / "report.csv")
    assert len(df) == 4 and set(df["option"]) == {"sgd", "adam"}
    assert set(df["vs_best"]) <= {"best", "worse", "not distinguishable", "too few seeds"}
    assert (df.groupby("problem")["vs_best"].apply(lambda s: (s == "best").sum()) == 1).all()
    rerun = compared / "digits_mlp" / "sgd" / "rerun"
    errors = [json.loads(p.read_text())["final"]["test_err"] for p in rerun.glob("*/summary.json")]
    row = df[(df["problem"] == "digits_mlp") & (df["option"] == "sgd")].iloc[0]
    assert row["test_err"] == pytest.approx(sum(errors) / 2)
    profiles = pd.read_csv(tmp_path / "profiles.csv")
    assert set(profiles["option"]) == {"sgd", "adam"}
    assert (tmp_path / "profiles.png").stat().st_size > 1000
    page = dltricks("report", str(compared), "--format", "html", "--out", str(tmp_path / "h"))
    assert page.returncode == 0 and (tmp_path / "h" / "report.html").exists()


def test_a_rerun_continues_and_repeats_no_finished_run(compared):
    before = summaries(compared)
    proc = versus(compared, "optimizer=sgd,adam", *PROBLEMS, *TINY)
    assert proc.returncode == 0, proc.stderr
    assert summaries(compared) == before  # every run skipped, every study done
    assert "no trial left" in proc.stdout


def test_an_interrupted_comparison_finishes_the_rest(compared, tmp_path):
    import shutil

    partial = tmp_path / "partial"
    shutil.copytree(compared, partial)
    shutil.rmtree(partial / "spirals_mlp" / "adam" / "rerun")  # as if stopped before it
    before = summaries(partial)
    proc = versus(partial, "optimizer=sgd,adam", *PROBLEMS, *TINY)
    assert proc.returncode == 0, proc.stderr
    after = summaries(partial)
    assert {k: v for k, v in after.items() if k in before} == before
    assert len(after) == len(before) + 2  # the two seeds of the missing re-run


def test_a_changed_plan_is_refused_showing_the_difference(compared):
    proc = versus(compared, "optimizer=sgd,adam", *PROBLEMS, "--budget", "5", "--seeds", "2")
    assert proc.returncode == 2 and "budget: 2 -> 5" in proc.stderr, proc.stderr


def test_a_failed_tuning_trial_does_not_end_the_comparison(tmp_path, monkeypatch):
    from dltricks import train

    real = train.run

    def flaky(cfg, job, stop=None, **kw):  # trials above lr 0.05 fail inside their job
        if "tune" in str(job.run_dir) and cfg.optimizer.lr > 0.05:
            raise RuntimeError("a trial that fails")
        return real(cfg, job, **({"stop": stop} if stop is not None else {}))

    monkeypatch.setattr(train, "run", flaky)
    proc = versus(tmp_path / "cmp", "optimizer=sgd,momentum", "--problems", "digits_mlp",
                  "--budget", "4", "--seeds", "1", "trainer.epochs=1")  # fmt: skip
    assert "Traceback" not in proc.stderr
    statuses = [
        json.loads(p.read_text())["status"] for p in (tmp_path / "cmp").rglob("*/summary.json")
    ]
    assert "failed" in statuses and statuses.count("completed") >= 4
    assert (tmp_path / "cmp" / "digits_mlp" / "momentum" / "rerun").is_dir()


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["optimizer=sgd,activation=relu"], "activation=relu: no such option"),
        (["model=sgd,adam"], "model=sgd"),
        (["optimizer=sgd"], "two or more"),
        (["optimizer=sgd,adam", "--problems", "nope"], "--problems nope: no such problem"),
        (["optimizer=sgd,adam", "--budget", "0"], "--budget 0: must be 1 or more"),
        (["optimizer=sgd,adam", "--seeds", "0"], "--seeds 0: must be 1 or more"),
        (["optimizer=sgd,adam", "problem.target=-0.1"], "problem.target=-0.1: val_err can never"),
        (["sgd,adam"], "name one group's options"),
        (["optimizer=sgd,adam", "hydra/launcher=stacked", "hydra.launcher.max_members=abc"],
         "hydra.launcher.max_members=abc: must be an integer"),
        (["optimizer=sgd,adam", "hydra.sweep.subdir=../x"], "hydra.sweep.subdir=../x"),
    ],
)  # fmt: skip
def test_bad_input_exits_2_before_any_run(tmp_path, args, said):
    proc = versus(tmp_path / "cmp", *args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert said in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not (tmp_path / "cmp").exists()
