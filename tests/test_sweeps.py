"""Sweeps on Hydra's launchers and sweepers: parallel, cluster-style, searched in log space,
tolerant of failures, resumable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml
from conftest import ROOT, dltricks, read_metrics, read_summary

from dltricks import sweep

TINY = ["trainer.epochs=1", "model.width=16"]


def jobs(sweep_dir):
    return sorted(p for p in sweep_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def test_joblib_sweep_of_4_jobs_on_2_workers(tmp_path):
    proc = dltricks(
        "train",
        "-m",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "seed=0,1,2,3",
        *TINY,
        f"hydra.sweep.dir={tmp_path}",
    )
    assert proc.returncode == 0, proc.stderr
    assert len(jobs(tmp_path)) == 4
    summaries = [read_summary(j) for j in jobs(tmp_path)]
    assert all(s["status"] == "completed" for s in summaries)
    assert "sweep of 4 jobs: 4 completed" in proc.stdout
    assert len({s["pid"] for s in summaries}) >= 2  # really in parallel workers


def test_a_presets_sweep_dir_is_where_the_sweep_goes(tmp_path):
    """experiment=X may set hydra.sweep.dir (every make target's preset does): the sweep,
    its lock and its tally line all go there, not to a timestamped dir."""
    conf = tmp_path / "conf" / "experiment"
    conf.mkdir(parents=True)
    where = tmp_path / "mine"
    (conf / "mine.yaml").write_text(
        "# @package _global_\n"
        f"hydra:\n  sweep:\n    dir: {where}\n    subdir: ${{hydra.job.override_dirname}}\n"
    )
    args = ["--config-dir", str(tmp_path / "conf"), "-m", "experiment=mine", "seed=0,1", *TINY]
    proc = dltricks("train", *args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"sweep of 2 jobs: 2 completed -> {where}" in proc.stdout
    assert [j.name.split(",")[0] for j in jobs(where)] == ["experiment=mine"] * 2
    assert not (tmp_path / "outputs").exists()


def test_submitit_local_sweep(tmp_path):
    proc = dltricks(
        "train",
        "-m",
        "hydra/launcher=submitit_local",
        "seed=0,1",
        *TINY,
        f"hydra.sweep.dir={tmp_path}",
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert [read_summary(j)["status"] for j in jobs(tmp_path)] == ["completed", "completed"]


def test_optuna_search_in_log_space_survives_failed_trials_and_writes_its_result(tmp_path):
    # model=rnn fails on image data inside the job: a failed trial, and the search goes on
    proc = dltricks(
        "train",
        "-m",
        "hydra/sweeper=search",
        "hydra.sweeper.n_trials=6",
        "hydra/sweeper/sampler=random",
        "regularization=[l2]",
        "model=mlp,rnn",
        "trainer.epochs=1",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr  # a failure
    summaries = [read_summary(j) for j in jobs(tmp_path)]
    assert len(summaries) == 6 and {s["status"] for s in summaries} == {"completed", "failed"}
    result = yaml.safe_load((tmp_path / "optimization_results.yaml").read_text())
    # the command line's choice, and the spaces of the options picked (momentum's, l2's)
    assert set(result["best_params"]) == {
        "model", "optimizer.lr", "optimizer.momentum", "regularization.l2.lambda"
    }  # fmt: skip
    assert 1e-3 <= result["best_params"]["optimizer.lr"] <= 1.0
    best = min(s["best"]["val_err"] for s in summaries if s["status"] == "completed")
    assert result["best_value"] == pytest.approx(best)  # the objective: best val error


def test_a_sweep_survives_a_raising_and_a_diverging_job(tmp_path):
    proc = dltricks(
        "train",
        "-m",
        "optimizer=sgd",
        "optimizer.lr=0.05,1e6",
        "trainer.batch_size=64,5000",
        "trainer.epochs=2",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert proc.returncode == 1  # not every job completed
    assert "sweep of 4 jobs: 1 completed, 1 diverged, 2 failed" in proc.stdout
    statuses = [read_summary(j)["status"] for j in jobs(tmp_path)]
    assert statuses == ["completed", "failed", "diverged", "failed"]
    assert "trainer.batch_size=5000" in read_summary(jobs(tmp_path)[1])["error"]
    report = dltricks("report", str(tmp_path))
    assert report.returncode == 0 and "diverged" in report.stdout


def test_bad_input_in_a_sweep_is_refused_before_any_job(tmp_path):
    proc = dltricks("train", "-m", "optimizer=adam,adamm", f"hydra.sweep.dir={tmp_path}")
    assert proc.returncode == 2 and "adamm" in proc.stderr
    assert not tmp_path.exists() or not jobs(tmp_path)


def test_rerunning_a_finished_sweep_trains_nothing(tmp_path):
    args = ["train", "-m", "seed=0,1", *TINY, f"hydra.sweep.dir={tmp_path}"]
    assert dltricks(*args).returncode == 0
    before = {j: (j / "metrics.csv").stat().st_mtime_ns for j in jobs(tmp_path)}
    again = dltricks(*args)
    assert again.returncode == 0 and again.stdout.count("already completed: skipped") == 2
    assert {j: (j / "metrics.csv").stat().st_mtime_ns for j in jobs(tmp_path)} == before


def test_the_tally_counts_this_commands_jobs_not_those_of_another_in_the_same_dir(tmp_path):
    """An experiment of several sweeps into one dir (make mnist1d_table), killed in its
    last sweep and run again: its first sweep's tally is of its own jobs, and passes."""
    killed = tmp_path / "name=other,seed=0"  # the later sweep's job, killed (kill -9)
    (killed / ".hydra").mkdir(parents=True)
    (killed / ".hydra" / "overrides.yaml").write_text("- name=other\n- seed=0\n")
    (killed / "summary.json").write_text('{"status": "running"}')
    an_hour_ago = time.time() - 3600
    os.utime(killed / ".hydra" / "overrides.yaml", (an_hour_ago, an_hour_ago))
    proc = dltricks("train", "-m", "seed=0,1", *TINY, f"hydra.sweep.dir={tmp_path}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "sweep of 2 jobs: 2 completed" in proc.stdout
    os.utime(killed / ".hydra" / "overrides.yaml")  # launched again now, still running
    assert "sweep of 3 jobs: 2 completed, 1 running" in sweep.tally_line(tmp_path, since=0)[0]


@pytest.mark.parametrize(
    "summary", ["[]", '{"status": {"a": 1}}', '{"status": "\\u001b[31mcompleted"}', "{"]
)
def test_the_tally_reads_a_jobs_summary_as_untrusted_input(tmp_path, summary):
    job = tmp_path / "0"
    (job / ".hydra").mkdir(parents=True)
    (job / "summary.json").write_text(summary)
    line, ok = sweep.tally_line(tmp_path)
    assert line == f"dltricks: sweep of 1 jobs: 1 crashed -> {tmp_path}" and not ok


def test_an_interrupted_sweep_resumes_where_it_stopped(tmp_path):
    run = [
        "data=mnist1d",
        "model.width=256",
        "model.depth=6",
        "trainer.epochs=4",
        "trainer.threads=1",
        "regularization=[dropout]",
    ]
    reference = tmp_path / "reference"
    subprocess.run(
        [sys.executable, "-m", "dltricks", "train", f"hydra.run.dir={reference}", "seed=0", *run],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    sweep_dir = tmp_path / "sweep"
    args = [
        sys.executable,
        "-m",
        "dltricks",
        "train",
        "-m",
        "seed=0,1",
        *run,
        f"hydra.sweep.dir={sweep_dir}",
    ]
    proc = subprocess.Popen(
        args,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    metrics = sweep_dir / "0" / "metrics.csv"
    while not (metrics.exists() and metrics.read_text().count("\n") >= 2):
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 143
    assert read_summary(sweep_dir / "0")["status"] == "interrupted"
    assert not (sweep_dir / "1").exists()
    again = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    cols = ["epoch", "train_loss", "val_err", "test_err"]
    assert read_metrics(sweep_dir / "0")[cols].equals(read_metrics(reference)[cols])
    assert read_summary(sweep_dir / "1")["status"] == "completed"


def test_report_works_on_a_sweep_that_is_still_running(tmp_path):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dltricks",
            "train",
            "-m",
            "seed=0,1",
            "data=mnist1d",
            "model.width=256",
            "trainer.epochs=30",
            f"hydra.sweep.dir={tmp_path}",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while not (tmp_path / "0" / "metrics.csv").exists():
            time.sleep(0.05)
        time.sleep(0.5)
        report = dltricks("report", str(tmp_path), "--format", "csv")
        assert report.returncode == 0, report.stderr
        df = pd.read_csv(__import__("io").StringIO(report.stdout))
        assert "running" in df["status"].tolist()
    finally:
        proc.kill()
        proc.wait()
