"""The seeds' sanity checks around a run (cs231n, "babysitting the learning process"): before
training, the initial loss against ln C and whether the regularization raises the objective;
after it, whether a small subset was overfit, and how sparse the weights ended."""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from dltricks.probes import side_effect_free

if TYPE_CHECKING:
    from dltricks.build import Parts

log = logging.getLogger("dltricks")
SANITY_BATCH = 2048  # training examples the initial checks look at


def before_training(p: Parts) -> dict[str, Any]:
    """The initial loss against ln C, and the regularization's effect on the objective; a
    warning line when either is off."""
    x, y = p.data.train.x[:SANITY_BATCH], p.data.train.y[:SANITY_BATCH]
    tolerance = p.loop.sanity_tolerance
    result = initial_loss(p.model, x, y, p.data.classes, tolerance)
    result.update(penalty_effect(p, x, y))
    line = (
        f"sanity: initial loss {result['initial_loss']:.4f}, ln({p.data.classes}) = "
        f"{result['expected_loss']:.4f}"
    )
    transfer = p.facts.get("transfer")
    if transfer and transfer["loaded"]:  # ln C is the loss of a fresh init only
        result["initial_loss_ok"] = None
        line += f" (not checked: {transfer['loaded']} tensors loaded from transfer.init_from)"
    elif not result["initial_loss_ok"]:
        line = (
            f"warning: {line}: more than {tolerance} apart; the outputs are not diffuse at "
            "initialization (check the init scale)"
        )
    if result["penalty_raises_loss"]:
        line += f"; the penalty adds {result['penalty']:.4g}"
    elif result["penalty_raises_loss"] is False:
        line = f"warning: {line}; the regularization penalty does not raise the training loss"
    print(line, flush=True)
    log.info(line)
    return result


@torch.no_grad()
def initial_loss(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, classes: int, tolerance: float
) -> dict[str, Any]:
    """cs231n's first sanity check: the initial loss of a C-class softmax is about ln C
    (diffuse outputs). In train mode: at initialization BatchNorm's running statistics are
    placeholders (mean 0, variance 1)."""
    with side_effect_free(model):
        loss = nn.functional.cross_entropy(model(x).float(), y).item()
    expected = math.log(classes)
    return {
        "initial_loss": loss,
        "expected_loss": expected,
        "initial_loss_ok": abs(loss - expected) <= tolerance,
    }


@torch.no_grad()
def penalty_effect(p: Parts, x: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
    """cs231n's second: adding the regularization raises the loss. The objective the step
    minimizes (reg.add_penalty over the criterion, as in train_epoch) against the criterion
    alone, on the same batch; None when no trick puts a penalty in the loss."""
    if not p.reg.penalizers:
        return {"penalty": 0.0, "penalty_raises_loss": None}
    with side_effect_free(p.model):
        plain = p.criterion(p.model(x), y)
        objective = p.reg.add_penalty(plain, p.weights)
    penalty = float(objective - plain)
    in_loss = any(float(r.penalty(p.weights)) for r in p.reg.penalizers)  # proximal L1: no
    return {"penalty": penalty, "penalty_raises_loss": penalty > 0 if in_loss else None}


def overfit_verdict(
    n: int, final: dict | None, threshold: float, frozen: int = 0
) -> dict[str, Any]:
    """The seeds' debugging step: a model that cannot overfit n examples has a bug or too
    little capacity (which `frozen` layers take away on purpose: then it is no warning)."""
    loss = final["train_loss"] if final else math.nan
    reached = bool(loss <= threshold)
    word = "reached" if reached else "did NOT reach"
    why = f" ({frozen} modules frozen)" if frozen and not reached else ""
    print(f"overfit_subset={n}: train loss {loss:.4g} {word} <= {threshold}{why}", flush=True)
    return {
        "n": n,
        "train_loss": loss,
        "threshold": threshold,
        "reached": reached,
        "frozen": frozen,
    }


@torch.no_grad()
def sparsity(weights: list[nn.Parameter], tol: float = 0.0) -> float:
    """The fraction of weights with |w| <= tol: exactly zero for tol 0 (proximal L1 makes
    them), or small (L1 in the loss drives weights toward zero, L2 only shrinks them)."""
    total = sum(w.numel() for w in weights)
    small = sum(int((w.abs() <= tol).sum()) for w in weights)
    return small / max(total, 1)
