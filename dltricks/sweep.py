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

from omegaconf import DictConfig, ListConfig, OmegaConf

from dltricks import config, records, rundir, stores
from dltricks.errors import ConfigError, first_line
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


def is_swept(override: str) -> bool:
    """A sweep over values (a,b / range / interval / choice / glob), not one value."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        return OverridesParser.create().parse_override(override).is_sweep_override()
    except Exception:  # not an override at all: the config's checks name it
        return False


def checked_jobs(overrides: list[str], hydra: DictConfig) -> list[list[str]]:
    """The jobs to check before a sweep starts: every job of a grid sweep; for a search
    (Optuna's hydra.sweeper.params, or interval(...) on the command line), every corner of its
    space (each range at both ends, each choice), so a bad range is refused before any job."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    job = [o for o in overrides if not config.is_hydra(o)]
    given = {config.key_of(o).lstrip("+~") for o in job}
    space = OmegaConf.select(hydra, "sweeper.params", default=None) or {}
    searched = [f"{k}={v}" for k, v in space.items() if k not in given]
    from dltricks import hydra_compat

    parser = OverridesParser.create()
    return hydra_compat.sweep_jobs(
        [_as_choices(parser.parse_override(o), o) for o in job + searched]
    )


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


def sweeper_overrides(hydra: DictConfig, overrides: list[str]) -> list[str]:
    """A search that shares its Optuna study (hydra.sweeper.storage) with other processes
    samples from its own random stream, unless the command line seeds it: with the same
    seed every worker would ask the study for the same first trials."""
    shared = OmegaConf.select(hydra, "sweeper.storage", default=None)
    seeded = any(o.startswith("hydra.sweeper.sampler.seed=") for o in overrides)
    has_seed = OmegaConf.select(hydra, "sweeper.sampler.seed", default=None) is not None
    if shared and has_seed and not seeded:
        return ["hydra.sweeper.sampler.seed=null"]
    return []


def open_study(hydra: DictConfig) -> None:
    """A search that shares its Optuna study (hydra.sweeper.storage): make the storage's
    tables and the study now, before Hydra's sweeper opens them. Workers that start at the
    same moment race to make the tables (the loser's insert of alembic's version row fails);
    the loser waits a moment and opens what the winner made. A storage that cannot be
    opened is bad input, named with its URL."""
    storage = OmegaConf.select(hydra, "sweeper.storage", default=None)
    if not storage:
        return
    import random
    import time

    import optuna
    from sqlalchemy.exc import IntegrityError, OperationalError

    database = stores.sqlite_file(str(storage))
    if database:  # a file: its folder made as outputs/ is
        folder = database.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ConfigError(
                f"hydra.sweeper.storage={storage}: cannot make {folder}: {err.strerror}"
            ) from None
    direction = hydra.sweeper.direction  # minimize, or a list of them
    directions = list(direction) if isinstance(direction, ListConfig) else [direction]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for attempt in range(10):
        try:
            optuna.create_study(
                study_name=hydra.sweeper.study_name,
                storage=str(storage),
                directions=[str(d).lower() for d in directions],
                load_if_exists=True,
            )
            return
        except (IntegrityError, OperationalError, optuna.exceptions.StorageInternalError) as err:
            failure = err  # another worker is making the tables (or holds SQLite's lock)?
            if isinstance(err, OperationalError) and "locked" not in str(err):
                break  # no: a file or server that cannot be opened
            time.sleep(0.2 * (attempt + 1) + random.random() / 2)
        except Exception as err:  # a URL of no known database, a server that refuses
            failure = err
            break
    message = stores.driver_hint(str(storage), first_line(failure))
    raise ConfigError(f"hydra.sweeper.storage={storage}: cannot open the study: {message}")


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
        counts[status] = counts.get(status, 0) + 1
    return counts


def tally_line(sweep_dir: Path, since: float | None = None) -> tuple[str, bool]:
    """The sweep's one-line tally, and whether every job ended with a result (completed,
    stopped early or diverged: a diverged run is a result, as for a single run)."""
    counts = tally(sweep_dir, since)
    total = sum(counts.values())
    parts = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "none ran"
    ok = bool(counts) and all(status in FINISHED for status in counts)
    return f"dltricks: sweep of {total} jobs: {parts} -> {sweep_dir}", ok
