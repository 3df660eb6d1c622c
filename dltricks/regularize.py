"""Regularization tricks that act in the training step (the seeds' L1, L2, weight decay,
gradient noise, clipping, augmentation, noise injection, adversarial examples).

Each of these options of conf/regularization instantiates to a Regularizer; `Regularization`
combines the ones a run picked. The step calls every place unconditionally, and a place no
trick uses is the identity, so the step has no branch per option:

    x, y = reg.perturb(x, y)                      # augment, FGSM, weight noise
    loss = reg.add_penalty(criterion(model(x), y), weights)
    loss.backward(); reg.on_gradients(params, step); optimizer.step(); reg.after_step(...)

The other two options of the group have places of their own: dropout is a layer of the model
(models/dropout.py), early stopping the loop's `if ...: break` (early_stopping.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from dltricks.data.augment import random_flip, random_shift


class Regularizer:
    """The places a trick can take in the loop; each is the identity here."""

    def bind(self, model: nn.Module, criterion: nn.Module, weights: list[nn.Parameter]) -> None:
        """Called once the model is built, for tricks that need it (FGSM, weight noise)."""

    def perturb(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x, y

    def penalty(self, weights: Sequence[torch.Tensor]) -> torch.Tensor | float:
        return 0.0

    def on_gradients(self, params: Sequence[nn.Parameter], step: int) -> None:
        pass

    def after_step(self, weights: Sequence[torch.Tensor], lr: float) -> None:
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


class L2(Regularizer):
    """lambda/2 * sum ||w||^2 over weights, so that one SGD step is
    w <- (1 - lr*lambda) w - lr * dL/dw (biases and norm parameters excluded)."""

    def __init__(self, **params: float) -> None:
        self.lam = float(params.pop("lambda"))  # the seeds' λ (`lambda` is a Python keyword)
        _no_more(params)

    def penalty(self, weights):
        return 0.5 * self.lam * sum(w.pow(2).sum() for w in weights)


class L1(Regularizer):
    """lambda * sum |w| over weights. In the loss: one SGD step is
    w <- w - lr*lambda*sign(w) - lr*dL/dw, which makes weights small (sparse in |w| < tol)
    but almost never exactly zero: the step overshoots 0 and the sign flips. proximal: the
    penalty leaves the loss and every update ends with its proximal step, the soft threshold
    w <- sign(w) * max(|w| - lr*lambda, 0) (ISTA), which sets weights to exactly zero."""

    def __init__(self, proximal: bool = False, **params: float) -> None:
        self.lam = float(params.pop("lambda"))
        self.proximal = proximal
        _no_more(params)

    def penalty(self, weights):
        if self.proximal:
            return 0.0
        return self.lam * sum(w.abs().sum() for w in weights)

    @torch.no_grad()
    def after_step(self, weights, lr):
        if self.proximal:
            for w in weights:
                w.copy_(w.sign() * (w.abs() - lr * self.lam).clamp_min(0.0))


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
            x = random_flip(x)
        if self.noise_std:
            x = x + self.noise_std * torch.randn_like(x)
        return x, y


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
