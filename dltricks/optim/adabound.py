"""AdaBound (Luo et al. 2019): Adam whose per-parameter step size is clipped to bounds that
start wide (Adam) and close in on `final_lr` (SGD) as the step count t grows:

    lower(t) = final_lr * (1 - 1 / (gamma * t + 1)),  upper(t) = final_lr * (1 + 1 / (gamma * t))

Weight decay is a plain L2 term added to the gradient, as in the paper's code. A schedule that
scales lr scales final_lr by the same factor.
"""

from __future__ import annotations

import math

import torch
from torch.optim import Optimizer


class AdaBound(Optimizer):
    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        final_lr: float = 0.1,
        gamma: float = 1e-3,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            final_lr=final_lr,
            gamma=gamma,
            eps=eps,
            weight_decay=weight_decay,
        )
        super().__init__(params, defaults)
        for group in self.param_groups:
            group.setdefault("initial_lr", group["lr"])

    @staticmethod
    def bounds(final_lr: float, gamma: float, t: int) -> tuple[float, float]:
        return final_lr * (1 - 1 / (gamma * t + 1)), final_lr * (1 + 1 / (gamma * t))

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            final_lr = group["final_lr"] * group["lr"] / group["initial_lr"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if group["weight_decay"]:
                    grad = grad.add(p, alpha=group["weight_decay"])
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                t = state["step"]
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m.mul_(beta1).add_(grad, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                # Adam's per-parameter step size, then clipped into [lower(t), upper(t)]
                size = group["lr"] * math.sqrt(1 - beta2**t) / (1 - beta1**t)
                lower, upper = self.bounds(final_lr, group["gamma"], t)
                step_size = (size / (v.sqrt() + group["eps"])).clamp_(lower, upper)
                p.sub_(step_size * m)
        return loss
