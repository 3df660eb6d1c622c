"""Optimizers: torch.optim where it has the method; the rest written here.

build() hands the optimizer two parameter groups: weights, and the parameters that are never
decayed or penalized (biases and normalization parameters: the seeds regularize weights only).

The package imports torch only inside these functions: `dltricks schedule` previews a
schedule (optim/schedules.py) without loading torch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

# An optimizer's `form` where torch's rule and the paper's algorithm part ways (AdamW, SGDW,
# AMSGrad): torch's by default, the paper's on request; each module says how they differ.
FORMS = ("torch", "paper")


class Forms:
    """What the optimizers with a `form` share (mixed in before their torch.optim base): each
    parameter group carries its form (a stacked run's members may differ), a group added
    later takes the default, and a checkpoint from before `form` loads as torch's."""

    def take_form(self, form: str) -> None:
        if form not in FORMS:
            raise ValueError(f"form={form!r}: must be one of {', '.join(FORMS)}")
        self.defaults["form"] = form
        for group in self.param_groups:
            group.setdefault("form", form)

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("form", "torch")  # a checkpoint from before `form`


if TYPE_CHECKING:
    import torch
    from torch import nn


def decayed(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(weights, others): the weights of Linear/Conv layers, and biases, norm and activation
    parameters (PReLU slopes), which weight decay and L1/L2 penalties leave alone."""
    from torch import nn

    norm_layers = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)
    weights: list[nn.Parameter] = []
    others: list[nn.Parameter] = []
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad:
                continue
            is_weight = name == "weight" and not isinstance(module, norm_layers) and p.ndim > 1
            (weights if is_weight else others).append(p)
    return weights, others


def build(
    factory: Callable[[Iterable[dict]], torch.optim.Optimizer],
    model: nn.Module,
    lookahead_k: int | None = None,
    lookahead_alpha: float = 0.5,
) -> Any:
    """The optimizer over `model`, with no weight decay on biases and norm parameters,
    wrapped in Lookahead when lookahead_k is set."""
    from dltricks.optim.lookahead import Lookahead

    weights, others = decayed(model)
    groups = [{"params": weights}, {"params": others, "weight_decay": 0.0}]
    if not getattr(factory, "keywords", {}).get("weight_decay"):
        groups = [{"params": weights + others}]  # nothing to tell apart: one group is faster
    optimizer = factory([g for g in groups if g["params"]])
    for group in optimizer.param_groups:
        group.setdefault("initial_lr", group["lr"])  # schedules scale this
    if lookahead_k:
        return Lookahead(optimizer, k=lookahead_k, alpha=lookahead_alpha)
    return optimizer


def stats(optimizer: Any) -> dict[str, Any]:
    """What an optimizer reports for metrics.csv (SWATS: its switch step); {} for most."""
    return getattr(optimizer, "stats", dict)()


def set_lr(optimizer: torch.optim.Optimizer, multiplier: float) -> float:
    """Set every group's lr to initial_lr * multiplier; return the first group's lr."""
    for group in optimizer.param_groups:
        group["lr"] = group["initial_lr"] * multiplier
    return optimizer.param_groups[0]["lr"]
