"""Each member's random streams. A run of its own draws from torch's global generators (its
init, its dropout masks, augmentation and gradient noise) and keeps numpy's and Python's; a
stacked member must draw the same numbers in the same order, so each keeps its own copy of
those states, and whatever draws for member k runs inside `streams.of(k)`: its states put in
place, taken back out after. The epoch order has a generator of its own already (EpochOrder)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch


def capture() -> dict[str, Any]:
    """This process' global random states, as a member's."""
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }


def put(states: dict[str, Any], everything: bool) -> None:
    torch.set_rng_state(states["torch"])
    if states["cuda"]:
        torch.cuda.set_rng_state_all(states["cuda"])
    if everything:
        np.random.set_state(states["numpy"])
        random.setstate(states["python"])


class Streams:
    """The random states of K members (each captured where its own run would start training)."""

    def __init__(self, states: list[dict[str, Any]]) -> None:
        self.states = states

    @contextmanager
    def of(self, k: int, everything: bool = False) -> Iterator[None]:
        """Member k's streams in place: torch's (what training draws from); with
        `everything`, numpy's and Python's too (what a checkpoint records)."""
        put(self.states[k], everything)
        try:
            yield
        finally:
            now = capture() if everything else {**self.states[k], **_torch_only()}
            self.states[k] = now

    def keep(self, ks: list[int]) -> None:
        """Only members `ks` go on (the others ended)."""
        self.states = [self.states[k] for k in ks]


def _torch_only() -> dict[str, Any]:
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
