"""The learning-rate range test (Smith 2017; the seeds' "plot the loss against updates"):
train for a few hundred updates while the learning rate grows exponentially from min_lr to
max_lr, and record the loss. The loss falls once the rate is useful and blows up once it is
too large; the suggestion is the rate where the smoothed loss falls fastest."""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from dltricks.build import build
from dltricks.errors import EXIT_OK, BadInput, bad_input
from dltricks.rundir import OUTPUTS, MetricsWriter, RunDir


def lr_find(
    cfg: DictConfig,
    out: Path,
    steps: int = 200,
    min_lr: float = 1e-6,
    max_lr: float = 10.0,
    beta: float = 0.9,
    stop_factor: float = 4.0,
) -> dict[str, Any]:
    """Run the test on the model, data and optimizer `cfg` picks; write lr_find.csv/.png."""
    p = build(cfg, RunDir(out))
    rows = range_test(p, steps, min_lr, max_lr, beta, stop_factor)
    suggested = suggest(rows)
    with MetricsWriter(out / "lr_find.csv", ["step", "lr", "loss", "smoothed"], fresh=True) as w:
        for row in rows:
            w.write(row)
    plot(rows, suggested, out / "lr_find.png")
    best = min(rows, key=lambda r: r["smoothed"])
    return {
        "suggested_lr": suggested,
        "min_loss_lr": best["lr"],
        "min_loss": best["smoothed"],
        "steps": len(rows),
        "min_lr": min_lr,
        "max_lr": max_lr,
    }


def range_test(
    p: Any, steps: int, min_lr: float, max_lr: float, beta: float, stop_factor: float
) -> list[dict[str, float]]:
    """The loss of each update while the rate grows, each update the training loop's own
    (train.train_step: autocast, the grad scaler, perturbations, gradient hooks)."""
    from dltricks.train import train_step

    data, base_lr = p.data, p.optimizer.param_groups[0]["initial_lr"]
    p.model.train()
    rows: list[dict[str, float]] = []
    avg, best, epoch, batches = 0.0, math.inf, 0, iter(())
    for step in range(steps):
        lr = min_lr * (max_lr / min_lr) ** (step / max(steps - 1, 1))
        x, y = next(batches, (None, None))
        if x is None:  # a fresh shuffled pass over the training data
            epoch += 1
            visit = p.order(epoch).to(p.device)
            xs, ys = data.train.x[visit], data.train.y[visit]
            batches = (
                (xs[i : i + p.batch_size], ys[i : i + p.batch_size])
                for i in range(0, len(ys), p.batch_size)
            )
            x, y = next(batches)
        value = train_step(p, x, y, lr / base_lr, step).item()  # a sync a step: a few hundred
        avg = beta * avg + (1 - beta) * value
        smoothed = avg / (1 - beta ** (step + 1))  # bias-corrected running mean
        rows.append({"step": step, "lr": lr, "loss": value, "smoothed": smoothed})
        best = min(best, smoothed)
        if not math.isfinite(smoothed) or smoothed > stop_factor * best:
            break  # diverged: the rest of the range says nothing more
    return rows


def suggest(rows: list[dict[str, float]]) -> float:
    """The lr where the smoothed loss falls fastest against log(lr), before its minimum."""
    finite = [r for r in rows if math.isfinite(r["smoothed"])]
    stop = min(range(len(finite)), key=lambda i: finite[i]["smoothed"])
    part = finite[: stop + 1]
    if len(part) < 3:
        return finite[stop]["lr"] / 10
    slopes = [
        (part[i + 1]["smoothed"] - part[i - 1]["smoothed"])
        / (math.log(part[i + 1]["lr"]) - math.log(part[i - 1]["lr"]))
        for i in range(1, len(part) - 1)
    ]
    return part[1 + min(range(len(slopes)), key=slopes.__getitem__)]["lr"]


def plot(rows: list[dict[str, float]], suggested: float, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.8))
    ax.plot([r["lr"] for r in rows], [r["loss"] for r in rows], alpha=0.3, label="loss")
    ax.plot([r["lr"] for r in rows], [r["smoothed"] for r in rows], label="smoothed")
    ax.axvline(suggested, color="red", linestyle="--", label=f"suggested {suggested:.3g}")
    ax.set_xscale("log")
    ax.set_ylim(0, 1.3 * rows[0]["smoothed"])  # the start's loss and below: where it falls
    ax.set(xlabel="learning rate", ylabel="training loss", title="learning-rate range test")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def main(args: list[str]) -> int:
    """`dltricks lr-find [OVERRIDE ...]`: the learning-rate range test for any model and
    optimizer the overrides pick."""
    p = argparse.ArgumentParser(
        prog="dltricks lr-find", description="The learning-rate range test (Smith 2017)."
    )
    p.add_argument("overrides", nargs="*", help="as for train, e.g. optimizer=adam model.depth=8")
    p.add_argument("--steps", type=int, default=200, help="updates (default 200)")
    p.add_argument("--min-lr", type=float, default=1e-6)
    p.add_argument("--max-lr", type=float, default=10.0)
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where lr_find.csv and .png go (default outputs/lr_find/<time>)",
    )
    opts = p.parse_args(args)
    if opts.steps < 10 or not 0 < opts.min_lr < opts.max_lr < math.inf:
        return bad_input("--steps must be >= 10 and 0 < --min-lr < --max-lr, both finite")
    from dltricks import config

    out = opts.out or OUTPUTS / "lr_find" / time.strftime("%Y-%m-%d/%H-%M-%S")
    try:
        cfg = config.load(opts.overrides)
        out.mkdir(parents=True, exist_ok=True)
        result = lr_find(cfg, out, opts.steps, opts.min_lr, opts.max_lr)
    except BadInput as err:
        return bad_input(str(err))
    except OSError as err:
        return bad_input(f"--out {out}: {err.strerror}")
    print(
        f"lr-find over {result['steps']} steps, lr {opts.min_lr:g} .. {opts.max_lr:g}: "
        f"lowest smoothed loss {result['min_loss']:.4f} at lr {result['min_loss_lr']:.3g}"
    )
    print(f"suggested lr: {result['suggested_lr']:.3g} (steepest descent of the loss)")
    print(f"wrote {out / 'lr_find.csv'}, {out / 'lr_find.png'}")
    return EXIT_OK
