"""Shared fixtures: the real command in a subprocess, configs composed like `train` does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _data_cache(tmp_path_factory, monkeypatch):
    # generated datasets (mnist1d) are cached once per test session, never in the user's home
    monkeypatch.setenv("DLTRICKS_DATA", str(tmp_path_factory.getbasetemp() / "data"))


def dltricks(
    *args: str, cwd: Path | None = None, timeout: float = 300, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run the real `dltricks` command line (as `python -m dltricks`) in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "dltricks", *args],
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
    )


def train_run(run_dir: Path, *overrides: str, **kw) -> subprocess.CompletedProcess:
    """`dltricks train OVERRIDES` into run_dir; fails the test with its output if it fails."""
    proc = dltricks("train", f"hydra.run.dir={run_dir}", *overrides, **kw)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def read_metrics(run_dir: Path) -> pd.DataFrame:
    return pd.read_csv(run_dir / "metrics.csv")


def read_summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())
