"""Learning-rate schedules as pure functions: curve(step, total, **params) -> multiplier.

The loop sets lr = initial_lr * schedule(step, total) before every update, so a schedule has
no state to save or restore and can be plotted before training (`dltricks schedule`).
Positions within training (milestones, periods) are fractions of the `total` updates, so one
preset fits any dataset size: multistep at [0.5, 0.75] of 64k updates is He et al.'s 32k, 48k.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

Curve = Callable[[int, int], float]


def _progress(step: int, total: int) -> float:
    return min(step / max(total, 1), 1.0)


def constant(step: int, total: int) -> float:
    return 1.0


def inv_sqrt(step: int, total: int) -> float:
    """1 / sqrt(t + 1): the seeds' decay for Adagrad-style training (t = updates so far)."""
    return 1.0 / math.sqrt(step + 1)


def step_decay(step: int, total: int, every: float = 0.3, gamma: float = 0.1) -> float:
    """gamma ** floor(progress / every): multiply by gamma every `every` of training."""
    return gamma ** math.floor(_progress(step, total) / every + 1e-12)


def multistep(
    step: int, total: int, milestones: Sequence[float] = (0.5, 0.75), gamma: float = 0.1
) -> float:
    """gamma ** (number of milestones passed), milestones as fractions of training."""
    return gamma ** sum(step >= round(m * total) for m in milestones)


def exponential(step: int, total: int, final: float = 0.01) -> float:
    """final ** progress: a constant factor per update, from 1 down to `final`."""
    return final ** _progress(step, total)


def cosine(step: int, total: int, final: float = 0.0) -> float:
    """Cosine annealing from 1 to `final` over `total` steps (Loshchilov & Hutter 2017)."""
    return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * _progress(step, total)))


def cyclic(step: int, total: int, low: float = 0.1, period: float = 0.25) -> float:
    """Triangular cyclical LR (Smith 2017): from `low` up to 1 and back down every `period`
    of training."""
    length = max(period * total, 1.0)
    phase = (step % length) / length  # in [0, 1)
    return low + (1.0 - low) * (1.0 - abs(2.0 * phase - 1.0))


def sgdr(step: int, total: int, t0: float = 0.1, t_mult: float = 2.0, final: float = 0.0) -> float:
    """SGDR (Loshchilov & Hutter 2017): cosine annealing that restarts at 1; the first run
    lasts t0 of training, each next one t_mult times longer."""
    length, start = max(t0 * total, 1.0), 0.0
    while step >= start + length:
        start, length = start + length, length * t_mult
    return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * (step - start) / length))


def one_cycle(
    step: int, total: int, peak_at: float = 0.45, low: float = 0.04, final: float = 0.004
) -> float:
    """One-cycle (Smith 2018): warm up linearly from `low` to 1 over peak_at of training,
    anneal back to `low` over as long again, then fine-tune down to `final`."""
    p = _progress(step, total)
    if p < peak_at:
        return low + (1.0 - low) * p / peak_at
    if p < 2 * peak_at:
        return 1.0 - (1.0 - low) * (p - peak_at) / peak_at
    return low - (low - final) * (p - 2 * peak_at) / max(1.0 - 2 * peak_at, 1e-12)


def scaled(curve: Curve, factor: float) -> Curve:
    """factor * curve: trainer.lr_scale, one learning-rate sweep for optimizers whose default
    rates differ by orders of magnitude."""
    if factor == 1.0:
        return curve
    return lambda step, total: factor * curve(step, total)


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
