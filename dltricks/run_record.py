"""summary.json over a run's life (DESIGN.md section 2): written when the run starts (status
running, with the pid and host that let the report tell a killed run from a live one) and
when it ends, however it ends: completed, early_stopped or diverged as the loop says,
interrupted by a signal, or failed with the error. The loop itself only says which."""

from __future__ import annotations

import os
import platform
import re
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from dltricks import __version__, console, records
from dltricks.errors import BadFile, say
from dltricks.rundir import RunDir
from dltricks.search.trial import NoTrial
from dltricks.signals import Interrupted

if TYPE_CHECKING:
    from dltricks.build import Parts
    from dltricks.position import Position


@dataclass
class Job:
    """Where a run writes, and how it was asked for (from Hydra's runtime config)."""

    run_dir: Path
    choices: dict[str, Any] = field(default_factory=dict)
    overrides: list[str] = field(default_factory=list)
    trial: Any = field(default_factory=NoTrial)  # a search's trial: reported to, may prune

    @property
    def dir(self) -> RunDir:
        return RunDir(self.run_dir)


def started(job: Job) -> dict[str, Any]:
    """What a summary says before the first epoch: how the run was asked for."""
    return {
        "status": "running",
        "epochs": 0,
        "steps": 0,
        "final": None,
        "best": None,
        "choices": job.choices,
        "overrides": job.overrides,
    }


def new_summary(job: Job, facts: dict[str, Any]) -> dict[str, Any]:
    """The summary of a run about to start: how it was asked for, and what was built."""
    return {
        **started(job),
        **facts,
        "name": facts.get("name") or " ".join(job.overrides) or "default",
        "wall_s": 0.0,
        "samples_per_s": None,
        "versions": versions(),
    }


def scheduler_job() -> dict[str, str]:
    """The SLURM job this run is (as squeue, sacct and scontrol name it: 12_0 for a task of
    an array), so a sweep's job dir leads to its cluster job; {} outside SLURM."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    job = f"{array}_{task}" if array and task else os.environ.get("SLURM_JOB_ID")
    return {"slurm_job": job} if job else {}


def versions() -> dict[str, str]:
    import hydra
    import numpy
    import torch

    return {
        "dltricks": __version__,
        "torch": torch.__version__,
        "hydra": hydra.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
    }


class RunRecord:
    """`with RunRecord(job, parts, position, start) as record:` around the loop. Inside, the
    loop sets `record.status` (diverged, early_stopped) and calls `record.end(...)` with the
    final metrics; on the way out the summary is written, whatever ended the run."""

    def __init__(
        self, job: Job, p: Parts, position: Position, start: float, columns: list[str], **extra: Any
    ) -> None:
        self.job, self.position, self.start = job, position, start
        self.dir = job.dir
        self.metrics = self.dir.metrics_writer(columns, fresh=not p.loop.resume)
        self.trackers, self.resume_step = p.trackers, position.step if p.loop.resume else None
        self.params = _params(p.flat_config, job.choices)
        self.status = "completed"
        self.final: dict[str, Any] | None = None
        self.summary = self._earlier(p.facts) if p.loop.resume else new_summary(job, p.facts)
        self.wall_before = float(self.summary.get("wall_s") or 0.0)  # earlier sessions
        self.summary.update(extra, status="running", pid=os.getpid(), host=socket.gethostname())
        self.summary.update(scheduler_job())
        if p.loop.resume:
            resumed = {"epoch": position.epoch, "batch": position.batch, "step": position.step}
            self.summary.setdefault("resumed", []).append(resumed)
        self.intro = (
            f"dltricks: {p.data.name} ({len(p.data.train)}/{len(p.data.val)}/"
            f"{len(p.data.test)}), {self.summary.get('params', 0):,} parameters, "
            f"{p.device}, {p.total_steps:,} steps -> {job.run_dir}"
        )

    def _earlier(self, facts: dict[str, Any]) -> dict[str, Any]:
        """A resumed run's summary (someone else may have written it: a field not of its
        type is left out, named); a fresh one if it is unreadable."""
        earlier = self.dir.read_summary()
        if earlier.problem:
            return new_summary(self.job, facts)
        if earlier.wrong:
            print(
                f"dltricks: warning: {self.dir.path}: summary.json: left out "
                f"{', '.join(earlier.wrong)} (not of its type)"
            )
        return earlier.data

    def __enter__(self) -> RunRecord:
        self.summary["setup_s"] = time.perf_counter() - self.start  # before step 1
        started = self.trackers.start(self.dir, self.summary, self.params, self.resume_step)
        if started:
            self.summary["trackers"] = {**(self.summary.get("trackers") or {}), **started}
        self.dir.write_summary(self.summary)
        print(self.intro, flush=True)
        tricks, choices = self.summary.get("tricks") or {}, self.summary.get("choices") or {}
        for trick in (t for t, n in tricks.items() if n == 0 and t != "weight_layers"):
            picked = f"{trick}={choices.get(trick, '...')}"
            print(f"dltricks: note: the model makes no {trick} layer: {picked} has no effect")
        return self

    def write(self, row: dict[str, Any]) -> None:
        """An evaluation: a row of metrics.csv (flushed, synced), and to the trackers."""
        self.metrics.write(row)
        self.metrics.sync()
        self.trackers.log(row, row["step"])

    def layers(self, rows: list[dict[str, Any]]) -> None:
        """The probes' per-layer rows (already in layers.csv), to the trackers."""
        self.trackers.layers(rows)

    def end(self, final: dict[str, Any] | None, **results: Any) -> None:
        """The run trained to its end: its final metrics and what else it measured."""
        self.final = final
        self.summary.update(results)

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        at = self.position
        if kind is not None and issubclass(kind, Interrupted | KeyboardInterrupt):
            self.status = "interrupted"
        elif err is not None:
            self.status = "failed"
            self.summary["error"] = f"{type(err).__name__}: {err}"
        final = self.final if err is None else at.last
        self.summary.update(
            status=self.status,
            epochs=at.epoch - 1,
            steps=at.step,
            final=final and {k: final[k] for k in records.EVALUATED},
            best=at.best and {k: at.best[k] for k in records.BEST},
            wall_s=self.wall_before + time.perf_counter() - self.start,
            train_s=at.train_seconds,  # its updates alone (a stacked group's: shared)
            samples_per_s=at.seen / max(at.train_seconds, 1e-9),
        )
        self.metrics.close()
        try:  # a full disk must not hide the error that ended the run
            self.dir.write_summary(self.summary)
        except OSError as write_err:
            say(f"cannot write the summary into {self.dir}: {write_err.strerror}")
        self.trackers.finish(self.summary, self.dir)
        if err is None:
            print(console.result_line(self.summary, self.job.run_dir), flush=True)


