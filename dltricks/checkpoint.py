"""What a checkpoint holds, so that a resumed run continues bit for bit: model, optimizer
(Lookahead's slow weights and SWATS' phase included), grad scaler, early stopping's state,
the loop's position (position.Position: epoch, the batch within it and that epoch's
permutation), and every random state (torch, CUDA, numpy, python, the permutation
generator). The file itself (atomic writes, weights_only reads) is rundir's.

Everything is stored as tensors and plain containers, so the file loads with
torch.load(weights_only=True): no pickled code, no OmegaConf objects.
"""

from __future__ import annotations

import random
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from dltricks import records
from dltricks.errors import BadFile, ConfigError, first_line
from dltricks.records import is_int
from dltricks.rundir import RunDir

if TYPE_CHECKING:
    from dltricks.build import Parts
    from dltricks.position import Position


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
        # a checkpoint of a machine with more GPUs resumes on one with fewer: the devices
        # both have get their streams (a run computes on one of them)
        for index, state in enumerate(states["cuda"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(state, index)
    kind, keys, *rest = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), *rest))
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    order_rng.set_state(states["order"])


def save(p: Parts, position: Position, run_dir: RunDir) -> None:
    """A checkpoint of the loop at `position` (see the module docstring)."""
    import yaml

    state = {
        "model": p.model.state_dict(),
        "optimizer": p.optimizer.state_dict(),
        "scaler": p.scaler.state_dict(),
        "early_stopping": p.early_stopping.state_dict(),
        "average": p.average.state_dict(),
        "position": asdict(position),
        "random": random_states(p.order.rng),
        "config": yaml.safe_dump(p.config, sort_keys=False),
        "threads": torch.get_num_threads(),  # CPU results depend on it: a resume keeps it
    }
    run_dir.save_checkpoint(compact(state))


