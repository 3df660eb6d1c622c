"""Reliability: resume bit for bit, never lose a metric, refuse bad input clearly, load
nothing unsafe."""

from __future__ import annotations

import os
import pickle
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import EXACT, ROOT, dltricks, read_metrics, read_summary, train_run

from dltricks.errors import BadFile
from dltricks.rundir import CHECKPOINT_FORMAT, RunDir

# dropout, shuffling and a schedule: every random state matters; one thread: CPU results
# depend on the thread count
RUN = [
    "data=mnist1d",
    "model.width=256",
    "model.depth=6",
    "trainer.batch_size=32",
    "trainer.epochs=6",
    "regularization=[dropout]",
    "schedule=cosine",
    "trainer.threads=1",
    "trainer.checkpoint_every=1",
]


def start(run_dir: Path, *overrides: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "dltricks", "train", f"hydra.run.dir={run_dir}", *overrides],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def wait_for_rows(run_dir: Path, n: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    path, deadline = run_dir / "metrics.csv", time.time() + timeout
    while time.time() < deadline:
        if path.exists() and path.read_text().count("\n") >= n + 1:
            return
        if proc.poll() is not None:
            raise AssertionError(f"the run ended early: {proc.stderr.read()}")
        time.sleep(0.005)
    raise AssertionError("timed out")


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> pd.DataFrame:
    run_dir = tmp_path_factory.mktemp("reference")
    train_run(run_dir, *RUN)
    return read_metrics(run_dir)


# killed after the 2nd epoch's row in make test, after the 4th in make test-all too
@pytest.mark.parametrize("rows", [2, pytest.param(4, marks=pytest.mark.slow)])
def test_kill_9_then_resume_gives_the_same_metrics_bit_for_bit(tmp_path, reference, rows):
    proc = start(tmp_path, *RUN)
    wait_for_rows(tmp_path, rows, proc)
    proc.kill()  # SIGKILL: no handler runs
    proc.wait()
    text = (tmp_path / "metrics.csv").read_text()
    assert text.endswith("\n")  # only whole rows on disk
    assert read_summary(tmp_path)["status"] == "running"  # valid JSON, never finalized
    report = dltricks("report", str(tmp_path), "--format", "csv")
    assert "interrupted" in report.stdout  # the report sees the dead process
    proc = dltricks("resume", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    resumed = read_metrics(tmp_path)
    assert resumed[EXACT].equals(reference[EXACT])
    assert read_summary(tmp_path)["status"] == "completed"


@pytest.mark.parametrize(
    ("signum", "code"),
    [  # the same handler: SIGTERM in make test, every signal in make test-all
        pytest.param(signal.SIGINT, 130, marks=pytest.mark.slow),
        (signal.SIGTERM, 143),
        pytest.param(signal.SIGUSR2, 140, marks=pytest.mark.slow),
    ],
)
def test_sigint_and_sigterm_save_a_checkpoint_and_say_interrupted(
    tmp_path, reference, signum, code
):
    overrides = [o for o in RUN if not o.startswith("trainer.checkpoint_every")]
    proc = start(tmp_path, *overrides)
    wait_for_rows(tmp_path, 1, proc)
    time.sleep(0.2)  # somewhere inside epoch 2
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "Traceback" not in err and "dltricks resume" in err
    summary = read_summary(tmp_path)
    assert summary["status"] == "interrupted"
    state = RunDir(tmp_path).load_checkpoint()
    assert state["position"]["step"] == summary["steps"] > 0
    assert dltricks("resume", str(tmp_path)).returncode == 0
    assert read_metrics(tmp_path)[EXACT].equals(reference[EXACT])
    resumed = read_summary(tmp_path)  # wall time adds up over both sessions
    assert resumed["wall_s"] > summary["wall_s"] > 0 and "wall_s_before" not in resumed


def test_resume_with_another_config_is_refused_showing_the_difference(tmp_path):
    train_run(tmp_path, "trainer.epochs=1")
    proc = dltricks("resume", str(tmp_path), "optimizer.lr=0.5")
    assert proc.returncode == 2
    assert "optimizer.lr: 0.05 -> 0.5" in proc.stderr and "Traceback" not in proc.stderr
    more = dltricks("resume", str(tmp_path), "trainer.epochs=2")  # the budget may change
    assert more.returncode == 0, more.stderr
    assert read_metrics(tmp_path)["epoch"].tolist() == [1, 2]


def test_a_tampered_checkpoint_is_refused_and_runs_nothing(tmp_path):
    sentinel = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {sentinel}",))

    with open(tmp_path / "checkpoint.pt", "wb") as f:
        pickle.dump({"format": CHECKPOINT_FORMAT, "model": Payload()}, f)
    with pytest.raises(BadFile, match="refused"):
        RunDir(tmp_path).load_checkpoint()
    assert not sentinel.exists()
    foreign, cut = tmp_path / "foreign", tmp_path / "cut"
    foreign.mkdir()
    cut.mkdir()
    torch.save({"something": torch.ones(1)}, foreign / "checkpoint.pt")
    with pytest.raises(BadFile, match="not a dltricks checkpoint"):
        RunDir(foreign).load_checkpoint()
    (cut / "checkpoint.pt").write_bytes((foreign / "checkpoint.pt").read_bytes()[:50])
    with pytest.raises(BadFile, match="refused"):
        RunDir(cut).load_checkpoint()


def test_a_failed_save_leaves_the_previous_checkpoint_loadable(tmp_path):
    run = RunDir(tmp_path)
    run.save_checkpoint({"model": {"w": torch.ones(3)}})

    class Unsaveable:
        def __reduce__(self):
            raise RuntimeError("killed mid-save")

    with pytest.raises(RuntimeError):
        run.save_checkpoint({"model": {"w": torch.zeros(1000)}, "x": Unsaveable()})
    assert torch.equal(run.load_checkpoint()["model"]["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_disk_full_gives_a_clear_error_and_keeps_the_last_checkpoint(tmp_path):
    train_run(tmp_path, "trainer.epochs=1", "model.width=256")
    before = (tmp_path / "checkpoint.pt").read_bytes()
    limit = len(before) // 2  # too small for the next checkpoint, enough for the CSV rows

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = subprocess.run(
        [sys.executable, "-m", "dltricks", "resume", str(tmp_path), "trainer.epochs=2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        preexec_fn=small_files,
    )
    assert proc.returncode == 1
    assert "cannot write" in proc.stderr and "Traceback" not in proc.stderr
    assert (tmp_path / "checkpoint.pt").read_bytes() == before
    assert read_summary(tmp_path)["status"] == "failed"


def test_four_runs_started_in_the_same_second_get_four_directories(tmp_path):
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "dltricks", "train", "trainer.epochs=1", "model.width=8"],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(4)
    ]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    runs = list((tmp_path / "outputs" / "runs").glob("*/*"))
    assert len(runs) == 4
    assert all(read_summary(r)["status"] == "completed" for r in runs)


BAD = [
    ("optimizer=adamm", "optimizer"),
    ("norm=batchnorm", "norm"),
    ("regularization=[l3]", "regularization"),
    ("optimizer.lrr=1", "optimizer.lrr"),
    ("trainer.epoch=3", "trainer.epoch"),
    ("trainer.epochs=abc", "trainer.epochs"),
    ("model.residual=maybe", "model.residual"),
    ("optimizer.lr=0", "optimizer.lr"),
    ("optimizer.lr=-1", "optimizer.lr"),
    ("regularization=[dropout] regularization.dropout.p=1.0", "regularization.dropout.p"),
    ("regularization=[dropout] regularization.dropout.p=-0.1", "regularization.dropout.p"),
    ("model.depth=1", "model.depth"),
    ("model=convnet model.depth=21", "model.depth"),
    ("trainer.batch_size=0", "trainer.batch_size"),
    ("trainer.batch_size=5000", "trainer.batch_size"),
    (
        "regularization=[early_stopping] regularization.early_stopping.patience=0",
        "regularization.early_stopping.patience",
    ),
    ("activation=maxout model.block=pre", "maxout"),
    ("model=rnn", "model=rnn"),
    ("data=mnist data.root=/nonexistent/dltricks", "/nonexistent/dltricks"),
    ("hydra.run.dir=/proc/dltricks-run", "hydra.run.dir"),
    ("trainer.resume=/nonexistent/run", "/nonexistent/run"),
    ("model._target_=os.system", "os.system"),
    ("+model._target_=builtins.open", "builtins.open"),
    ("model._target_=torch.load", "torch.load"),
    ("init.std=0", "init.std"),
    ("seed=-3", "seed"),
    ("data.train_size=-1", "data.train_size"),
    ("data.train_size=100000", "data.train_size=100000: more than"),
    ("model=rnn data=mnist1d model.readout=mean", "model.readout"),
]


@pytest.mark.parametrize(("override", "named"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_exits_2_naming_the_problem(tmp_path, override, named):
    args = override.split()
    if not any(a.startswith("hydra.run.dir") for a in args):
        args.append(f"hydra.run.dir={tmp_path}/run")
    proc = dltricks("train", *args, env={"no_proxy": "*"}, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert named in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_more_commands_refuse_bad_input(tmp_path):
    assert dltricks("resume", str(tmp_path)).returncode == 2  # no checkpoint there
    assert dltricks("report", str(tmp_path)).returncode == 2  # no runs there
    assert dltricks("schedule", "cosine", "--steps", "0").returncode == 2
