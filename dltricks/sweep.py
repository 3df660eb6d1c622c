"""Sweeps that survive failures and can be resumed, on Hydra's own launchers and sweepers.

- Every job's outcome is in its summary.json; nothing a job does ends the sweep (train_job
  catches it), and its return value is the objective a sweeper minimizes: the best val error.
- Re-running a sweep into the same sweep dir skips jobs whose run finished and resumes
  interrupted ones from their checkpoint (also what a requeued cluster job does).
- At the end, the command line prints one line (completed / early_stopped / diverged /
  failed ...) from `tally`, and exits with 0 when every job ended with a result, 1 when a
  job failed (so a make target fails with it).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from dltricks import config, records

FINISHED = ("completed", "early_stopped", "diverged")  # a result: a re-run skips the job


def objective(summary: dict[str, Any] | None) -> float | None:
    """What a sweeper minimizes: the best val error; 1.0 (the worst) for a diverged run; None
    for a failed one, which Optuna's sweeper records as a failed trial and goes on (a NaN would
    end the search: optuna refuses it as a value)."""
    if not summary or summary.get("status") == "failed":
        return None
    if summary.get("status") == "diverged":
        return 1.0
    best = summary.get("best") or {}
    value = best.get("val_err")
    return float(value) if isinstance(value, int | float) else None


def previous(run_dir: Path, overrides: list[str]) -> tuple[str, dict | None]:
    """What is already in a job's dir: ("new", None), ("finished", summary) to skip,
    ("resume", summary) to continue from its checkpoint, or ("other", summary) when it holds
    a run of other overrides."""
    try:
        summary = records.read_json(run_dir / records.SUMMARY)
    except (OSError, ValueError):
        return "new", None
    saved = summary.get("overrides") if isinstance(summary, dict) else None
    if not isinstance(saved, list) or not all(isinstance(o, str) for o in saved):
        return "other", {"overrides": ["(unreadable)"]}  # not this job's: never overwritten
    if sorted(saved) != sorted(overrides):
        return "other", summary
    if summary.get("status") in FINISHED:
        return "finished", summary
    if (run_dir / records.CHECKPOINT).exists():
        return "resume", summary
    return "new", None


def sweep_jobs(overrides: list[str]) -> list[list[str]]:
    """The overrides of each job of a grid sweep (Hydra's own keys left out)."""
    from dltricks import hydra_compat

    return hydra_compat.sweep_jobs([o for o in overrides if not config.is_hydra(o)])


def checked_jobs(overrides: list[str], hydra: DictConfig) -> list[list[str]]:
    """The jobs to check before a sweep starts: every job of a grid sweep; for a search
    (Optuna's hydra.sweeper.params, or interval(...) on the command line), every corner of its
    space (each range at both ends, each choice), so a bad range is refused before any job."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    job = [o for o in overrides if not config.is_hydra(o)]
    given = {config.key_of(o).lstrip("+~") for o in job}
    space = OmegaConf.select(hydra, "sweeper.params", default=None) or {}
    searched = [f"{k}={v}" for k, v in space.items() if k not in given]
    parser = OverridesParser.create()
    return sweep_jobs([_as_choices(parser.parse_override(o), o) for o in job + searched])


def _as_choices(override: Any, text: str) -> str:
    """A search range as the choice of its ends (grid sweeps and plain values unchanged)."""
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep

    value = override.value()
    if isinstance(value, IntervalSweep):
        ends = [value.start, value.end]
    elif isinstance(value, RangeSweep):
        ends = [value.start, value.stop - (value.step or 1)]
    elif isinstance(value, ChoiceSweep):
        ends = value.list
    else:
        return text
    return f"{override.get_key_element()}={','.join(_text(v) for v in ends)}"


def _text(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ",".join(_text(v) for v in value) + "]"
    return repr(value) if isinstance(value, float) else str(value)


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
    """The sweep's one-line tally, and whether every job ended with a result (completed,
    stopped early or diverged: a diverged run is a result, as for a single run)."""
    counts = tally(sweep_dir) if sweep_dir.is_dir() else {}
    total = sum(counts.values())
    parts = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "none ran"
    ok = bool(counts) and all(status in FINISHED for status in counts)
    return f"dltricks: sweep of {total} jobs: {parts} -> {sweep_dir}", ok