def compact(value: Any) -> Any:
    """`value` with every tensor that views a larger storage copied (a stacked member's
    weights view the group's: torch.save would write the whole storage)."""
    if isinstance(value, torch.Tensor):
        whole = value.untyped_storage().nbytes()
        return value.clone() if whole > value.numel() * value.element_size() else value
    if isinstance(value, dict):
        return {k: compact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(compact(v) for v in value)
    return value


RESUME_KEYS = ("model", "optimizer", "scaler", "position", "random", "config")


def load_for_resume(run_dir: RunDir) -> dict[str, Any]:
    """A checkpoint that holds everything a resume needs (RESUME_KEYS), or BadFile."""
    return run_dir.load_checkpoint(require=RESUME_KEYS)


# ---------------------------------------------------------------- the schema
# A checkpoint may come from anyone: each field is checked (type, shape, dtype, range)
# before anything is loaded, and one that is off is refused naming it (exit 2, the run's
# files as they were). position.Position checks its own fields.


def check(state: dict[str, Any], p: Parts, run_dir: RunDir) -> None:
    """BadFile naming the first field of `state` that does not fit this run."""
    where = f"{run_dir.checkpoint_path}: refused"
    for field, what in (("config", str), ("random", dict), ("position", dict)):
        if not isinstance(state.get(field), what):
            raise BadFile(f"{where}, {field} is not a {what.__name__}")
    threads = state.get("threads")
    if threads is not None and not (is_int(threads) and threads > 0):
        raise BadFile(f"{where}, threads is not an integer > 0")
    expected = p.model.state_dict()
    _weights(state["model"], expected, "model", where)
    stopping = state.get("early_stopping") or {}
    if stopping.get("best_state") is not None:
        _weights(stopping["best_state"], expected, "early_stopping.best_state", where)
    _random(state["random"], where)


def _weights(saved: Any, expected: dict[str, torch.Tensor], field: str, where: str) -> None:
    """The same tensors as the model's: names, shapes and dtypes (load_state_dict would cast
    int64 or complex weights silently)."""
    if not isinstance(saved, dict) or set(saved) != set(expected):
        raise BadFile(f"{where}, {field} does not hold this model's weights")
    for name, want in expected.items():
        got = saved[name]
        if not isinstance(got, torch.Tensor) or got.shape != want.shape or got.dtype != want.dtype:
            shown = (
                f"{got.dtype} {tuple(got.shape)}" if isinstance(got, torch.Tensor) else "no tensor"
            )
            raise BadFile(
                f"{where}, {field}.{name} is {shown}, not {want.dtype} {tuple(want.shape)}"
            )


def _random(states: dict[str, Any], where: str) -> None:
    """Every random state as random_states() writes it."""

    def need(ok: bool, field: str, what: str) -> None:
        if not ok:
            raise BadFile(f"{where}, random.{field} is not {what}")

    def byte_state(value: Any, like: torch.Tensor) -> bool:
        return (
            isinstance(value, torch.Tensor)
            and value.dtype == torch.uint8
            and value.shape == like.shape
        )

    need(byte_state(states.get("torch"), torch.get_rng_state()), "torch", "a CPU generator's state")
    need(
        byte_state(states.get("order"), torch.Generator().get_state()),
        "order",
        "a generator's state",
    )
    cuda = states.get("cuda")
    need(
        isinstance(cuda, list)
        and all(isinstance(c, torch.Tensor) and c.dtype == torch.uint8 for c in cuda),
        "cuda",
        "a list of CUDA generators' states",
    )
    numpy = states.get("numpy")
    need(
        isinstance(numpy, list)
        and len(numpy) == 5
        and numpy[0] == "MT19937"
        and isinstance(numpy[1], torch.Tensor)
        and numpy[1].shape == (624,)
        and numpy[1].dtype == torch.int64
        and bool(((numpy[1] >= 0) & (numpy[1] < 2**32)).all())
        and is_int(numpy[2])
        and 0 <= numpy[2] <= 624
        and is_int(numpy[3])
        and isinstance(numpy[4], float),
        "numpy",
        "a Mersenne Twister's state",
    )
    python = states.get("python")
    need(
        isinstance(python, list)
        and len(python) == 3
        and is_int(python[0])
        and isinstance(python[1], list)
        and len(python[1]) == 625
        and all(is_int(v) and 0 <= v < 2**32 for v in python[1])
        and python[1][-1] <= 624
        and (python[2] is None or isinstance(python[2], float)),
        "python",
        "Python's random state",
    )


def restore(p: Parts, state: dict[str, Any], run_dir: RunDir) -> None:
    """Load `state` into the parts. A file that holds tensors of other shapes or odd types is
    refused naming it."""
    try:
        p.model.load_state_dict(state["model"])
        p.optimizer.load_state_dict(state["optimizer"])
        p.scaler.load_state_dict(state["scaler"])
        p.early_stopping.load_state_dict(state.get("early_stopping", {}))
        if state.get("average"):
            p.average.load_state_dict(state["average"])
        set_random_states(state["random"], p.order.rng)
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as err:
        raise BadFile(
            f"{run_dir.checkpoint_path}: refused, does not fit this run ({first_line(err)})"
        ) from None


# Keys a resumed run may change: how long it trains, and how often it saves.
RESUMABLE_CHANGES = (
    "trainer.epochs",
    "trainer.resume",
    "trainer.checkpoint_every",
    "trainer.threads",
)


def check_same_config(saved_yaml: Any, config: dict[str, Any]) -> None:
    """The config a checkpoint was saved with must be this run's `config` (flattened), but for
    RESUMABLE_CHANGES."""
    import yaml

    try:
        saved = yaml.safe_load(saved_yaml) if isinstance(saved_yaml, str) else None
    except yaml.YAMLError:
        saved = None
    if not isinstance(saved, dict):
        raise BadFile("the checkpoint holds no readable config: refused")
    saved = records.flatten(saved)
    changed = [
        f"{k}: {saved.get(k)!r} -> {config.get(k)!r}"
        for k in sorted(set(saved) | set(config))
        if saved.get(k) != config.get(k) and k not in RESUMABLE_CHANGES
    ]
    if changed:
        raise ConfigError(
            "trainer.resume: the config differs from the run's (only "
            f"{', '.join(RESUMABLE_CHANGES[:1])} may change): " + "; ".join(changed)
        )
