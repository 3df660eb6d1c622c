"""One writer per run dir. A run holds RUN_DIR/.lock for as long as it writes there: an
fcntl lock, which the kernel releases when its process ends however it ends, so the lock of a
killed run is stale and the next run takes it over. A second writer is refused, naming the
holder (its pid, host and start, written into the file). Within one process the lock is
re-entrant: the command line, the launch and the job take it as one hold."""

from __future__ import annotations

import fcntl
import os
import socket
import time
from pathlib import Path

from dltricks.errors import BadInput
from dltricks.rundir.files import open_fd

LOCK = ".lock"
_held: dict[Path, tuple[int, int]] = {}  # resolved dir -> (fd, holds) in this process


class Busy(BadInput):
    """Another live process writes into the dir."""


def hold(run_dir: Path, what: str = "hydra.run.dir") -> None:
    """Take the dir's lock (again, if this process has it already), or raise Busy; a
    symlinked .lock is refused (RunFileError) before anything is written through it."""
    key = Path(run_dir).resolve()
    if key in _held:
        fd, holds = _held[key]
        _held[key] = (fd, holds + 1)
        return
    key.mkdir(parents=True, exist_ok=True)
    fd = open_fd(key / LOCK, os.O_RDWR | os.O_CREAT)
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
