"""The run directory and every file in it: their names and paths, the one bounded untrusted
read of each (summary.json, metrics.csv, layers.csv, checkpoint.pt, .hydra/), the atomic
writes, the re-entrant lock, "does this dir hold a run", and symlinks refused. Train, resume,
sweeps, launchers, the report, ensemble and transfer go through RunDir; no other module joins
a run file's name to a path (tests/test_layout.py checks it).

A run dir may come from anyone (a shared folder, a colleague's archive): nothing read here is
trusted, nothing written here goes through a symlink out of the dir. This package imports no
torch at its top (the report reads run dirs): the checkpoint's reader imports it when called.
"""

from __future__ import annotations

import array
import os
from pathlib import Path
from typing import Any

from dltricks import records
from dltricks.errors import BadFile, first_line
from dltricks.rundir import lock, scan, torchfile
from dltricks.rundir.comparison import phase_dir, read_plan, read_search_results, write_plan
from dltricks.rundir.files import (
    MAX_JSON,
    RunFileError,
    read_bytes,
    read_yaml,
    refuse_link,
    remove_files,
    write_atomic,
    write_json_atomic,
)
from dltricks.rundir.names import (
    CHECKPOINT,
    CHECKPOINT_FORMAT,
    CONFIG,
    HYDRA,
    HYDRA_YAML,
    LAYERS,
    LOG,
    METRICS,
    OUTPUTS,
    OVERRIDES,
    SUMMARY,
)
from dltricks.rundir.summary import Summary, summary_of
from dltricks.rundir.tables import MetricsWriter, keep_rows, read_columns

Busy = lock.Busy

__all__ = [
    "CHECKPOINT_FORMAT",
    "OUTPUTS",
    "Busy",
    "MetricsWriter",
    "RunDir",
    "RunFileError",
    "Summary",
    "find_runs",
    "holds_sweep",
    "jobs",
    "phase_dir",
    "read_plan",
    "read_search_results",
    "write_plan",
]


