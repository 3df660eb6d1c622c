"""AMSGrad (Reddi et al. 2018): Adam whose second moment never shrinks, v_max = max(v_max, v).

Two forms (`form`), which part ways in the bias correction:

- torch (default, torch.optim.Adam(amsgrad=True)): the maximum of the raw averages, then
  Adam's corrections, w <- w - lr / (1 - beta1^t) * m / (sqrt(v_max / (1 - beta2^t)) + eps);
- paper (Algorithm 2, constant beta1 and rate): no correction at all,
  w <- w - lr * m / (sqrt(v_max) + eps). Its first steps are smaller by sqrt(1 - beta2^t)
  / (1 - beta1^t) (about 0.32 at step 1 with the default betas).
"""

from __future__ import annotations

import torch

from dltricks.optim import Forms


class AMSGrad(Forms, torch.optim.Adam):
    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        form: str = "torch",
    ) -> None:
        super().__init__(
            params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=True
        )
        self.take_form(form)

    @torch.no_grad()
    def step(self, closure=None):
        if all(group["form"] == "torch" for group in self.param_groups):
            return super().step(closure)
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad.add(p, alpha=group["weight_decay"]) if group["weight_decay"] else p.grad
                state = self.state[p]
                if not state:
                    state["step"] = torch.tensor(0.0)
                    for name in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
                        state[name] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                m, v, v_max = state["exp_avg"], state["exp_avg_sq"], state["max_exp_avg_sq"]
                m.mul_(beta1).add_(g, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                torch.maximum(v_max, v, out=v_max)
                if group["form"] == "paper":
                    p.addcdiv_(m, v_max.sqrt().add_(group["eps"]), value=-group["lr"])
                else:  # a torch-form group among paper ones (stacked members): torch's rule
                    t = float(state["step"])
                    denom = (v_max / (1 - beta2**t)).sqrt_().add_(group["eps"])
                    p.addcdiv_(m, denom, value=-group["lr"] / (1 - beta1**t))
        return loss
