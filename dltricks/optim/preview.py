"""See a learning-rate schedule before training with it: a table and a PNG of lr(step)."""

from __future__ import annotations

from pathlib import Path

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
