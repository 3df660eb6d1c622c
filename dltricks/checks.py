"""`dltricks check [OVERRIDE ...]`: two of cs231n's sanity checks on a built model, before
any training (or on a trained one, with transfer.init_from=RUN_DIR):

- the gradient check: for a sample of entries of every parameter of every layer (weights,
  biases, norm and activation parameters), the analytic gradient (autograd) against the
  centred difference (f(w + h) - f(w - h)) / 2h of the objective the step minimizes (the loss
  plus any penalty), in float64. A centred difference resolves a derivative only down to its
  own rounding, about eps * |f| / h: an entry whose gradient is below a hundred times that
  gets no verdict ("too small to check": the stem of a 20-layer sigmoid net, whose gradients
  have vanished). Of the others, the relative error |a - n| / max(|a|, |n|): below 1e-4 is
  right, up to 1e-2 a kink (ReLU at 0) can explain, above that the gradient is wrong;
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

DROPOUT = (nn.Dropout, ClassicDropout)
KINK, WRONG = 1e-4, 1e-2  # relative errors: above KINK suspect, above WRONG wrong
RESOLVED = 100.0  # a gradient this many times the difference's rounding gets a verdict
EPS = torch.finfo(torch.float64).eps


def gradient_check(p: Any, n: int = 16, per_tensor: int = 10, h: float = 1e-6) -> list[dict]:
    """Per parameter tensor of every layer: the largest relative error over up to
    `per_tensor` sampled entries whose gradient the difference resolves, and the verdict."""
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

    named = [(name, t) for name, t in model.named_parameters() if t.requires_grad]
    loss = p.reg.add_penalty(F.cross_entropy(model(x), y), penalized)
    grads = torch.autograd.grad(loss, [t for _, t in named])
    objective()  # puts the statistics back
    rng = torch.Generator().manual_seed(0)
    owner = {  # a parameter's layer kind: linear, batchnorm1d, prelu...
        f"{m}.{k}" if m else k: type(mod).__name__.lower()
        for m, mod in model.named_modules()
        for k, _ in mod.named_parameters(recurse=False)
    }
    rows = []
    for (name, tensor), grad in zip(named, grads, strict=True):
        picks = torch.randperm(tensor.numel(), generator=rng)[:per_tensor].tolist()
        checked = [e for e in (_entry(tensor, grad, i, objective, h) for i in picks) if e]
        worst = max((err for err, _ in checked), default=math.nan)
        grades = {grade for _, grade in checked}
        verdict = next(
            (g for g in ("WRONG", "kink?", "right") if g in grades), "too small to check"
        )
        errors = checked
        row = {"layer": name, "kind": owner.get(name, "?"), "checked": len(errors)}
        rows.append({**row, "sampled": len(picks), "max_rel_error": worst, "verdict": verdict})
    return rows


def _entry(tensor: torch.Tensor, grad: torch.Tensor, i: int, objective: Any, h: float) -> Any:
    """(relative error, grade) at one entry (flat index i, whatever the tensor's memory
    layout), or None where the centred difference cannot resolve the gradient. The grade
    allows the difference its rounding: right within KINK of the gradient (or ten times the
    rounding), a kink within WRONG, else WRONG."""
    at = tuple(int(v) for v in torch.unravel_index(torch.tensor(i), tensor.shape))
    analytic = grad[at].item()
    numeric, f = _numeric(tensor, at, objective, h)
    rounding = EPS * max(abs(f), 1e-300) / h  # the difference's own precision
    scale, diff = max(abs(analytic), abs(numeric)), abs(analytic - numeric)
    if scale < RESOLVED * rounding:
        return None
    grade = next(
        (
            g
            for g, tol in (("right", KINK), ("kink?", WRONG))
            if diff <= max(tol * scale, 10 * rounding)
        ),
        "WRONG",
    )
    return diff / scale, grade


@torch.no_grad()
def _numeric(tensor: torch.Tensor, at: tuple[int, ...], objective: Any, h: float) -> tuple:
    original = tensor[at].item()
    tensor[at] = original + h
    up = objective().item()
    tensor[at] = original - h
    down = objective().item()
    tensor[at] = original
    return (up - down) / (2 * h), max(abs(up), abs(down))


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
    print(
        f"gradient check ({'; '.join(opts.overrides) or 'defaults'}), float64, h = 1e-6, "
        "every parameter (relative error, of the entries the difference resolves):"
    )
    for r in rows:
        err = "-" if math.isnan(r["max_rel_error"]) else f"{r['max_rel_error']:.2e}"
        print(f"  {r['layer']:<28} {r['kind']:<12} {err:>9}  {r['verdict']}")
    ensemble = dropout_ensemble(parts, opts.masks)
    if ensemble is not None:
        print(
            f"dropout as an ensemble ({ensemble['masks']} masks): logits' gap "
            f"{ensemble['logit_gap']:.3g} of their std; test error weight-scaled "
            f"{ensemble['scaled_test_err']:.4f}, averaged over masks "
            f"{ensemble['ensemble_test_err']:.4f}; agreement {ensemble['agreement']:.3f}"
        )
    wrong = [r["layer"] for r in rows if r["verdict"] == "WRONG"]
    if wrong:
        print(f"the gradient is wrong in {', '.join(wrong)}")
        return EXIT_INTERNAL
    return EXIT_OK
