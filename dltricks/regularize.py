"""Regularization tricks (the seeds' L1, L2, weight decay, dropout, early stopping, gradient
noise, clipping) and their places in the training loop.

Each option of conf/regularization instantiates to a Regularizer; `Regularization` combines the
ones a run picked. The loop calls every place unconditionally, and a place no trick uses is
the identity, so the loop has no branch per option:

    x, y = reg.perturb(x, y)                      # augment, FGSM, weight noise
    loss = reg.add_penalty(criterion(model(x), y), weights)
    loss.backward(); reg.on_gradients(params, step); optimizer.step(); reg.after_step(...)
    if reg.should_stop(metrics, model): break    # early stopping
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn


class Regularizer:
    """The places a trick can take in the loop; each is the identity here."""

    def bind(self, model: nn.Module, criterion: nn.Module, weights: list[nn.Parameter]) -> None:
        """Called once the model is built, for tricks that need it (FGSM, weight noise)."""

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

    def state_dict(self) -> dict:
        """What a checkpoint must keep for a resumed run to continue exactly."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class Regularization(Regularizer):
    """The regularizers a run picked, applied in the order they are listed."""

    def __init__(self, parts: Sequence[Regularizer] = ()) -> None:
        self.parts = list(parts)
        # the tricks that add a penalty to the loss (decided once, not at every step)
        self.penalizers = [p for p in self.parts if type(p).penalty is not Regularizer.penalty]

    def bind(self, model, criterion, weights):
        for p in self.parts:
            p.bind(model, criterion, weights)

    def dropout(self):
        found = [d for p in self.parts if (d := p.dropout()) is not None]
        return found[0] if found else (nn.Identity, nn.Identity)

    def perturb(self, x, y):
        for p in self.parts:
            x, y = p.perturb(x, y)
        return x, y

    def penalty(self, weights):
        return sum((p.penalty(weights) for p in self.penalizers), start=0.0)

    def add_penalty(self, loss: torch.Tensor, weights: Sequence[torch.Tensor]) -> torch.Tensor:
        """loss + the penalties; the loss itself when no trick penalizes (no extra op)."""
        return loss + self.penalty(weights) if self.penalizers else loss

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

    def state_dict(self):
        return {str(i): p.state_dict() for i, p in enumerate(self.parts)}

    def load_state_dict(self, state):
        for i, p in enumerate(self.parts):
            p.load_state_dict(state[str(i)])


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

    def state_dict(self):
        return {
            "best": self.best,
            "best_epoch": self.best_epoch,
            "bad_evals": self.bad_evals,
            "best_state": self.best_state,
        }

    def load_state_dict(self, state):
        self.best, self.best_epoch = state["best"], state["best_epoch"]
        self.bad_evals, self.best_state = state["bad_evals"], state["best_state"]


class Augment(Regularizer):
    """Data augmentation on the device, a fresh draw for every batch: a random shift of up to
    `shift` positions (zero padding, then a crop: He et al.'s 4-pixel CIFAR crop), a random
    horizontal flip for images, and Gaussian input noise of std `noise_std`."""

    def __init__(self, noise_std: float = 0.0, shift: int = 0, flip: bool = False) -> None:
        self.noise_std, self.shift, self.flip = noise_std, shift, flip

    def perturb(self, x, y):
        if self.shift and x.ndim >= 3:
            x = random_shift(x, self.shift)
        if self.flip and x.ndim == 4:
            flip = torch.rand(len(x), device=x.device) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        if self.noise_std:
            x = x + self.noise_std * torch.randn_like(x)
        return x, y


def random_shift(x: torch.Tensor, s: int) -> torch.Tensor:
    """Shift every example by its own random offset in [-s, s] along each spatial axis
    (x: (N, C, L) or (N, C, H, W)), filling with zeros: pad by s, then crop each axis at a
    random start."""
    n, _, *size = x.shape
    out = F.pad(x, [s, s] * len(size))
    for dim, length in enumerate(size, start=2):
        start = torch.randint(0, 2 * s + 1, (n,), device=x.device)
        index = start[:, None] + torch.arange(length, device=x.device)  # (N, length)
        shape = [n] + [1] * (out.ndim - 1)
        shape[dim] = length
        target = [*out.shape[:dim], length, *out.shape[dim + 1 :]]
        out = out.gather(dim, index.view(shape).expand(target))
    return out


class WeightNoise(Regularizer):
    """Noise injection on the weights (Goodfellow et al. ch. 7.5): the gradient of each update
    is taken at w + N(0, std^2); the noise is removed again before the optimizer step."""

    def __init__(self, std: float = 0.01) -> None:
        self.std = std
        self.weights: list[nn.Parameter] = []
        self.noise: list[torch.Tensor] = []

    def bind(self, model, criterion, weights):
        self.weights = list(weights)

    @torch.no_grad()
    def perturb(self, x, y):
        self.noise = [self.std * torch.randn_like(w) for w in self.weights]
        torch._foreach_add_(self.weights, self.noise)
        return x, y

    @torch.no_grad()
    def on_gradients(self, params, step):
        if self.noise:
            torch._foreach_sub_(self.weights, self.noise)
            self.noise = []


class Adversarial(Regularizer):
    """Adversarial training with FGSM (Goodfellow et al. 2015): each batch is joined by its
    adversarial copy x + eps * sign(grad_x loss), so the loss is the mean of the clean and the
    adversarial loss (the paper's alpha = 0.5)."""

    def __init__(self, eps: float = 0.1) -> None:
        self.eps = eps
        self.model: nn.Module | None = None
        self.criterion: nn.Module | None = None

    def bind(self, model, criterion, weights):
        self.model, self.criterion = model, criterion

    def perturb(self, x, y):
        x_in = x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(self.criterion(self.model(x_in), y), x_in)
        x_adv = (x + self.eps * grad.sign()).detach()
        return torch.cat([x, x_adv]), torch.cat([y, y])
