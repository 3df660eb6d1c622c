"""SWATS (Keskar & Socher 2017): start with Adam, switch to SGD with momentum once the
learning rate SGD would need to take Adam's step settles, and never switch back.

For Adam's step p_k and the gradient g_k, the SGD rate that projects onto p_k is
gamma_k = (p_k . p_k) / (-p_k . g_k); its bias-corrected running mean
lambda_k / (1 - beta2^k) is the estimate. The switch happens when
|lambda_k / (1 - beta2^k) - gamma_k| < switch_eps; then, for each later step,
v <- beta1 * v + g and w <- w - (1 - beta1) * Lambda * v. Each parameter group switches on
its own; its phase, Lambda and switch step are kept in the group (so in state_dict).
"""

from __future__ import annotations

import math

import torch
from torch.optim import Optimizer


class SWATS(Optimizer):
    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        switch_eps: float = 1e-9,
    ) -> None:
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            switch_eps=switch_eps,
            phase="adam",
            sgd_lr=None,
            switch_step=None,
            lr_estimate=0.0,
            step=0,
        )
        super().__init__(params, defaults)
        for group in self.param_groups:
            group.setdefault("initial_lr", group["lr"])

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            group["step"] += 1
            grads = [
                p.grad.add(p, alpha=group["weight_decay"]) if group["weight_decay"] else p.grad
                for p in params
            ]
            if group["phase"] == "adam":
                self._adam_step(group, params, grads)
            else:
                self._sgd_step(group, params, grads)
        return loss

    def _adam_step(self, group: dict, params: list, grads: list) -> None:
        beta1, beta2 = group["betas"]
        k = group["step"]
        size = group["lr"] * math.sqrt(1 - beta2**k) / (1 - beta1**k)
        p_dot_p = p_dot_g = 0.0
        for p, g in zip(params, grads, strict=True):
            state = self.state[p]
            if "exp_avg" not in state:
                state["exp_avg"] = torch.zeros_like(p)
                state["exp_avg_sq"] = torch.zeros_like(p)
            m, v = state["exp_avg"], state["exp_avg_sq"]
            m.mul_(beta1).add_(g, alpha=1 - beta1)
            v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
            step = -size * m / (v.sqrt() + group["eps"])
            p.add_(step)
            p_dot_p += float(step.flatten() @ step.flatten())
            p_dot_g += float(step.flatten() @ g.flatten())
        if p_dot_g == 0:
            return
        gamma = p_dot_p / -p_dot_g
        group["lr_estimate"] = beta2 * group["lr_estimate"] + (1 - beta2) * gamma
        estimate = group["lr_estimate"] / (1 - beta2**k)
        if k > 1 and abs(estimate - gamma) < group["switch_eps"]:
            group["phase"], group["switch_step"] = "sgd", k
            # Lambda is taken at the current point of the schedule; later steps scale it by
            # the schedule's multiplier relative to this one
            group["sgd_lr"] = estimate * group["initial_lr"] / group["lr"]

    def _sgd_step(self, group: dict, params: list, grads: list) -> None:
        beta1 = group["betas"][0]
        rate = (1 - beta1) * group["sgd_lr"] * group["lr"] / group["initial_lr"]
        for p, g in zip(params, grads, strict=True):
            state = self.state[p]
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = torch.zeros_like(p)
            v = state["momentum_buffer"]
            v.mul_(beta1).add_(g)
            p.sub_(v, alpha=rate)

    def stats(self) -> dict[str, float | None]:
        """For metrics.csv: when the weights' group switched to SGD, and at which rate."""
        first = self.param_groups[0]
        return {"swats_switch_step": first["switch_step"], "swats_sgd_lr": first["sgd_lr"]}
