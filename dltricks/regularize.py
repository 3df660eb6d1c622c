"""Regularization tricks (the seeds' L1, L2, weight decay, dropout, early stopping, gradient
noise, clipping) and their places in the training loop.

Each option of conf/regularization instantiates to a Regularizer; `Regularization` combines the
ones a run picked. The loop calls every place unconditionally, and a place no trick uses is
the identity, so the loop has no branch per option:

    x, y = reg.perturb(x, y)                      # augment
    loss = criterion(model(x), y) + reg.penalty(weights)
    loss.backward(); reg.on_gradients(params, step); optimizer.step(); reg.after_step(...)
    if reg.should_stop(metrics, model): break    # early stopping
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence

import torch
from torch import nn


class Regularizer:
    """The places a trick can take in the loop; each is the identity here."""

    def dropout(self) -> tuple[Callable[[], nn.Module], Callable[[], nn.Module]] | None:
        """(hidden-layer dropout, input dropout) layer factories for the model, or None."""
        return None

    def perturb(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x, y

    def penalty(self, weights: Sequence[torch.Tensor]) -> torch.Tensor | float:
        return 0.0

    def on_gradients(self, params: Sequence[nn.Parameter], step: int) -> None:
        pass

    def after_step(self, weights: Sequence[torch.Tensor], lr: float) -> None:
        pass

    def should_stop(self, metrics: dict[str, float], model: nn.Module) -> bool:
        return False

    def finish(self, model: nn.Module) -> dict | None:
        """At the end of training: restore what the trick kept (best weights); a summary."""
        return None


class Regularization(Regularizer):
    """The regularizers a run picked, applied in the order they are listed."""

    def __init__(self, parts: Sequence[Regularizer] = ()) -> None:
        self.parts = list(parts)

    def dropout(self):
        found = [d for p in self.parts if (d := p.dropout()) is not None]
        return found[0] if found else (nn.Identity, nn.Identity)

    def perturb(self, x, y):
        for p in self.parts:
            x, y = p.perturb(x, y)
        return x, y

    def penalty(self, weights):
        return sum((p.penalty(weights) for p in self.parts), start=0.0)

    def on_gradients(self, params, step):
        for p in self.parts:
            p.on_gradients(params, step)

    def after_step(self, weights, lr):
        for p in self.parts:
            p.after_step(weights, lr)

    def should_stop(self, metrics, model):
        return any([p.should_stop(metrics, model) for p in self.parts])

    def finish(self, model):
        done = {type(p).__name__: s for p in self.parts if (s := p.finish(model)) is not None}
        return done or None


class L2(Regularizer):
    """lambda/2 * sum ||w||^2 over weights, so that one SGD step is
    w <- (1 - lr*lambda) w - lr * dL/dw (biases and norm parameters excluded)."""

    def __init__(self, **params: float) -> None:
        self.lam = float(params.pop("lambda"))  # the seeds' λ (`lambda` is a Python keyword)
        _no_more(params)

    def penalty(self, weights):
        return 0.5 * self.lam * sum(w.pow(2).sum() for w in weights)


class L1(Regularizer):
    """lambda * sum |w| over weights: one SGD step is w <- w - lr*lambda*sign(w) - lr*dL/dw,
    which drives small weights to exactly zero (sparse weights)."""

    def __init__(self, **params: float) -> None:
        self.lam = float(params.pop("lambda"))
        _no_more(params)

    def penalty(self, weights):
        return self.lam * sum(w.abs().sum() for w in weights)


def _no_more(params: dict) -> None:
    if params:
        raise TypeError(f"unexpected keys: {', '.join(params)}")


class WeightDecay(Regularizer):
    """Decoupled weight decay (Loshchilov & Hutter: AdamW/SGDW) for any optimizer: after each
    update, w <- w - lr * weight_decay * w, outside the gradient and the adaptive scaling."""

    def __init__(self, weight_decay: float = 5e-4) -> None:
        self.weight_decay = weight_decay

    @torch.no_grad()
    def after_step(self, weights, lr):
        if weights:
            torch._foreach_mul_(list(weights), 1.0 - lr * self.weight_decay)


class ClassicDropout(nn.Module):
    """Dropout as the seeds describe it: drop with probability p at train time without
    rescaling, and multiply by (1 - p) at test time (same expectation as inverted dropout)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return x * (torch.rand_like(x) >= self.p).to(x.dtype)
        return x * (1.0 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Dropout(Regularizer):
    """Dropout after every hidden activation (p) and on the inputs (input_p); a fresh mask
    for every update. mode: inverted (scale by 1/(1-p) at train, torch's) or classic."""

    def __init__(self, p: float = 0.5, input_p: float = 0.0, mode: str = "inverted") -> None:
        if mode not in ("inverted", "classic"):
            raise ValueError(f"mode must be inverted or classic, not {mode}")
        self.p, self.input_p, self.mode = p, input_p, mode

    def _factory(self, p: float) -> Callable[[], nn.Module]:
        if p == 0:
            return nn.Identity
        return (lambda: nn.Dropout(p)) if self.mode == "inverted" else (lambda: ClassicDropout(p))

    def dropout(self):
        return self._factory(self.p), self._factory(self.input_p)


class GradClip(Regularizer):
    """Clip the global gradient norm to max_norm (Pascanu et al. 2013)."""

    def __init__(self, max_norm: float = 1.0) -> None:
        self.max_norm = max_norm

    def on_gradients(self, params, step):
        nn.utils.clip_grad_norm_(params, self.max_norm, foreach=True)


class GradientNoise(Regularizer):
    """Add N(0, sigma_t^2) to every gradient, sigma_t^2 = eta / (1 + t)^gamma
    (Neelakantan et al. 2015): noise that decays with the update count t."""

    def __init__(self, eta: float = 0.3, gamma: float = 0.55) -> None:
        self.eta, self.gamma = eta, gamma

    def std(self, step: int) -> float:
        return math.sqrt(self.eta / (1 + step) ** self.gamma)

    @torch.no_grad()
    def on_gradients(self, params, step):
        std = self.std(step)
        for p in params:
            if p.grad is not None:
                p.grad.add_(torch.randn_like(p.grad), alpha=std)


class EarlyStopping(Regularizer):
    """Stop after `patience` evaluations in a row without an improvement of more than
    `min_delta` in `monitor` (val_loss or val_err); then restore the best weights."""

    def __init__(
        self, patience: int = 5, min_delta: float = 0.0, monitor: str = "val_loss"
    ) -> None:
        if monitor not in ("val_loss", "val_err"):
            raise ValueError(f"monitor must be val_loss or val_err, not {monitor}")
        self.patience, self.min_delta, self.monitor = patience, min_delta, monitor
        self.best = math.inf
        self.best_epoch: int | None = None
        self.bad_evals = 0
        self.best_state: dict | None = None

    def should_stop(self, metrics, model):
        value = metrics[self.monitor]
        if value < self.best - self.min_delta:
            self.best, self.best_epoch, self.bad_evals = value, metrics["epoch"], 0
            self.best_state = copy.deepcopy(model.state_dict())
            return False
        self.bad_evals += 1
        return self.bad_evals >= self.patience

    def finish(self, model):
        if self.best_state is not None:
            model.load_state_dict(self.best_state)
        return {"best_epoch": self.best_epoch, "monitor": self.monitor, "best": self.best}
