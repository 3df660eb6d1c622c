"""What a checkpoint holds, so that a resumed run continues bit for bit: model, optimizer
(Lookahead's slow weights and SWATS' phase included), grad scaler, early stopping's state,
the loop's position (epoch, the batch within it and that epoch's permutation), and every
random state (torch, CUDA, numpy, python, the permutation generator). And when to save one
outside the schedule: on SIGINT or SIGTERM (a cluster's preemption), at the next batch.

Everything is stored as tensors and plain containers, so the file loads with
torch.load(weights_only=True): no pickled code, no OmegaConf objects.
"""

from __future__ import annotations

import errno
import os
import pickle
import random
import signal
import threading
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from dltricks import records
from dltricks.errors import BadFile, ConfigError

if TYPE_CHECKING:
    from dltricks.build import Parts


@dataclass
class Position:
    """Where the loop is: the epoch in progress, the next batch in it, and what the run has
    accumulated so far."""

    epoch: int = 1  # the epoch in progress (1-based); epochs completed = epoch - 1
    batch: int = 0  # index of its next example in `visit`
    visit: torch.Tensor | None = None  # this epoch's order, drawn at its start
    step: int = 0
    seen: int = 0
    train_seconds: float = 0.0
    losses: torch.Tensor | None = None  # this epoch's minibatch losses so far
    best: dict | None = None  # the evaluation row with the lowest val_err
    last: dict | None = None  # the last evaluation row

    def next_epoch(self) -> None:
        self.epoch, self.batch, self.visit, self.losses = self.epoch + 1, 0, None, None

    def remember(self, row: dict[str, Any]) -> None:
        """An evaluation: the last one, and the best so far by val_err."""
        self.last = row
        if self.best is None or row["val_err"] < self.best["val_err"]:
            self.best = row


# ---------------------------------------------------------------- the file

CHECKPOINT_FORMAT = "dltricks-checkpoint/1"


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """torch.save to a temp file, fsync, rename: a crash leaves the previous checkpoint."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save({"format": CHECKPOINT_FORMAT, **state}, f)
            f.flush()
            os.fsync(f.fileno())
    except BaseException as err:
        tmp.unlink(missing_ok=True)  # the previous checkpoint stays as it was
        if isinstance(err, RuntimeError) and "pos" in str(err):  # torch's short write
            raise OSError(
                errno.EIO, "the write stopped short (disk full or a file size limit?)", str(path)
            ) from None
        raise
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint with weights_only=True (plain tensors and containers only: a pickle
    payload cannot run code), never retried without it."""
    path = Path(path)
    if not path.is_file():
        raise BadFile(f"{path}: no checkpoint there (was the run finished?)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise BadFile(f"{path}: refused, not a readable dltricks checkpoint ({first})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise BadFile(f"{path}: refused, not a dltricks checkpoint")
    return state


# ---------------------------------------------------------------- save and restore


def random_states(order_rng: torch.Generator) -> dict[str, Any]:
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "python": _python_state(random.getstate()),
        "order": order_rng.get_state(),
    }


def _python_state(state: tuple) -> list:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def set_random_states(states: dict[str, Any], order_rng: torch.Generator) -> None:
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    kind, keys, *rest = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), *rest))
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    order_rng.set_state(states["order"])


def save(p: Parts, position: Position, run_dir: Path) -> None:
    """A checkpoint of the loop at `position` (see the module docstring)."""
    state = {
        "model": p.model.state_dict(),
        "optimizer": p.optimizer.state_dict(),
        "scaler": p.scaler.state_dict(),
        "early_stopping": p.early_stopping.state_dict(),
        "average": p.average.state_dict(),
        "position": asdict(position),
        "random": random_states(p.order.rng),
        "config": p.config_yaml,
        "threads": torch.get_num_threads(),  # CPU results depend on it: a resume keeps it
    }
    save_checkpoint(run_dir / records.CHECKPOINT, state)


