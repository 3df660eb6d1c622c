"""The seeds' workflow (Hung-yi Lee, "tips for deep learning"), applied to a run or a group:

1. Good results on the training data? If not, it is an optimization problem, not
   overfitting: change the activation, use an adaptive learning rate or momentum, normalize,
   add residual connections.
2. Then, good results on held-out data? If not, it is overfitting: early stopping,
   regularization, dropout, more data.

The verdict reads the run, not only its numbers: a run that stopped while its training error
was still falling was not trained long enough; a regularized run pays training error by
design (on noisy labels the noise rate itself); and the advice names only the tricks the run
does not use already.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

RECTIFIERS = {"relu", "leaky_relu", "prelu", "elu", "maxout"}
ADAPTIVE = {"adagrad", "adadelta", "rmsprop", "adam", "amsgrad", "adamw", "nadam", "radam"}
ADAPTIVE |= {"adabound", "swats"}
MOMENTUM = {"momentum", "nesterov", "sgdw"} | ADAPTIVE - {"adagrad", "adadelta", "rmsprop"}
REGULARIZERS = {"l1", "l2", "weight_decay", "dropout", "augment", "weight_noise", "adversarial"}
REGULARIZERS |= {"gradient_noise", "early_stopping"}


@dataclass
class Thresholds:
    train_err: float = 0.05  # train error above this is "high"
    gap: float = 0.05  # held-out error this much above train error is overfitting


@dataclass
class Facts:
    """What a run (or every run of a group) was: its options, and how its curve ended."""

    activation: str | None = None
    optimizer: str | None = None
    norm: str | None = None
    residual: bool | None = None
    regularization: list[str] = field(default_factory=list)
    label_noise: float = 0.0
    still_falling: bool = False  # the last evaluation improved on every earlier one by 10%


@dataclass
class Verdict:
    label: str  # a few words for the table: "optimization problem", "overfitting", ...
    advice: str  # the full sentence: what is wrong and what to try


def diagnose(
    status: str,
    train_err: float | None,
    held_out_err: float | None,
    limits: Thresholds | None = None,
    facts: Facts | None = None,
) -> Verdict:
    """What is wrong (first on train, then on held-out data) and what to try."""
    limits, facts = limits or Thresholds(), facts or Facts()
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
    held = held_out_err if held_out_err is not None and not math.isnan(held_out_err) else None
    if train_err > limits.train_err:
        return _high_train_error(status, train_err, held, limits, facts)
    if held is not None and held - train_err > limits.gap:
        tried = set(facts.regularization)
        todo = [t for key, t in OVERFITTING_TRICKS if key not in tried] or ["more data"]
        return Verdict(
            "overfitting",
            f"held-out error {held:.3f} is much higher than train error {train_err:.3f}: "
            f"overfitting. Try {', '.join(todo)}.",
        )
    return Verdict("good fit", "fits the training data and generalizes: nothing to fix.")


OVERFITTING_TRICKS = [
    ("early_stopping", "early stopping"),
    ("l2", "regularization (l2, l1, weight decay)"),
    ("dropout", "dropout"),
    ("augment", "data augmentation or more data"),
]


def _high_train_error(
    status: str, train_err: float, held: float | None, limits: Thresholds, facts: Facts
) -> Verdict:
    if status in ("interrupted", "running") or facts.still_falling:
        why = "was interrupted" if status == "interrupted" else "was still falling"
        why = "is still training" if status == "running" else why
        return Verdict(
            "not trained long enough",
            f"train error {train_err:.3f} is high, but the run {why}: train longer (more "
            "epochs) before judging the model.",
        )
    noise = facts.label_noise
    if noise and train_err <= noise + limits.train_err:
        return Verdict(
            "fits the clean labels",
            f"train error {train_err:.3f} is about the label noise ({noise:.2f} of the "
            "labels are random): the net declines to memorize them, as intended.",
        )
    regularized = set(facts.regularization) & REGULARIZERS
    if regularized and (held is None or held - train_err <= limits.gap):
        return Verdict(
            "regularized",
            f"train error {train_err:.3f} is high with {', '.join(sorted(regularized))} in use "
            "and no gap to held-out error: the regularization may be too strong; weaken it "
            "and watch the held-out error.",
        )
    todo = _optimization_tricks(facts) or ["a wider or deeper model, or more epochs"]
    return Verdict(
        "optimization problem",
        f"train error {train_err:.3f} is high: an optimization problem, not overfitting. "
        f"Try {', '.join(todo)}.",
    )


def _optimization_tricks(facts: Facts) -> list[str]:
    """The seeds' remedies for a high training error, but those the run uses already."""
    todo = []
    if facts.activation not in RECTIFIERS:
        todo.append("a new activation (relu, maxout)")
    if facts.optimizer not in ADAPTIVE:
        todo.append("an adaptive learning rate (adam, rmsprop)")
    if facts.optimizer not in MOMENTUM:
        todo.append("momentum")
    if facts.norm != "batch":
        todo.append("batch normalization")
    if not facts.residual:
        todo.append("residual connections")
    return todo
