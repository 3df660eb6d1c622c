"""See a learning-rate schedule before training with it: a table and a PNG of lr(step)."""

from __future__ import annotations

from pathlib import Path

from dltricks.optim.schedules import Curve


def curve_points(schedule: Curve, lr: float, steps: int) -> list[tuple[int, float]]:
    return [(t, lr * schedule(t, steps)) for t in range(steps)]


def table(points: list[tuple[int, float]], rows: int = 11) -> str:
    """The lr at `rows` evenly spaced steps, first and last included."""
    n = len(points)
    picks = sorted({round(i * (n - 1) / (rows - 1)) for i in range(rows)}) if n > 1 else [0]
    return "".join(f"{points[i][0]:>8}  {points[i][1]:.6g}\n" for i in picks)


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
