"""AdamW (Loshchilov & Hutter 2019, Algorithm 2) in two forms (`form`), which part ways in
how the decoupled decay scales with the rate:

- torch (default, torch.optim.AdamW): w <- w - lr * weight_decay * w per step, so the decay
  per step is the product of the rate and the key (lr 1e-3 and 0.01: 1e-5 per step) and
  tuning the rate moves the decay with it;
- paper: w <- w - eta_t * weight_decay * w, with eta_t the schedule's multiplier (the rate
  over the configured `lr`, trainer.lr_scale included): the key is the decay per step at
  the schedule's peak, whatever the rate.

The paper's form is torch's with the key divided by the configured rate, exactly.
"""

from __future__ import annotations

import torch

from dltricks.optim import Forms


class AdamW(Forms, torch.optim.AdamW):
    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        form: str = "torch",
    ) -> None:
        super().__init__(
            params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad
        )
        self.take_form(form)
        for group in self.param_groups:
            if group["form"] == "paper":  # torch multiplies by the scheduled rate: undo its lr part
                group["weight_decay"] = group["weight_decay"] / group["lr"]
