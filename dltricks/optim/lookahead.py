"""Lookahead (Zhang et al. 2019) around any optimizer: k fast steps, then the slow weights
move a fraction alpha toward the fast ones and the fast weights restart from there:

    slow <- slow + alpha * (fast - slow);  fast <- slow        (every k steps)

The slow weights and the step counter are part of state_dict, so a checkpoint restores them.
"""

from __future__ import annotations

from typing import Any

import torch


class Lookahead:
    """Wraps `base`: same param_groups (so lr schedules apply), same step/zero_grad."""

    def __init__(self, base: torch.optim.Optimizer, k: int = 5, alpha: float = 0.5) -> None:
        self.base, self.k, self.alpha = base, k, alpha
        self.base_step = base.step  # torch_compat.eager_step may put the unwrapped step here
        self.param_groups = base.param_groups
        self.steps = 0
        self.slow = [p.detach().clone() for p in self._params()]

    def _params(self) -> list[torch.Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.base.zero_grad(set_to_none=set_to_none)

    @torch.no_grad()
    def step(self, closure=None):
        loss = self.base_step(closure)
        self.steps += 1
        if self.steps % self.k == 0:
            fast = self._params()
            torch._foreach_lerp_(self.slow, fast, self.alpha)  # slow += alpha * (fast - slow)
            torch._foreach_copy_(fast, self.slow)
        return loss

    def stats(self) -> dict[str, Any]:
        return getattr(self.base, "stats", dict)()

    def state_dict(self) -> dict[str, Any]:
        return {
            "base": self.base.state_dict(),
            "slow": [s.clone() for s in self.slow],
            "steps": self.steps,
            "k": self.k,
            "alpha": self.alpha,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.base.load_state_dict(state["base"])
        for slow, saved in zip(self.slow, state["slow"], strict=True):
            slow.copy_(saved)
        self.steps = state["steps"]
