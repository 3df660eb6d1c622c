"""Transfer learning (cs231n, seed 004): start from a trained network's weights, optionally
freeze its first layers as a fixed feature extractor, and fine-tune the rest."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from dltricks.models.init import WEIGHT_LAYERS


def load_matching(
    model: nn.Module, state: dict[str, torch.Tensor], keep_head: bool = False
) -> dict[str, list[str]]:
    """Copy every tensor of `state` whose name and shape match into `model`, but for the
    classifier on top (the last weight layer), which is trained anew for the new task as
    note 004 does, unless keep_head; the rest keep their fresh initialization."""
    own = model.state_dict()
    head = None if keep_head else f"{head_of(model)}."
    loaded = [
        k
        for k, v in state.items()
        if k in own and own[k].shape == v.shape and not (head and k.startswith(head))
    ]
    skipped = sorted(set(own) - set(loaded))
    model.load_state_dict({**own, **{k: state[k] for k in loaded}})
    return {"loaded": loaded, "skipped": skipped}


def weight_layer_count(model: nn.Module) -> int:
    return sum(isinstance(m, WEIGHT_LAYERS) for m in model.modules())


def head_of(model: nn.Module) -> str:
    """The classifier on top: the last weight layer, in the order they are defined."""
    return [n for n, m in model.named_modules() if isinstance(m, WEIGHT_LAYERS)][-1]


def keep_in_eval(model: nn.Module, names: list[str]) -> None:
    """Frozen layers are a fixed feature extractor: a normalization layer among them keeps
    its running statistics (eval mode) while the rest of the model trains."""
    frozen = [m for n, m in model.named_modules() if n in set(names)]
    if not frozen:
        return
    train = model.train  # the model's own (a class may define it)

    def train_the_rest(mode: bool = True) -> nn.Module:
        train(mode)
        for module in frozen:
            module.eval()
        return model

    model.train = train_the_rest  # type: ignore[method-assign]


def freeze_first(model: nn.Module, k: int) -> list[str]:
    """Stop gradients to the first k weight layers (in the order they are defined) and to
    the normalization layers between them; return the frozen modules' names."""
    names: list[str] = []
    seen = 0
    for name, module in model.named_modules():
        if isinstance(module, WEIGHT_LAYERS):
            if seen == k:
                break
            seen += 1
        if seen and next(module.parameters(recurse=False), None) is not None:
            for p in module.parameters(recurse=False):
                p.requires_grad_(False)
            names.append(name)
    return names


def summary(init_from: Any, result: dict[str, list[str]] | None, frozen: list[str]) -> dict:
    return {
        "init_from": str(init_from) if init_from else None,
        "loaded": len(result["loaded"]) if result else 0,
        "reinitialized": result["skipped"] if result else [],
        "frozen": frozen,
    }
