"""Looking inside the network, as the seeds do to explain a failure: per weight layer, the
gradient norm (vanishing gradients), the weight norm, the update/weight ratio (about 1e-3 is
healthy), the mean and std of its activations (cs231n's init experiment) and the fraction of
dead ReLU units.

Probes run on a fixed probe batch of training examples, without side effects on training:
the random state and the BatchNorm running statistics are restored afterwards, so a run with
probes computes the same numbers as one without.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from dltricks import device as devices
from dltricks.models.activations import Activation
from dltricks.models.init import WEIGHT_LAYERS
from dltricks.rundir import MetricsWriter

PROBED = (*WEIGHT_LAYERS, nn.RNNBase)


def weight_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, PROBED)]


def _weights(module: nn.Module) -> list[torch.Tensor]:
    return [p for n, p in module.named_parameters(recurse=False) if n.startswith("weight")]


def _norm(tensors: list[torch.Tensor | None]) -> float:
    present = [t.detach().float() for t in tensors if t is not None]
    return math.sqrt(sum(float(t.pow(2).sum()) for t in present)) if present else math.nan


class Probes:
    """probes.before_step(last) before every update; probes.measure(epoch, step) at each
    evaluation (epoch 0: at initialization, before any update)."""

    def __init__(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        criterion: nn.Module,
        writer: MetricsWriter,
        activation: Activation,
        every: int = 1,
    ) -> None:
        """writer: layers.csv's (RunDir.layers_writer)."""
        self.model, self.x, self.y, self.criterion, self.every = model, x, y, criterion, every
        self.activation = activation
        self.layers = weight_layers(model)
        self.writer = writer
        self.before: list[list[torch.Tensor]] | None = None
        self.ratio_check: dict[str, Any] | None = None  # the first probe after an update

    def before_step(self, last_in_epoch: bool) -> None:
        """Keep the weights of the last update of an epoch: its ||delta w|| / ||w||."""
        if last_in_epoch:
            self.before = [[w.detach().clone() for w in _weights(m)] for _, m in self.layers]

    def due(self, epoch: int) -> bool:
        return epoch % self.every == 0

    def measure(self, epoch: int, step: int) -> list[dict[str, Any]]:
        grads, acts = self._probe_pass()
        rows = []
        for i, ((name, module), grad, act) in enumerate(zip(self.layers, grads, acts, strict=True)):
            weights = _weights(module)
            ratio = math.nan
            if self.before is not None:
                delta = [w.detach() - b for w, b in zip(weights, self.before[i], strict=True)]
                ratio = _norm(delta) / max(_norm(self.before[i]), 1e-30)
            rows.append(
                {
                    "epoch": epoch,
                    "step": step,
                    "layer": name,
                    "index": i,
                    "kind": type(module).__name__.lower(),
                    "grad_norm": grad,
                    "weight_norm": _norm(weights),
                    "update_ratio": ratio,
                    **act,
                }
            )
        for row in rows:
            self.writer.write(row)  # flushed per row; fsynced once, when the run closes it
        if self.ratio_check is None and self.before is not None:
            self.ratio_check = check_update_ratio(epoch, [r["update_ratio"] for r in rows])
        return rows

    def _probe_pass(self) -> tuple[list[float], list[dict[str, float]]]:
        """One forward and backward pass on the probe batch in train mode; the per-layer
        gradient norms and the statistics of each layer's activation."""
        model = self.model
        events: list[tuple[str, Any, nn.Module]] = []
        hooks = [
            m.register_forward_hook(lambda mod, i, out: events.append(("w", out, mod)))
            for _, m in self.layers
        ]
        hooks += [
            m.register_forward_hook(lambda mod, i, out: events.append(("a", out, mod)))
            for m in model.modules()
            if self._is_activation(m)
        ]
        try:
            with side_effect_free(model):
                model.zero_grad(set_to_none=True)
                self.criterion(model(self.x), self.y).backward()
        finally:
            for h in hooks:
                h.remove()
        grads = [_norm([w.grad for w in _weights(m)]) for _, m in self.layers]
        model.zero_grad(set_to_none=True)
        pairs = _pair(events, len(self.layers))
        rectifies = self.activation.rectifies
        return grads, [
            activation_stats(out, rectifies and self._is_activation(m)) for out, m in pairs
        ]

    def _is_activation(self, module: nn.Module) -> bool:
        """A layer of the run's activation (a linear one has none: each weight layer's own
        output is its activation)."""
        kind = self.activation.module_type
        return kind is not nn.Identity and isinstance(module, kind)

    def close(self) -> None:
        self.writer.close()

    def __enter__(self) -> Probes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


