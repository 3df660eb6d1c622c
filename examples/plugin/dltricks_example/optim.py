"""Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"): the sign of an
interpolation of momentum and gradient, with decoupled weight decay:

    c = beta1 * m + (1 - beta1) * g
    w <- w - lr * (sign(c) + weight_decay * w)
    m <- beta2 * m + (1 - beta2) * g

dltricks sets each group's lr before every step (schedules) and gives biases and norm
parameters a group of their own with weight_decay 0.
"""

from __future__ import annotations

import torch
from torch.optim import Optimizer


class Lion(Optimizer):
    def __init__(
        self,
        params,
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.9, 0.99),
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, dict(lr=lr, betas=tuple(betas), weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                m = self.state[p].setdefault("exp_avg", torch.zeros_like(p))
                update = (beta1 * m + (1 - beta1) * p.grad).sign_()
                p.add_(update + group["weight_decay"] * p, alpha=-group["lr"])
                m.mul_(beta2).add_(p.grad, alpha=1 - beta2)
        return loss
