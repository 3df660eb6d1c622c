"""Looking through folders for runs and sweeps, without following a symlink: the run dirs
under a path (the report's), a sweep's job dirs (the tally's), whether a folder is a sweep,
and the first symlink in a folder (refused before a run or a sweep writes there)."""

from __future__ import annotations

import os
from pathlib import Path

from dltricks.rundir.files import RunFileError, refuse_link
from dltricks.rundir.names import CONFIG, HYDRA, METRICS, MULTIRUN, SUMMARY

MAX_SCAN = 20_000  # entries looked at for symlinks before a run or sweep starts


def refuse_links(folder: Path, depth: int) -> None:
    """RunFileError naming the first symlink in `folder`, `depth` levels down (a bounded
    number of entries: a huge folder is not walked to its end), or the first .hydra that
    is no folder (Hydra would fail to make its record there, in a traceback)."""
    todo, seen = [(Path(folder), depth)], 0
    while todo:
        here, left = todo.pop()
        try:
            entries = list(os.scandir(here))
        except (NotADirectoryError, FileNotFoundError):
            continue
        for entry in entries:
            seen += 1
            if entry.is_symlink():
                refuse_link(Path(entry.path))
            if entry.name == HYDRA and not entry.is_dir(follow_symlinks=False):
                raise RunFileError(f"{entry.path}: refused, not a folder (Hydra's record)")
            if left > 1 and entry.is_dir(follow_symlinks=False):
                todo.append((Path(entry.path), left - 1))
        if seen > MAX_SCAN:
            return


MAX_DEPTH = 32  # folders below a path looked into for runs (a sweep's job: two or three)


def walk(root: Path, depth: int = MAX_DEPTH):
    """os.walk's (folder, its folders, its files), top-down, without recursion (a folder
    nested a thousand deep is no RecursionError), `depth` levels at most, never into a
    symlinked folder; a caller may prune the folders list, as with os.walk."""
    todo = [(Path(root), depth)]
    while todo:
        here, left = todo.pop()
        try:
            entries = sorted(os.scandir(here), key=lambda e: e.name)
        except OSError:
            continue
        dirs = [e.name for e in entries if e.is_dir(follow_symlinks=False)]
        files = [e.name for e in entries if not e.is_dir(follow_symlinks=False)]
        yield here, dirs, files
        if left > 0:
            todo += [(here / d, left - 1) for d in reversed(dirs)]


def holds_run(folder: Path) -> bool:
    """Whether a run has been here: a summary, metrics or Hydra's record of a job."""
    return any(os.path.lexists(Path(folder) / f) for f in (SUMMARY, METRICS, CONFIG))


def run_dirs(paths: list[Path]) -> list[Path]:
    """Every run directory at or below `paths` (a symlinked folder is not followed): one with
    a summary.json, a metrics.csv or Hydra's .hydra/config.yaml (a job that never got to
    write anything)."""
    found: set[Path] = set()
    for root in paths:
        for here, dirs, files in walk(root):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            if SUMMARY in files or METRICS in files or os.path.lexists(here / CONFIG):
                found.add(here)
    return sorted(found)


def job_dirs(sweep_dir: Path) -> list[Path]:
    """Hydra's job dirs of a sweep (with .hydra/, not through a symlink), at any depth below
    it (hydra.sweep.subdir=a/${hydra.job.num}), none inside another."""
    found = []
    for here, dirs, _ in walk(sweep_dir):  # symlinked folders are not walked into
        job = here != Path(sweep_dir) and HYDRA in dirs
        if job:
            found.append(here)
        dirs[:] = [] if job else [d for d in dirs if d != HYDRA]  # none inside a job
    return sorted(found)


def holds_sweep(folder: Path) -> bool:
    """Whether a folder is a dltricks sweep: Hydra's multirun.yaml, or a run in it."""
    folder = Path(folder)
    if os.path.lexists(folder / MULTIRUN):
        return True
    try:
        return any(holds_run(p) for p in folder.iterdir() if p.is_dir() and not p.is_symlink())
    except OSError:
        return False
