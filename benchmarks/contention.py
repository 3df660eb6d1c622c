"""The thread policy under contention (make bench's `threads` row): one degradation epoch
(ResNet-20 on MNIST-1D) with torch's default (one thread per core, spinning while it waits),
with one thread, with OMP_WAIT_POLICY=PASSIVE, and with dltricks' default policy
(trainer.threads=null: the cores no other process is running on now); on an idle machine,
and with one busy loop per core. Medians of interleaved repetitions."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
WORK = [
    "experiment=degradation",
    "model.depth=20",
    "model.residual=true",
    "data.load.num_samples=5000",
    "trainer.epochs=2",
]
CORES = len(os.sched_getaffinity(0))
SETTINGS = {  # name -> (overrides, environment)
    "torch's default": ([f"trainer.threads={CORES}"], {}),
    "threads=1": (["trainer.threads=1"], {}),
    "passive": ([f"trainer.threads={CORES}"], {"OMP_WAIT_POLICY": "PASSIVE"}),
    "dltricks' default": ([], {}),
}


def epoch_seconds(overrides: list[str], env: dict[str, str]) -> float:
    """The second epoch's seconds (the first one warms up)."""
    clean = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS",)}
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "dltricks",
                "train",
                *WORK,
                *overrides,
                f"hydra.run.dir={tmp}/r",
            ],
            cwd=ROOT,
            capture_output=True,
            check=True,
            env={**clean, **env},
        )
        return float(pd.read_csv(Path(tmp) / "r" / "metrics.csv")["epoch_s"].iloc[-1])


def busy_loops(n: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def measure(repeats: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in SETTINGS}
    for _ in range(repeats):  # interleaved: the machine's noise hits every setting alike
        for name, (overrides, env) in SETTINGS.items():
            times[name].append(epoch_seconds(overrides, env))
    return {name: statistics.median(t) for name, t in times.items()}


def threads(repeats: int = 3) -> dict:
    idle = measure(repeats)
    loops = busy_loops(CORES)
    try:
        busy = measure(repeats)
    finally:
        for p in loops:
            p.kill()
            p.wait()
    best_idle = min(idle.values())
    rows = [
        {
            "benchmark": "threads, busy machine: dltricks' default vs threads=1 (epoch s)",
            "value": busy["dltricks' default"],
            "reference": busy["threads=1"],
            "ratio": busy["dltricks' default"] / busy["threads=1"],
            "goal": "<= 1.3",
        },
        {
            "benchmark": "threads, idle machine: dltricks' default vs the best setting (epoch s)",
            "value": idle["dltricks' default"],
            "reference": best_idle,
            "ratio": idle["dltricks' default"] / best_idle,
            "goal": "<= 1.05",
        },
    ]
    for name in ("torch's default", "passive"):
        rows.append(
            {
                "benchmark": f"threads, busy machine: {name} vs threads=1 (epoch s)",
                "value": busy[name],
                "reference": busy["threads=1"],
                "ratio": busy[name] / busy["threads=1"],
                "goal": "(measured)",
            }
        )
    return {"rows": rows, "idle": idle, "busy": busy}
