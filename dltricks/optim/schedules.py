"""Learning-rate schedules as pure functions: curve(step, total_steps, **params) -> multiplier.

The loop sets lr = initial_lr * schedule(step) before every update, so a schedule has no state
to save or restore, and can be plotted before training.
"""

from __future__ import annotations

import math
from collections.abc import Callable

Curve = Callable[[int, int], float]


def constant(step: int, total: int) -> float:
    return 1.0


def cosine(step: int, total: int, final: float = 0.0) -> float:
    """Cosine annealing from 1 to `final` over `total` steps (Loshchilov & Hutter 2017)."""
    progress = min(step / max(total, 1), 1.0)
    return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * progress))


def with_warmup(curve: Curve, warmup_steps: int) -> Curve:
    """Linear warm-up from 1/warmup to 1 over the first `warmup_steps` updates, then `curve`
    over the remaining ones (its step counted from the end of the warm-up)."""
    if warmup_steps <= 0:
        return curve

    def schedule(step: int, total: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return curve(step - warmup_steps, max(total - warmup_steps, 1))

    return schedule
