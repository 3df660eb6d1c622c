"""The seeds' workflow (Hung-yi Lee, "tips for deep learning"), applied to a run or a group:

1. Good results on the training data? If not, it is an optimization problem, not
   overfitting: change the activation, use an adaptive learning rate or momentum, normalize,
   add residual connections.
2. Then, good results on held-out data? If not, it is overfitting: early stopping,
   regularization, dropout, more data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

OPTIMIZATION_TRICKS = (
    "a new activation (relu, maxout)",
    "an adaptive learning rate (adam, rmsprop)",
    "momentum",
    "batch normalization",
    "residual connections",
)
OVERFITTING_TRICKS = (
    "early stopping",
    "regularization (l2, l1, weight decay)",
    "dropout",
    "data augmentation or more data",
)


@dataclass
class Thresholds:
    train_err: float = 0.05  # train error above this is "high"
    gap: float = 0.05  # held-out error this much above train error is overfitting


@dataclass
class Verdict:
    label: str  # a few words for the table: "optimization problem", "overfitting", ...
    advice: str  # the full sentence: what is wrong and what to try


def diagnose(
    status: str,
    train_err: float | None,
    held_out_err: float | None,
    limits: Thresholds | None = None,
) -> Verdict:
    """What is wrong (first on train, then on held-out data) and what to try."""
    limits = limits or Thresholds()
    if status == "diverged":
        return Verdict(
            "diverged",
            "the loss became NaN/inf. Lower the learning rate, clip "
            "gradients, or add batch normalization or warm-up.",
        )
    if status in ("failed", "crashed"):
        return Verdict(status, "no result to judge.")
    if train_err is None or math.isnan(train_err):
        return Verdict("no metrics", "no evaluation written yet.")
    if train_err > limits.train_err:
        return Verdict(
            "optimization problem",
            f"train error {train_err:.3f} is high: an "
            "optimization problem, not overfitting. Try "
            f"{', '.join(OPTIMIZATION_TRICKS)}.",
        )
    known = held_out_err is not None and not math.isnan(held_out_err)
    if known and held_out_err - train_err > limits.gap:
        return Verdict(
            "overfitting",
            f"held-out error {held_out_err:.3f} is much higher "
            f"than train error {train_err:.3f}: overfitting. Try "
            f"{', '.join(OVERFITTING_TRICKS)}.",
        )
    return Verdict("good fit", "fits the training data and generalizes: nothing to fix.")
