"""SWATS (Keskar & Socher 2017): start with Adam, switch to SGD with momentum once the
learning rate SGD would need to take Adam's step settles, and never switch back.

For Adam's step p_k and the gradient g_k, the SGD rate that projects onto p_k is
gamma_k = (p_k . p_k) / (-p_k . g_k); its bias-corrected running mean
lambda_k / (1 - beta2^k) is the estimate. The switch happens when
|lambda_k / (1 - beta2^k) - gamma_k| < switch_eps (an absolute tolerance, on the group's
whole vector as Algorithm 1 writes it; only to a positive rate, which the algorithm leaves
implicit: a negative one would climb the loss); then, for each later step,
v <- beta1 * v + g and w <- w - (1 - beta1) * Lambda * v. Each parameter group switches on
its own; its phase, Lambda and switch step are kept in the group (so in state_dict).

The test and the phase stay on the device as 0-d tensors: a step never waits for the host
(on a GPU, a `float()` per tensor would stall every step hundreds of times). So each step
computes Adam's update and, from the switch on, the SGD one, and keeps the phase's.
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
            lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, switch_eps=switch_eps
        )
        super().__init__(params, {**defaults, "step": 0})
        for group in self.param_groups:
            group.setdefault("initial_lr", group["lr"])

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        for group in self.param_groups:  # a checkpoint from before the device-side phase
            if isinstance(group.get("phase"), str):
                switched = group["phase"] == "sgd"
                group["sgd"] = torch.tensor(float(switched))
                group["sgd_lr"] = torch.tensor(float(group["sgd_lr"] or 0.0))
                group["switch_step"] = torch.tensor(group["switch_step"] or 0)
                group["lr_estimate"] = torch.tensor(float(group["lr_estimate"]))
                del group["phase"]

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
            self._phase_state(group, params[0].device)
            adam_steps = self._adam_steps(group, params, grads)
            self._update(group, params, grads, adam_steps)
            self._switch_test(group, grads, adam_steps)
        return loss

    @staticmethod
    def _phase_state(group: dict, device: torch.device) -> None:
        """The group's phase (sgd: 0 or 1), Lambda, switch step and lambda: 0-d tensors on the
        parameters' device, made at the first step."""
        if "sgd" not in group:
            real = torch.float32 if device.type == "mps" else torch.float64  # MPS has no f64
            for name in ("sgd", "sgd_lr", "lr_estimate"):
                group[name] = torch.zeros((), device=device, dtype=real)
            group["switch_step"] = torch.zeros((), device=device, dtype=torch.int64)
        for name in ("sgd", "sgd_lr", "lr_estimate", "switch_step"):
            group[name] = group[name].to(device)  # loaded from a checkpoint on another device

    def _adam_steps(self, group: dict, params: list, grads: list) -> list[torch.Tensor]:
        """Adam's step p_k for each tensor (its moments updated), the switch test's input."""
        beta1, beta2 = group["betas"]
        k = group["step"]
        size = group["lr"] * math.sqrt(1 - beta2**k) / (1 - beta1**k)
        steps = []
        for p, g in zip(params, grads, strict=True):
            state = self.state[p]
            if "exp_avg" not in state:
                state["exp_avg"] = torch.zeros_like(p)
                state["exp_avg_sq"] = torch.zeros_like(p)
                state["momentum_buffer"] = torch.zeros_like(p)
            m, v = state["exp_avg"], state["exp_avg_sq"]
            m.mul_(beta1).add_(g, alpha=1 - beta1)
            v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
            steps.append(m.div(v.sqrt().add_(group["eps"])).mul_(-size))
        return steps

    def _update(self, group: dict, params: list, grads: list, adam_steps: list) -> None:
        """w <- w + p_k in the Adam phase; in the SGD phase v <- beta1 v + g and
        w <- w - (1 - beta1) Lambda v, at the schedule's point relative to the switch's."""
        beta1 = group["betas"][0]
        sgd = group["sgd"]
        rate = (1 - beta1) * group["sgd_lr"] * (group["lr"] / group["initial_lr"])
        for p, g, adam in zip(params, grads, adam_steps, strict=True):
            v = self.state[p]["momentum_buffer"]
            v.mul_(beta1).add_(g).mul_(sgd.to(v.dtype))  # 0 until the switch (Algorithm 1)
            p.add_(torch.where(sgd.bool(), -rate.to(p.dtype) * v, adam))

    @staticmethod
    def _switch_test(group: dict, grads: list, adam_steps: list) -> None:
        """Algorithm 1's lines 14-17 on the group's whole vector, in the Adam phase only."""
        beta2, k = group["betas"][1], group["step"]
        real = group["lr_estimate"].dtype
        p_dot_p = sum(torch.dot(s.flatten().to(real), s.flatten().to(real)) for s in adam_steps)
        p_dot_g = sum(
            torch.dot(s.flatten().to(real), g.flatten().to(real))
            for s, g in zip(adam_steps, grads, strict=True)
        )
        adam = group["sgd"] == 0
        tested = adam & (p_dot_g != 0)
        gamma = p_dot_p / torch.where(tested, -p_dot_g, torch.ones_like(p_dot_g))
        estimate_sum = torch.where(
            tested, beta2 * group["lr_estimate"] + (1 - beta2) * gamma, group["lr_estimate"]
        )
        group["lr_estimate"] = estimate_sum
        estimate = estimate_sum / (1 - beta2**k)
        settled = (estimate - gamma).abs() < group["switch_eps"]
        switch = tested & (k > 1) & (estimate > 0) & settled
        # Lambda at the current point of the schedule; later steps scale it by the schedule
        lam = estimate * (group["initial_lr"] / group["lr"])
        group["sgd_lr"] = torch.where(switch, lam, group["sgd_lr"])
        group["switch_step"] = torch.where(switch, k, group["switch_step"])
        group["sgd"] = torch.where(switch, torch.ones_like(group["sgd"]), group["sgd"])

    def phase(self, group: dict | None = None) -> str:
        """ "adam" or "sgd" (reads the device: for reports, not for the step)."""
        group = group or self.param_groups[0]
        return "sgd" if float(group.get("sgd", 0.0)) else "adam"

    def stats(self) -> dict[str, float | None]:
        """For metrics.csv: when the weights' group switched to SGD, and at which rate."""
        first = self.param_groups[0]
        if "sgd" not in first or not float(first["sgd"]):
            return {"swats_switch_step": None, "swats_sgd_lr": None}
        return {
            "swats_switch_step": int(first["switch_step"]),
            "swats_sgd_lr": float(first["sgd_lr"]),
        }
