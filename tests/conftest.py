"""Shared fixtures: the real command in a subprocess, configs composed like `train` does."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from dltricks import records

ROOT = Path(__file__).resolve().parents[1]
# metrics.csv's columns compared bit for bit between a resumed and an unbroken run: all but
# the timings and grad_norm
EXACT = [c for c in records.METRIC_COLUMNS if c not in ("grad_norm", "epoch_s", "samples_per_s")]


@pytest.fixture(scope="session")
def data_root(tmp_path_factory) -> Path:
    """One data folder per test session: generated datasets (mnist1d) are cached there, and
    small fixture files in the real formats stand in for MNIST, Fashion-MNIST and CIFAR-10."""
    from fixtures import make_all

    root = tmp_path_factory.getbasetemp() / "data"
    make_all(root)
    return root


# What a run writes where it was not told to: the default output folders, MLflow's default
# store and artifact root, W&B's folder. The suite's runs write under pytest's tmp paths only.
DEFAULT_WRITES = [
    "outputs/runs",
    "outputs/sweeps",
    "outputs/mlflow.db",
    "outputs/mlartifacts",
    "mlruns",
    "wandb",
]


def _written(root: Path) -> set[str]:
    """The guarded paths that exist, and what lies in them two levels down."""
    found = set()
    for name in DEFAULT_WRITES:
        path = root / name
        if path.exists():
            found.add(name)
            if path.is_dir():
                found |= {str(p.relative_to(root)) for p in path.glob("*")}
                found |= {str(p.relative_to(root)) for p in path.glob("*/*")}
    return found


@pytest.fixture(scope="session")
def _tree_before() -> set[str]:
    return _written(ROOT)


@pytest.fixture(autouse=True)
def _user_tree_untouched(_tree_before):
    """No test writes into the checkout's outputs/ (or ./mlruns, ./wandb): the test that
    did fails, naming what appeared there."""
    yield
    made = sorted(_written(ROOT) - _tree_before)
    _tree_before.update(made)  # said once: the next test is judged on its own writes
    assert not made, f"this test wrote into the user's tree: {made[:10]}"


@pytest.fixture(autouse=True)
def _data_cache(data_root, monkeypatch):
    # never the user's home, never a download
    monkeypatch.setenv("DLTRICKS_DATA", str(data_root))


def dltricks(
    *args: str,
    cwd: Path | None = None,
    timeout: float = 300,
    env: dict | None = None,
    process: bool = False,
) -> subprocess.CompletedProcess:
    """Run the real `dltricks` command line: in this process (cli.main, its output captured:
    the same code without 3-5 s of start-up), or as `python -m dltricks` in a subprocess
    where a process of its own matters (process=True, a cwd, or a PYTHONPATH to find)."""
    if process or cwd is not None or "PYTHONPATH" in (env or {}):
        return subprocess.run(
            [sys.executable, "-m", "dltricks", *args],
            cwd=cwd or ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
        )
    return in_process(list(args), env or {})


def in_process(args: list[str], env: dict) -> subprocess.CompletedProcess:
    """cli.main(args) with stdout and stderr captured and `env` set for the call."""
    from dltricks import cli

    saved = dict(os.environ)
    os.environ.update({"OMP_NUM_THREADS": "1", **env})
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(args)
            except SystemExit as stop:
                code = stop.code if isinstance(stop.code, int) else int(stop.code is not None)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        for handler in logging.getLogger().handlers[:]:  # Hydra's file handler of that run
            handler.close()
            logging.getLogger().removeHandler(handler)
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def train_run(run_dir: Path, *overrides: str, **kw) -> subprocess.CompletedProcess:
    """`dltricks train OVERRIDES` into run_dir; fails the test with its output if it fails."""
    proc = dltricks("train", f"hydra.run.dir={run_dir}", *overrides, **kw)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def read_csv_exact(path: Path) -> pd.DataFrame:
    """A CSV with every float exactly: pandas 2's default parser is not exact, pandas 3's is
    (and deprecates asking for it)."""
    exact = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}
    return pd.read_csv(path, **exact)


def read_metrics(run_dir: Path) -> pd.DataFrame:
    """metrics.csv as written, every float exactly."""
    return read_csv_exact(run_dir / "metrics.csv")


def read_summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())