def _params(flat_config: dict[str, Any], choices: dict[str, Any]) -> dict[str, Any]:
    """What a tracker records as the run's parameters: the options picked, every key."""
    picked = {f"option.{g}": "+".join(v) if isinstance(v, list) else v for g, v in choices.items()}
    return {**picked, **flat_config}


def record_failure(job: Job, error: str, overwrite: bool = True) -> None:
    """A run that failed outside the loop: summary.json says so (the report lists it).
    overwrite=False keeps an error the loop already recorded."""
    earlier = job.dir.read_summary()
    summary = started(job) if earlier.problem else earlier.data
    if not overwrite and summary.get("status") == "failed":
        return
    summary.update(status="failed", error=error)
    try:
        job.run_dir.mkdir(parents=True, exist_ok=True)
        job.dir.write_summary(summary)
    except OSError as err:
        print(f"dltricks: cannot record the failure in {job.dir}: {err.strerror}", file=sys.stderr)


def saved_overrides(run_dir: RunDir) -> list[str]:
    """The overrides `dltricks resume` replays, from the run's summary.json: only the run's
    own config keys. The file is untrusted input (a run dir may come from anyone): Hydra's
    keys (hydra.callbacks could instantiate anything), trainer.resume and interpolations that
    reach outside the config (${oc.env:...}) are refused, never replayed."""
    summary = run_dir.read_summary()
    where = f"{run_dir}: summary.json"
    if summary.problem:
        raise BadFile(f"{where}: {summary.problem} (not a dltricks run dir?)")
    if "overrides" in summary.wrong or "overrides" not in summary.data:
        raise BadFile(f"{where}: refused, `overrides` is not a list of strings")
    overrides = summary.data["overrides"]
    for override in overrides:
        key = override.split("=", 1)[0].lstrip("+~")
        foreign = key.startswith(("hydra.", "hydra/")) or key == "trainer.resume"
        if foreign or re.search(r"\$\{[^}]*:", override):
            raise BadFile(
                f"{where}: refused to replay {override!r}: a run's overrides set only its own "
                "config keys (was the file edited?)"
            )
    return overrides
