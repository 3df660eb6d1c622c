"""Stopping a run cleanly: on SIGINT or SIGTERM (a cluster's preemption) the loop saves a
checkpoint at the next batch and raises Interrupted; the process then exits 128 + signal."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_LIBRARY = ContextVar("dltricks_library_call", default=False)


@contextmanager
def library_call() -> Iterator[None]:
    """A call from Python (dltricks.train...): the caller's process, whose signal handlers
    stay its own; a StopRequest entered inside installs none."""
    token = _LIBRARY.set(True)
    try:
        yield
    finally:
        _LIBRARY.reset(token)


class Interrupted(Exception):
    """A stop signal arrived: the run saved a checkpoint and stops (exit 128 + signal)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


# Ctrl-C; kill, SLURM's preemption and `scontrol requeue`; SLURM's warning before the time
# limit (submitit's --signal=USR2@signal_delay_s)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR2)


class StopRequest:
    """While active, the STOP_SIGNALS set `signum` instead of killing the process, so the
    loop can save a checkpoint at the next batch; a second SIGINT stops at once. Only the
    command line's job enters one: a library call or a test keeps its own handlers.
    `pass_on` hands the signal, once the checkpoint is saved, to the handler that was there
    before (submitit's for SIGUSR2: it requeues the job, which then resumes)."""

    def __init__(self) -> None:
        self.signum = 0
        self._old: dict[int, Any] = {}

    def _handler(self, signum: int, frame: Any) -> None:
        if self.signum == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread() and not _LIBRARY.get():
            for s in STOP_SIGNALS:
                self._old[s] = signal.signal(s, self._handler)
        return self

    def pass_on(self, signum: int) -> None:
        """Call the handler this one replaced for `signum`, if it was a Python function."""
        old = self._old.get(signum)
        if callable(old) and signum != signal.SIGINT:
            old(signum, None)

    def __exit__(self, *exc: object) -> None:
        for s, old in self._old.items():
            signal.signal(s, old)
        self._old.clear()


NEVER = StopRequest()  # never entered: its signum stays 0
