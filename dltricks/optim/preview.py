"""`dltricks schedule NAME`: see a learning-rate schedule before training with it, a table
and a PNG of lr(step), as settings.lr_schedule composes it for a run."""

from __future__ import annotations

import argparse
from pathlib import Path

from dltricks.errors import EXIT_OK, BadInput, bad_input
from dltricks.optim.schedules import Curve


def curve_points(
    schedule: Curve, lr: float, steps: int, picks: int | None = None
) -> list[tuple[int, float]]:
    """(step, lr) at every step, or at `picks` evenly spaced ones (first and last included):
    a preview of a billion steps computes a few thousand."""
    if picks is None or picks >= steps:
        at = range(steps)
    else:
        at = sorted({round(i * (steps - 1) / (picks - 1)) for i in range(picks)})
    return [(t, lr * schedule(t, steps)) for t in at]


def table(points: list[tuple[int, float]]) -> str:
    return "".join(f"{step:>8}  {lr:.6g}\n" for step, lr in points)


def plot(points: list[tuple[int, float]], title: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([p[0] for p in points], [p[1] for p in points])
    ax.set(xlabel="step", ylabel="learning rate", title=title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def main(args: list[str]) -> int:
    """`dltricks schedule NAME [OVERRIDE ...] --steps N --out PNG`: lr against step."""
    p = argparse.ArgumentParser(
        prog="dltricks schedule", description="Print and plot a learning-rate schedule."
    )
    p.add_argument("name", help="an option of the schedule group, e.g. cosine")
    p.add_argument("overrides", nargs="*", help="e.g. schedule.warmup_steps=100 optimizer.lr=0.1")
    p.add_argument("--steps", type=int, default=1000, help="total updates (default 1000)")
    p.add_argument("--out", type=Path, default=None, help="write the curve as a PNG here")
    opts = p.parse_args(args)
    from dltricks import config

    if opts.steps < 1:
        return bad_input(f"--steps {opts.steps}: must be >= 1")
    if opts.out is not None and (
        opts.out.suffix != ".png" or opts.out.is_dir() or not opts.out.parent.is_dir()
    ):
        return bad_input(f"--out {opts.out}: must name a .png file in an existing folder")
    try:
        cfg = config.load([f"schedule={opts.name}", *opts.overrides])
    except BadInput as err:
        return bad_input(str(err))
    from dltricks.settings import lr_schedule

    curve, lr = lr_schedule(cfg), cfg.optimizer.lr
    print(f"schedule={opts.name} over {opts.steps} steps (lr {lr}):")
    print("    step  lr")
    print(table(curve_points(curve, lr, opts.steps, picks=11)), end="")
    if opts.out is not None:
        points = curve_points(curve, lr, opts.steps, picks=2000)
        try:
            print(f"wrote {plot(points, f'schedule={opts.name}', opts.out)}")
        except OSError as err:
            return bad_input(f"--out {opts.out}: cannot write it ({err.strerror})")
    return EXIT_OK
