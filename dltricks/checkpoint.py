"""What a checkpoint holds, so that a resumed run continues bit for bit: model, optimizer
(Lookahead's slow weights and SWATS' phase included), grad scaler, the regularizers' state
(early stopping), the loop's position (epoch, the batch within it and that epoch's
permutation), and every random state (torch, CUDA, numpy, python, the permutation generator).

Everything is stored as tensors and plain containers, so the file loads with
torch.load(weights_only=True): no pickled code, no OmegaConf objects.
"""

from __future__ import annotations

import os
import random
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig

from dltricks import records
from dltricks.errors import ConfigError


@dataclass
class Position:
    """Where the loop is: the next batch to train on, and what it has accumulated."""

    epoch: int = 1  # the epoch in progress (1-based)
    batch: int = 0  # index of its next example in `visit`
    visit: torch.Tensor | None = None  # this epoch's order, drawn at its start
    step: int = 0
    seen: int = 0
    train_seconds: float = 0.0
    losses: torch.Tensor | None = None  # this epoch's minibatch losses so far
    best: dict | None = None
    last: dict | None = None
    extra: dict = field(default_factory=dict)


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


def capture(parts: Any, position: Position, config_yaml: str) -> dict[str, Any]:
    """The state to save (see the module docstring)."""
    return {
        "model": parts.model.state_dict(),
        "optimizer": parts.optimizer.state_dict(),
        "scaler": parts.scaler.state_dict(),
        "regularization": parts.reg.state_dict(),
        "position": asdict(position),
        "random": random_states(parts.order.rng),
        "config": config_yaml,
    }


def restore(parts: Any, state: dict[str, Any]) -> Position:
    """Load `state` into the parts; the position to continue from."""
    parts.model.load_state_dict(state["model"])
    parts.optimizer.load_state_dict(state["optimizer"])
    parts.scaler.load_state_dict(state["scaler"])
    parts.reg.load_state_dict(state["regularization"])
    set_random_states(state["random"], parts.order.rng)
    return Position(**state["position"])


def resume(p: Any, cfg: DictConfig, job: Any, config_yaml: str) -> tuple[Position, dict]:
    """Restore the run in trainer.resume from its checkpoint: the same config (but for the
    epoch budget), its rows of metrics.csv/layers.csv up to the checkpoint, its summary."""
    run_dir = Path(cfg.trainer.resume).expanduser()
    state = records.load_checkpoint(run_dir / records.CHECKPOINT)
    check_same_config(state["config"], config_yaml)
    pos = restore(p, state)
    for name in (records.METRICS, "layers.csv"):  # rows written after the checkpoint go
        records.keep_rows(job.run_dir / name, lambda row: int(row["epoch"]) < pos.epoch)
    path = run_dir / records.SUMMARY
    try:
        summary = records.read_json(path)
    except (OSError, ValueError):
        from dltricks.train import new_summary  # the loop module's own summary

        summary = new_summary(cfg, job, p.model, p.device)
    summary.update(status="running", pid=os.getpid(), host=socket.gethostname())
    summary.setdefault("resumed", []).append(
        {"epoch": pos.epoch, "batch": pos.batch, "step": pos.step}
    )
    print(f"dltricks: resuming {run_dir} at epoch {pos.epoch}, step {pos.step}", flush=True)
    return pos, summary


# Keys a resumed run may change: how long it trains, and how often it saves.
RESUMABLE_CHANGES = (
    "trainer.epochs",
    "trainer.resume",
    "trainer.checkpoint_every",
    "trainer.threads",
)


def check_same_config(saved_yaml: str, config_yaml: str) -> None:
    import yaml

    from dltricks.report.runs import flatten

    saved = flatten(yaml.safe_load(saved_yaml))
    now = flatten(yaml.safe_load(config_yaml))
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
