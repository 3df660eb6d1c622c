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

from dltricks import config, records, rundir
from dltricks.rundir import RunDir

FINISHED = records.RESULTS  # a result: a re-run skips the job


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


def previous(run_dir: RunDir, overrides: list[str]) -> tuple[str, dict | None]:
    """What is already in a job's dir: ("new", None), ("finished", summary) to skip,
    ("resume", summary) to continue from its checkpoint, or ("other", summary) when it holds
    a run of other overrides."""
    read = run_dir.read_summary()
    if read.problem == "missing":
        return "new", None
    summary = read.data
    if read.problem or "overrides" in read.wrong or "overrides" not in summary:
        return "other", {"overrides": ["(unreadable)"]}  # not this job's: never overwritten
    if sorted(summary["overrides"]) != sorted(overrides):
        return "other", summary
    if summary.get("status") in FINISHED:
        return "finished", summary
    if run_dir.has_checkpoint():
        return "resume", summary
    return "new", None


def checked_jobs(overrides: list[str]) -> list[list[str]]:
    """The jobs to check before a grid sweep starts: every one of them (Hydra's own keys left
    out). A search checks its space itself (dltricks.search.check)."""
    from dltricks import hydra_compat

    return hydra_compat.sweep_jobs([o for o in overrides if not config.is_hydra(o)])


def is_search(hydra: DictConfig) -> bool:
    """Whether the sweeper is dltricks' search (hydra/sweeper=search)."""
    return str(OmegaConf.select(hydra, "sweeper._target_", default="")).startswith(
        "hydra_plugins.dltricks_search."
    )


def sweeper_overrides(hydra: DictConfig, overrides: list[str]) -> list[str]:
    """A search that shares its study with other processes (a storage outside its sweep dir)
    samples from its own random stream, unless the command line seeds it: with the same seed
    every worker would ask the study for the same first trials."""
    from dltricks.search import study

    if not is_search(hydra):
        return []
    storage = OmegaConf.select(hydra, "sweeper.storage", default=None)
    where = study.local_file(storage)
    inside = where is not None and where.resolve().is_relative_to(
        Path(str(hydra.sweep.dir)).resolve()
    )
    seeded = any(o.startswith("hydra.sweeper.sampler.seed=") for o in overrides)
    has_seed = OmegaConf.select(hydra, "sweeper.sampler.seed", default=None) is not None
    if storage and not inside and has_seed and not seeded:
        return ["hydra.sweeper.sampler.seed=null"]
    return []


def threads_per_job(launcher: DictConfig) -> int | None:
    """Torch threads for one job so that parallel jobs x threads = cores (no
    oversubscription); None for sequential launchers (torch's default)."""
    n_jobs = launcher.get("n_jobs")
    if not n_jobs or n_jobs == 1:
        return None
    cores = os.cpu_count() or 1
    n_jobs = cores if n_jobs < 0 else min(n_jobs, cores)
    return max(1, cores // n_jobs)


def tally(sweep_dir: Path, since: float | None = None) -> dict[str, int]:
    """Each status's count among the sweep's jobs; with `since` (a time.time()), only the
    jobs Hydra launched since then: the jobs of this command, not those of another command
    that shares the dir (an experiment of several sweeps) and has yet to run again."""
    counts: dict[str, int] = {}
    for job in rundir.jobs(sweep_dir):  # Hydra's job dirs, not a report kept beside them
        if since is not None and not job.launched_since(since):
            continue
        status = job.read_summary().status  # None: the job never wrote its summary
        status = status if status in records.STATUSES else "crashed"  # or someone else did
        theirs = job.read_summary().data.get("overrides")
        if isinstance(theirs, list) and sorted(theirs) != sorted(job.read_overrides()):
            status = "refused"  # the dir holds another run (of other overrides): not this job's
        counts[status] = counts.get(status, 0) + 1
    return counts


def tally_line(
    sweep_dir: Path, since: float | None = None, search: bool = False
) -> tuple[str, bool]:
    """The sweep's (or search's) one-line tally, and whether every job ended with a result
    (completed, stopped early, diverged or pruned: a diverged run is a result, as for a
    single run)."""
    counts = tally(sweep_dir, since)
    total = sum(counts.values())
    if search and not counts:  # a re-run of a search that is done: its study is complete
        return (
            f"dltricks: search: no trial left (the study holds its n_trials) -> {sweep_dir}",
            True,
        )
    parts = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "none ran"
    ok = bool(counts) and all(status in FINISHED for status in counts)
    what = f"search of {total} trials" if search else f"sweep of {total} jobs"
    return f"dltricks: {what}: {parts} -> {sweep_dir}", ok
