"""`dltricks check [OVERRIDE ...]`: two of cs231n's sanity checks on a built model, before
any training (or on a trained one, with transfer.init_from=RUN_DIR):

- the gradient check: for a sample of weights of every layer, the analytic gradient
  (autograd) against the centred difference (f(w + h) - f(w - h)) / 2h of the objective the
  step minimizes (the loss plus any penalty), in float64; relative error
  |a - n| / max(|a|, |n|): below 1e-7 is right, up to 1e-4 a kink (ReLU at 0) can explain,
  above 1e-2 the gradient is wrong;
- dropout as an ensemble: the weight-scaled network (eval mode) against the average over
  random masks (the ensemble dropout trains). For linear units the average of the logits is
  the weight-scaled logits exactly; with nonlinear units weight scaling is an approximation,
  and the gap is measured.
"""

from __future__ import annotations

import argparse
import copy
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dltricks import optim
from dltricks.errors import EXIT_INTERNAL, EXIT_OK, BadInput, bad_input
from dltricks.models.dropout import ClassicDropout
from dltricks.models.init import WEIGHT_LAYERS

DROPOUT = (nn.Dropout, ClassicDropout)
KINK, WRONG = 1e-4, 1e-2  # relative errors: above KINK suspect, above WRONG wrong


def gradient_check(p: Any, n: int = 16, per_layer: int = 10, h: float = 1e-6) -> list[dict]:
    """Per weight layer: the largest relative error over `per_layer` sampled weights."""
    model = copy.deepcopy(p.model).double().train()
    for m in model.modules():
        if isinstance(m, DROPOUT):
            m.eval()  # one fixed function: no masks while differencing
    x, y = p.data.train.x[:n].double(), p.data.train.y[:n]
    penalized, _ = optim.decayed(model)

    buffers = {k: v.clone() for k, v in model.named_buffers()}  # BatchNorm's statistics

    def objective() -> torch.Tensor:
        loss = p.reg.add_penalty(F.cross_entropy(model(x), y), penalized)
        with torch.no_grad():  # each evaluation from the same statistics: the same function
            for k, v in model.named_buffers():
                v.copy_(buffers[k])
        return loss

    layers = [(name, m) for name, m in model.named_modules() if isinstance(m, WEIGHT_LAYERS)]
    loss = p.reg.add_penalty(F.cross_entropy(model(x), y), penalized)
    grads = torch.autograd.grad(loss, [m.weight for _, m in layers])
    objective()  # puts the statistics back
    rng = torch.Generator().manual_seed(0)
    rows = []
    for (name, m), grad in zip(layers, grads, strict=True):
        picks = torch.randperm(m.weight.numel(), generator=rng)[:per_layer]
        errors = [
            _relative(grad.view(-1)[i].item(), _numeric(m.weight, i, objective, h)) for i in picks
        ]
        worst = max(errors)
        rows.append(
            {
                "layer": name,
                "kind": type(m).__name__.lower(),
                "checked": len(errors),
                "max_rel_error": worst,
                "verdict": "right" if worst < KINK else "kink?" if worst < WRONG else "WRONG",
            }
        )
    return rows


@torch.no_grad()
def _numeric(weight: torch.Tensor, i: int, objective: Any, h: float) -> float:
    flat = weight.view(-1)
    original = flat[i].item()
    flat[i] = original + h
    up = objective().item()
    flat[i] = original - h
    down = objective().item()
    flat[i] = original
    return (up - down) / (2 * h)


def _relative(a: float, n: float) -> float:
    return abs(a - n) / max(abs(a), abs(n), 1e-12)


@torch.no_grad()
def dropout_ensemble(p: Any, masks: int = 200, n: int = 512) -> dict[str, float] | None:
    """Weight scaling against the mean over `masks` dropout masks, on test examples: the
    logits' gap (relative to their spread), and each one's test error. None without dropout."""
    model = p.model
    if not any(isinstance(m, DROPOUT) for m in model.modules()):
        return None
    x, y = p.data.test.x[:n], p.data.test.y[:n]
    model.eval()
    scaled = model(x)
    for m in model.modules():
        if isinstance(m, DROPOUT):
            m.train()  # masks on; BatchNorm stays on its running statistics
    averaged = sum(model(x) for _ in range(masks)) / masks
    mc_probs = sum(F.softmax(model(x), 1) for _ in range(masks)) / masks
    model.eval()
    return {
        "masks": masks,
        "logit_gap": float((averaged - scaled).abs().mean() / scaled.std().clamp_min(1e-12)),
        "scaled_test_err": float((scaled.argmax(1) != y).float().mean()),
        "ensemble_test_err": float((mc_probs.argmax(1) != y).float().mean()),
        "agreement": float((mc_probs.argmax(1) == scaled.argmax(1)).float().mean()),
    }


def main(args: list[str]) -> int:
    p = argparse.ArgumentParser(prog="dltricks check", description=__doc__.split("\n\n")[0])
    p.add_argument("overrides", nargs="*", help="as for train, e.g. norm=batch activation=tanh")
    p.add_argument("--masks", type=int, default=200, help="dropout masks averaged (200)")
    opts = p.parse_args(args)
    if opts.masks < 1:
        return bad_input(f"--masks {opts.masks}: must be >= 1")
    import tempfile

    from dltricks import config
    from dltricks.build import build
    from dltricks.rundir import RunDir

    try:
        with tempfile.TemporaryDirectory() as tmp:
            parts = build(config.load(opts.overrides), RunDir(tmp))
    except BadInput as err:
        return bad_input(str(err))
    rows = gradient_check(parts)
    print(f"gradient check ({'; '.join(opts.overrides) or 'defaults'}), float64, h = 1e-6:")
    for r in rows:
        print(f"  {r['layer']:<24} {r['kind']:<8} {r['max_rel_error']:.2e}  {r['verdict']}")
    ensemble = dropout_ensemble(parts, opts.masks)
    if ensemble is not None:
        print(
            f"dropout as an ensemble ({ensemble['masks']} masks): logits' gap "
            f"{ensemble['logit_gap']:.3g} of their std; test error weight-scaled "
            f"{ensemble['scaled_test_err']:.4f}, averaged over masks "
            f"{ensemble['ensemble_test_err']:.4f}; agreement {ensemble['agreement']:.3f}"
        )
    wrong = [
        r["layer"] for r in rows if not math.isfinite(r["max_rel_error"]) or r["verdict"] == "WRONG"
    ]
    if wrong:
        print(f"the gradient is wrong in {', '.join(wrong)}")
        return EXIT_INTERNAL
    return EXIT_OK