RESUME_KEYS = ("model", "optimizer", "scaler", "position", "random", "config")


def load_for_resume(path: Path) -> dict[str, Any]:
    """A checkpoint that holds everything a resume needs (RESUME_KEYS), or BadFile."""
    state = load_checkpoint(path)
    missing = [k for k in RESUME_KEYS if k not in state]
    if missing:
        raise BadFile(f"{path}: refused, lacks {', '.join(missing)}: not a checkpoint to resume")
    return state


def restore(p: Parts, state: dict[str, Any], path: Path) -> Position:
    """Load `state` into the parts; the position to continue from. A file that holds tensors
    of other shapes or odd types is refused naming it."""
    try:
        p.model.load_state_dict(state["model"])
        p.optimizer.load_state_dict(state["optimizer"])
        p.scaler.load_state_dict(state["scaler"])
        p.early_stopping.load_state_dict(state.get("early_stopping", {}))
        if state.get("average"):
            p.average.load_state_dict(state["average"])
        set_random_states(state["random"], p.order.rng)
        names = {f.name for f in fields(Position)}
        return Position(**{k: v for k, v in state["position"].items() if k in names})
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise BadFile(f"{path}: refused, does not fit this run ({first[:200]})") from None


def resume(p: Parts, run_dir: Path) -> Position:
    """Restore the run in `run_dir` (trainer.resume, which must be the run's own dir) from its
    checkpoint: the same config (but for the epoch budget), its rows of metrics.csv and
    layers.csv up to the checkpoint."""
    assert p.loop.resume is not None
    if p.loop.resume.resolve() != run_dir.resolve():
        raise ConfigError(
            f"trainer.resume={p.loop.resume}: a run resumes in its own dir, not {run_dir}; "
            f"use `dltricks resume {p.loop.resume}`"
        )
    path = run_dir / records.CHECKPOINT
    state = load_for_resume(path)
    check_same_config(state["config"], p.config_yaml)
    if p.loop.threads is None and isinstance(state.get("threads"), int) and state["threads"] > 0:
        torch.set_num_threads(state["threads"])  # the count the run picked: bit for bit
    position = restore(p, state, path)
    for name, columns in (
        (records.METRICS, records.METRIC_COLUMNS),
        (records.LAYERS, records.LAYER_COLUMNS),
    ):
        # rows written after the checkpoint go
        note = records.keep_rows(
            run_dir / name, lambda row: int(row["epoch"]) < position.epoch, columns
        )
        if note:
            print(f"dltricks: warning: {note}", flush=True)
    print(f"dltricks: resuming {run_dir} at epoch {position.epoch}, step {position.step}")
    return position


# Keys a resumed run may change: how long it trains, and how often it saves.
RESUMABLE_CHANGES = (
    "trainer.epochs",
    "trainer.resume",
    "trainer.checkpoint_every",
    "trainer.threads",
)


def check_same_config(saved_yaml: Any, config_yaml: str) -> None:
    """The config a checkpoint was saved with must be this run's (but for RESUMABLE_CHANGES)."""
    import yaml

    try:
        saved = yaml.safe_load(saved_yaml) if isinstance(saved_yaml, str) else None
    except yaml.YAMLError:
        saved = None
    if not isinstance(saved, dict):
        raise BadFile("the checkpoint holds no readable config: refused")
    saved = records.flatten(saved)
    now = records.flatten(yaml.safe_load(config_yaml))
    changed = [
        f"{k}: {saved.get(k)!r} -> {now.get(k)!r}"
        for k in sorted(set(saved) | set(now))
        if saved.get(k) != now.get(k) and k not in RESUMABLE_CHANGES
    ]
    if changed:
        raise ConfigError(
            "trainer.resume: the config differs from the run's (only "
            f"{', '.join(RESUMABLE_CHANGES[:1])} may change): " + "; ".join(changed)
        )


# ---------------------------------------------------------------- signals


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
        if threading.current_thread() is threading.main_thread():
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