class RunDir:
    """A run's directory (it need not exist yet)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def __str__(self) -> str:
        return str(self.path)

    def file(self, name: str) -> Path:
        """The path of a run file (or folder: `.hydra`, `tensorboard`); RunFileError if it,
        or a folder on the way to it inside the run dir, is a symlink."""
        path = self.path
        for part in Path(name).parts:
            path = path / part
            refuse_link(path)
        return path

    def exists(self, name: str) -> bool:
        return os.path.lexists(self.path / name)

    # ------------------------------------------------------------ summary.json

    def read_summary(self) -> Summary:
        """summary.json read as untrusted input (rundir/summary.py)."""
        if not self.exists(SUMMARY):
            return Summary(problem="missing")
        try:
            return summary_of(self.file(SUMMARY))
        except RunFileError as err:  # a link
            return Summary(problem=str(err).removeprefix(f"{self.path / SUMMARY}: "))

    def write_summary(self, summary: dict[str, Any]) -> None:
        write_json_atomic(self.file(SUMMARY), summary)

    def holds_run(self) -> bool:
        """Whether a run has been here: a summary, metrics or Hydra's record of a job."""
        return scan.holds_run(self.path)

    def started(self) -> bool:
        """Whether a run started training here (a summary or metrics: `dltricks resume`)."""
        return self.exists(SUMMARY) or self.exists(METRICS)

    def is_empty(self) -> bool:
        """Nothing in the dir but a lock (a run refused before it started leaves one)."""
        try:
            return all(entry == lock.LOCK for entry in os.listdir(self.path))
        except OSError:
            return False

    # ------------------------------------------------------------ metrics.csv, layers.csv

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS

    def metrics_writer(self, columns: list[str], fresh: bool) -> MetricsWriter:
        return MetricsWriter(self.file(METRICS), columns, fresh=fresh)

    def layers_writer(self, fresh: bool) -> MetricsWriter:
        return MetricsWriter(self.file(LAYERS), records.LAYER_COLUMNS, fresh=fresh)

    def read_metrics(
        self, wanted: tuple[str, ...] | list[str] | None = None
    ) -> tuple[dict[str, array.array], list[str]]:
        """metrics.csv as columns of floats (nan for an empty cell), only the `wanted` ones
        (all if None): 8 bytes a cell asked for, however large the file; and what was wrong
        with it, as warnings (a missing file is none)."""
        return self._columns(METRICS, wanted)

    def read_layers(
        self, wanted: tuple[str, ...] | list[str] | None = None
    ) -> tuple[dict[str, array.array], list[str]]:
        """layers.csv as read_metrics reads metrics.csv (`kind` and `layer` are text: nan)."""
        return self._columns(LAYERS, wanted)

    def _columns(
        self, name: str, wanted: tuple[str, ...] | list[str] | None
    ) -> tuple[dict[str, array.array], list[str]]:
        if not self.exists(name):
            return {}, []
        try:
            return read_columns(self.file(name), wanted)
        except (RunFileError, OSError) as err:
            return {}, [f"{name}: {first_line(err)}"]

    def trim_after(self, epoch: int) -> list[str]:
        """A resume: metrics.csv's and layers.csv's rows of epochs from `epoch` on go (they
        were written after the checkpoint); a file of someone else's is moved aside."""
        notes = []
        for name, columns in ((METRICS, records.METRIC_COLUMNS), (LAYERS, records.LAYER_COLUMNS)):
            note = keep_rows(self.file(name), lambda row: int(row["epoch"]) < epoch, columns)
            if note:
                notes.append(note)
        return notes

    # ------------------------------------------------------------ Hydra's record

    def read_config(self) -> tuple[dict[str, Any], str | None]:
        """.hydra/config.yaml flattened (model.depth: 20), and why it could not be read
        ({} and None when it is missing)."""
        value, problem = self._yaml(CONFIG)
        return (records.flatten(value) if isinstance(value, dict) else {}), problem

    def read_overrides(self) -> list[str]:
        value, _ = self._yaml(OVERRIDES)
        return [str(o) for o in value] if isinstance(value, list) else []

    def _yaml(self, name: str) -> tuple[Any, str | None]:
        if not self.exists(name):
            return None, None
        try:
            return read_yaml(self.file(name)), None
        except (RunFileError, OSError) as err:
            return None, f"{name}: {str(err).removeprefix(str(self.path / name) + ': ')}"

    def artifacts(self) -> list[tuple[Path, bool]]:
        """What a tracker archives of the run, (path, is a folder): summary.json, metrics.csv
        and Hydra's record .hydra/, those that are there (and no symlink)."""
        self.refuse_links()
        return [
            (self.path / name, name == HYDRA)
            for name in (SUMMARY, METRICS, HYDRA)
            if self.exists(name)
        ]

    def hydra_record(self) -> dict[str, bytes | None]:
        """What Hydra writes into a run dir as a run starts (.hydra/*.yaml, train.log), as it
        is now: restore_hydra_record puts it back after a refused resume."""
        saved: dict[str, bytes | None] = {}
        for name in (CONFIG, OVERRIDES, HYDRA_YAML, LOG):
            saved[name] = read_bytes(self.file(name), MAX_JSON) if self.exists(name) else None
        return saved

    def restore_hydra_record(self, saved: dict[str, bytes | None]) -> None:
        for name, data in saved.items():
            if data is None:
                if self.exists(name):
                    self.file(name).unlink()
            else:
                write_atomic(self.file(name), lambda f, data=data: f.write(data))

    def launched_since(self, since: float) -> bool:
        """Hydra writes a job's .hydra/overrides.yaml as it launches the job, skipped or not.
        A second of slack for the clock of the machine that ran it."""
        try:
            return os.lstat(self.path / OVERRIDES).st_mtime >= since - 1.0
        except OSError:
            return True  # launched, but its record is broken: the tally shows it

    # ------------------------------------------------------------ checkpoint.pt

    @property
    def checkpoint_path(self) -> Path:
        return self.path / CHECKPOINT

    def withdraw(self) -> None:
        """A run refused for bad input before it trained: the files its start wrote go
        (Hydra's record, the log, the lock, a summary), then the dir if that empties it, so
        that no `failed` run is left for the report; nothing else in it is touched."""
        if not (self.exists(METRICS) or self.has_checkpoint()):  # trained: its record stays
            remove_files(self.path, [SUMMARY, CONFIG, OVERRIDES, HYDRA_YAML, LOG, lock.LOCK])

    def has_checkpoint(self) -> bool:
        return self.exists(CHECKPOINT)

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        """torch.save to a temp file, fsync, rename: a crash leaves the previous checkpoint."""
        torchfile.save(self.file(CHECKPOINT), {"format": CHECKPOINT_FORMAT, **state})

    def load_checkpoint(self, require: tuple[str, ...] = ()) -> dict[str, Any]:
        """checkpoint.pt read with weights_only=True (plain tensors and containers: a pickle
        payload cannot run code), never retried without it; BadFile if it is missing, a
        symlink, not a dltricks checkpoint, or lacks one of the `require`d entries."""
        path = self.checkpoint_path
        if not self.exists(CHECKPOINT):
            raise BadFile(f"{path}: no checkpoint there (was the run finished?)")
        state = torchfile.load(self.file(CHECKPOINT))
        if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
            raise BadFile(f"{path}: refused, not a dltricks checkpoint")
        missing = [k for k in require if k not in state]
        if missing:
            raise BadFile(
                f"{path}: refused, lacks {', '.join(missing)}: not a checkpoint to resume"
            )
        return state

    # ------------------------------------------------------------ the lock

    def hold(self, what: str = "hydra.run.dir") -> None:
        """One writer at a time: take the dir's lock (re-entrant in this process), or Busy."""
        lock.hold(self.path, what)

    def release(self) -> None:
        lock.release(self.path)

    # ------------------------------------------------------------ before anything is written

    def refuse_links(self, depth: int = 2) -> None:
        """RunFileError naming the first symlink at or below the dir, `depth` levels down: a
        run never makes one, and Hydra and the trackers would write through it."""
        scan.refuse_links(self.path, depth)


def find_runs(paths: list[Path]) -> list[RunDir]:
    """Every run directory at or below `paths` (scan.run_dirs)."""
    return [RunDir(p) for p in scan.run_dirs(paths)]


def jobs(sweep_dir: Path) -> list[RunDir]:
    """Hydra's job dirs of a sweep (with .hydra/), not a report or a pretraining run beside."""
    return [RunDir(p) for p in scan.job_dirs(sweep_dir)]


def is_record_dir(output_subdir: Any) -> bool:
    """Whether Hydra's `hydra.output_subdir` puts a job's record where dltricks reads it."""
    return output_subdir == HYDRA


holds_sweep = scan.holds_sweep
