"""SGDW (Loshchilov & Hutter 2019, Algorithm 1): SGD with momentum and decoupled weight decay,
the decay outside the gradient (so outside the momentum buffer). Two forms (`form`):

- torch (default; torch's SGD momentum and AdamW's decay convention):
  v <- momentum * v + g;   w <- w - lr * v - lr * weight_decay * w
- paper (Algorithm 1, eta_t the schedule's multiplier lr / configured lr):
  m <- momentum * m + lr * g;   w <- w - m - eta_t * weight_decay * w

At a constant rate the momentum terms agree; the decay per step differs by the rate (torch:
lr * weight_decay; the paper: weight_decay at the schedule's peak). When the rate changes, the
paper's buffer keeps the rates its gradients were taken at, torch's rescales them.
"""

from __future__ import annotations

import torch
from torch.optim import Optimizer

from dltricks.optim import Forms


class SGDW(Forms, Optimizer):
    def __init__(
        self,
        params,
        lr: float = 0.05,
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
        nesterov: bool = False,
        form: str = "torch",
    ) -> None:
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)
        super().__init__(params, defaults)
        self.take_form(form)
        for group in self.param_groups:
            group.setdefault("initial_lr", group["lr"])

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            lr, mu, paper = group["lr"], group["momentum"], group["form"] == "paper"
            scale = lr if paper else 1.0  # the paper's buffer holds lr-scaled gradients
            decay = (lr / group["initial_lr"] if paper else lr) * group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = p.grad.mul(scale)
                else:
                    state["momentum_buffer"].mul_(mu).add_(p.grad, alpha=scale)
                buf = state["momentum_buffer"]
                direction = p.grad.mul(scale).add_(buf, alpha=mu) if group["nesterov"] else buf
                p.mul_(1 - decay)  # decoupled: on the old weights
                p.add_(direction, alpha=-1.0 if paper else -lr)
        return loss
