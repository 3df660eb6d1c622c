"""One writer per run dir. A run holds RUN_DIR/.lock for as long as it writes there: an
fcntl lock, which the kernel releases when its process ends however it ends, so the lock of a
killed run is stale and the next run takes it over. A second writer is refused, naming the
holder (its pid, host and start, written into the file)."""

from __future__ import annotations

import fcntl
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dltricks.errors import BadInput, ConfigError

LOCK = ".lock"
_held: dict[Path, tuple[int, int]] = {}  # resolved dir -> (fd, holds) in this process


class Busy(BadInput):
    """Another live process writes into the dir."""


def hold(run_dir: Path, what: str = "hydra.run.dir") -> None:
    """Take the dir's lock (again, if this process has it already), or raise Busy."""
    key = Path(run_dir).resolve()
    if key in _held:
        fd, holds = _held[key]
        _held[key] = (fd, holds + 1)
        return
    key.mkdir(parents=True, exist_ok=True)
    fd = os.open(key / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise Busy(
            f"{what}={run_dir}: another run is writing there ({holder}); wait for it to "
            "end, or pick another dir"
        ) from None
    os.ftruncate(fd, 0)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since {stamp}\n".encode())
    _held[key] = (fd, 1)


def release(run_dir: Path) -> None:
    """Give one hold back; the lock goes when the last one does."""
    key = Path(run_dir).resolve()
    fd, holds = _held.get(key, (-1, 0))
    if holds > 1:
        _held[key] = (fd, holds - 1)
    elif holds == 1:
        del _held[key]
        os.close(fd)  # closing the descriptor releases the flock


@contextmanager
def held(run_dir: Path, what: str = "hydra.run.dir") -> Iterator[None]:
    hold(run_dir, what)
    try:
        yield
    finally:
        release(run_dir)


def claim_output_dir(overrides: list[str], multirun: bool, sweep_dir: Path | None) -> Path | None:
    """The run (or sweep) dir must be writable and nobody else's: say so now, not in a
    Hydra traceback; hold its lock before Hydra writes anything there. The dir
    locked (None for a new timestamped one, which its job locks)."""
    from dltricks import records

    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    given = [o.split("=", 1)[1] for o in overrides if o.startswith(f"{key}=")]
    folder = Path(given[-1]) if given and "$" not in given[-1] else Path("outputs")
    folder = sweep_dir or folder
    name = f"{key}={folder}" if given or sweep_dir else f"the output folder {folder.resolve()}"
    try:
        if folder.exists() and not folder.is_dir():
            raise NotADirectoryError(20, "not a directory")
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".dltricks-write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as err:
        raise ConfigError(
            f"{name}: cannot write there ({err.strerror}); pick another with {key}=DIR"
        ) from None
    if not (given or sweep_dir):
        return None  # a new timestamped dir: the job locks it
    hold(folder, key)  # one writer at a time: until the run ends
    resuming = any(o.startswith("trainer.resume=") for o in overrides)
    holds_run = any((folder / f).exists() for f in (records.SUMMARY, records.METRICS))
    if given and not multirun and holds_run and not resuming:
        release(folder)
        raise ConfigError(
            f"hydra.run.dir={folder}: already holds a run; continue it with "
            f"`dltricks resume {folder}` or pick another dir"
        )
    return folder