UPDATE_RATIO = (1e-4, 1e-1)  # cs231n: about 1e-3 is healthy; warn two decades off or more


def check_update_ratio(epoch: int, ratios: list[float]) -> dict[str, Any]:
    """The layers' median ||delta w|| / ||w|| against cs231n's ~1e-3: far below, the learning
    rate is likely too low; far above, too high. A warning line when it is."""
    finite = sorted(r for r in ratios if math.isfinite(r))
    median = finite[len(finite) // 2] if finite else math.nan
    low, high = UPDATE_RATIO
    ok = bool(low <= median <= high) if finite else None
    if ok is False:
        way = "too low" if median < low else "too high"
        print(
            f"warning: probes: the median update/weight ratio at epoch {epoch} is {median:.2g}, "
            f"outside [{low:g}, {high:g}] (about 1e-3 is healthy): the learning rate is likely "
            f"{way}",
            flush=True,
        )
    return {"epoch": epoch, "median": median, "ok": ok}


def _pair(events: list[tuple[str, Any, nn.Module]], n: int) -> list[tuple[torch.Tensor, nn.Module]]:
    """Each weight layer's activation: the first activation that runs after it, before the
    next weight layer (the output layer, which has none, reports its own outputs)."""
    paired: list[tuple[torch.Tensor, nn.Module]] = []
    has_act = True
    for kind, out, module in events:
        out = out[0] if isinstance(out, tuple) else out  # RNNs return (output, state)
        if kind == "w":
            paired.append((out, module))
            has_act = False
        elif paired and not has_act:
            paired[-1] = (out, module)
            has_act = True
    return paired[:n]


def activation_stats(out: torch.Tensor, rectified: bool) -> dict[str, float]:
    """Mean and std of a layer's activations; with a rectifier, the fraction of dead units."""
    a = out.detach().float()
    dead = math.nan
    if rectified:
        # a unit (a feature, or a channel of a conv layer) is dead when it is never active
        active = (a > 0).transpose(0, 1).flatten(1).any(dim=1)
        dead = 1.0 - active.float().mean().item()
    return {"act_mean": a.mean().item(), "act_std": a.std().item(), "dead_frac": dead}


@contextmanager
def side_effect_free(model: nn.Module) -> Iterator[None]:
    """Run the model in train mode (BatchNorm on batch statistics, as in training) and leave
    no trace: the random state and the BatchNorm running statistics are restored."""
    buffers = {k: v.clone() for k, v in model.named_buffers()}
    was_training = model.training
    where = next(model.parameters(), torch.empty(0)).device
    try:
        with devices.fork_rng(where):  # training's random streams (CPU and CUDA) untouched
            model.train()
            yield
    finally:
        with torch.no_grad():
            for k, v in model.named_buffers():
                v.copy_(buffers[k])
        model.train(was_training)


class NoProbes:
    """trainer.probes=false: the loop pays nothing."""

    ratio_check = None

    def __enter__(self) -> NoProbes:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def before_step(self, last_in_epoch: bool) -> None:
        pass

    def due(self, epoch: int) -> bool:
        return False

    def close(self) -> None:
        pass
