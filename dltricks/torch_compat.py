"""torch imports its compiler, torch._dynamo (about as long to import as torch itself), the
first time an optimizer is built or stepped: its methods are wrapped so that a compiled
caller does not trace into them, and the wrappers import dynamo to say so. A run that
compiles nothing (trainer.compile=false) has no use for it. `eager_step(optimizer)` gives the
update without those wrappers: the step itself, under no_grad as the wrapper runs it, between
the optimizer's step pre- and post-hooks (global and its own) as torch's wrapper runs them,
with the methods the optimizer calls marked as already handled. tests/test_torch_compat.py
fails loudly if an upgrade of torch changes the mechanism; then this falls back to the plain
step.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from itertools import chain
from typing import Any

import torch
from torch.optim import optimizer as torch_optimizer

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
    hooks = ("_global_optimizer_pre_hooks", "_global_optimizer_post_hooks")
    if raw is type(optimizer).step or not all(hasattr(torch_optimizer, h) for h in hooks):
        return optimizer.step  # not wrapped (nothing to skip), or torch changed: the plain step

    def step(closure: Callable[[], Any] | None = None) -> Any:
        args, kwargs = (optimizer,), ({} if closure is None else {"closure": closure})
        for pre in chain(
            torch_optimizer._global_optimizer_pre_hooks.values(),
            optimizer._optimizer_step_pre_hooks.values(),
        ):
            changed = pre(optimizer, args, kwargs)
            if changed is not None:
                args, kwargs = changed
        with torch.set_grad_enabled(optimizer.defaults.get("differentiable", False)):
            out = raw(*args, **kwargs)  # as the wrapper runs it, less its dynamo graph breaks
        optimizer._optimizer_step_code()
        for post in chain(
            optimizer._optimizer_step_post_hooks.values(),
            torch_optimizer._global_optimizer_post_hooks.values(),
        ):
            post(optimizer, args, kwargs)
        return out

    return step
