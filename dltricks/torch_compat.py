"""torch imports its compiler, torch._dynamo (about as long to import as torch itself), the
first time an optimizer is built or stepped: its methods are wrapped so that a compiled
caller does not trace into them, and the wrappers import dynamo to say so. A run that
compiles nothing (trainer.compile=false) has no use for it. `eager_step(optimizer)` gives the
update without those wrappers: the step itself, under no_grad as the wrapper runs it, with
the methods the optimizer calls marked as already handled. tests/test_torch_compat.py fails
loudly if an upgrade of torch changes the mechanism; then this falls back to the plain step.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch

# Optimizer methods wrapped by torch._disable_dynamo, whose wrapper imports dynamo once and
# caches the result on the function as __dynamo_disable
WRAPPED = ("add_param_group", "zero_grad", "state_dict", "load_state_dict")


def skip_dynamo_wrappers() -> bool:
    """Mark the wrappers' cache with the function itself: the wrapper then calls it directly.
    Whether torch still works this way."""
    functions = [getattr(getattr(torch.optim.Optimizer, n), "__wrapped__", None) for n in WRAPPED]
    if any(fn is None for fn in functions):
        return False
    for fn in functions:
        if getattr(fn, "__dynamo_disable", None) is None:
            fn.__dynamo_disable = fn
    return True


def eager_step(optimizer: Any) -> Callable[..., Any]:
    """optimizer.step, unwrapped (for Lookahead: its own step over its base's, unwrapped)."""
    base = getattr(optimizer, "base", None)
    if base is not None:  # Lookahead: a plain class around a torch optimizer
        optimizer.base_step = eager_step(base)
        return optimizer.step
    raw = inspect.unwrap(type(optimizer).step)
    if raw is type(optimizer).step:
        return optimizer.step  # not wrapped: nothing to skip

    def step(closure: Callable[[], Any] | None = None) -> Any:
        with torch.no_grad():  # what the wrapper does for a non-differentiable optimizer
            return raw(optimizer, closure)

    return step
