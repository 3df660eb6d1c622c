"""Sweeps that survive failures and can be resumed, on Hydra's own launchers and sweepers.

- Every job's outcome is in its summary.json; nothing a job does ends the sweep (train_job
  catches it), and its return value is the objective a sweeper minimizes: the best val error.
- Re-running a sweep into the same sweep dir skips jobs whose run finished and resumes
  interrupted ones from their checkpoint (also what a requeued cluster job does).
- At the end, the command line prints one line (completed / early_stopped / diverged /
  failed ...) from `tally`, and exits with 0 only when every job completed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from dltricks import records

FINISHED = ("completed", "early_stopped", "diverged")
OK = ("completed", "early_stopped")


def objective(summary: dict[str, Any] | None) -> float:
    """What a sweeper minimizes: the best val error; 1.0 (the worst) for a diverged run, NaN
    (a failed trial) when there is no result."""
    if not summary or summary.get("status") == "failed":
        return float("nan")
    if summary.get("status") == "diverged":
        return 1.0
    best = summary.get("best") or {}
    return float(best.get("val_err", float("nan")))


def previous(run_dir: Path, overrides: list[str]) -> tuple[str, dict | None]:
    """What is already in a job's dir: ("new", None), ("finished", summary) to skip,
    ("resume", summary) to continue from its checkpoint, or ("other", summary) when it holds
    a run of other overrides."""
    try:
        summary = records.read_json(run_dir / records.SUMMARY)
    except (OSError, ValueError):
        return "new", None
    if sorted(summary.get("overrides", [])) != sorted(overrides):
        return "other", summary
    if summary.get("status") in FINISHED:
        return "finished", summary
    if (run_dir / records.CHECKPOINT).exists():
        return "resume", summary
    return "new", None


def threads_per_job(launcher: DictConfig) -> int | None:
    """Torch threads for one job so that parallel jobs x threads = cores (no
    oversubscription); None for sequential launchers (torch's default)."""
    n_jobs = launcher.get("n_jobs")
    if not n_jobs or n_jobs == 1:
        return None
    cores = os.cpu_count() or 1
    n_jobs = cores if n_jobs < 0 else min(n_jobs, cores)
    return max(1, cores // n_jobs)


def tally(sweep_dir: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    # Hydra's job dirs (with .hydra/), not a report or a pretraining run kept beside them
    for job in sorted(p for p in sweep_dir.iterdir() if (p / ".hydra").is_dir()):
        try:
            status = records.read_json(job / records.SUMMARY).get("status", "crashed")
        except (OSError, ValueError):
            status = "crashed"  # Hydra made the dir, the job never wrote its summary
        counts[status] = counts.get(status, 0) + 1
    return counts


def tally_line(sweep_dir: Path) -> tuple[str, bool]:
    """The sweep's one-line tally, and whether every job completed (or stopped early)."""
    counts = tally(sweep_dir) if sweep_dir.is_dir() else {}
    total = sum(counts.values())
    parts = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "none ran"
    ok = bool(counts) and all(status in OK for status in counts)
    return f"dltricks: sweep of {total} jobs: {parts} -> {sweep_dir}", ok
