"""SGDW (Loshchilov & Hutter 2019): SGD with momentum and decoupled weight decay. The decay is
not part of the gradient (so not of the momentum buffer):

    v <- momentum * v + g;   w <- w - lr * v - lr * weight_decay * w

(torch's AdamW convention: the decay is scaled by the scheduled lr).
"""

from __future__ import annotations

import torch
from torch.optim import Optimizer


class SGDW(Optimizer):
    def __init__(
        self,
        params,
        lr: float = 0.05,
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
        nesterov: bool = False,
    ) -> None:
        super().__init__(
            params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)
        )

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            lr, mu = group["lr"], group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = p.grad.clone()
                else:
                    state["momentum_buffer"].mul_(mu).add_(p.grad)
                buf = state["momentum_buffer"]
                direction = p.grad.add(buf, alpha=mu) if group["nesterov"] else buf
                p.mul_(1 - lr * group["weight_decay"])  # decoupled: on the old weights
                p.add_(direction, alpha=-lr)
        return loss
