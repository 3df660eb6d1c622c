"""The figures of a comparison (`dltricks versus`): the performance profiles, rho(tau) for
each option (AlgoPerf's plot), and each problem's tuning trials, their best validation error
against the learning rate (DeepOBS' sensitivity plot)."""

from __future__ import annotations

import math
from pathlib import Path

from dltricks.report import profiles
from dltricks.report.plots import _legend, _pyplot, _save, _style

SWEPT = ("optimizer.lr", "trainer.lr_scale")  # the x axis of the sensitivity plot, if searched


def profile_plot(r: dict[str, dict[str, float]], options: list[str], path: Path) -> Path | None:
    """rho(tau) over tau in [1, 4], a step line per option."""
    if not r:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.8))
    taus = [1 + 3 * i / 300 for i in range(301)]
    for i, option in enumerate(options):
        style = {**_style(i), "marker": None}
        ax.step(taus, [profiles.rho(r, option, t) for t in taus], where="post", label=option,
                **style)  # fmt: skip
    ax.set(xlabel="tau: within this factor of the fastest (steps to the target)")
    ax.set(ylabel="fraction of problems", title="performance profiles", ylim=(-0.03, 1.03))
    ax.grid(alpha=0.3)
    _legend(fig, ax)
    return _save(fig, plt, path)


def sensitivity_plot(trials: dict[str, list[dict]], options: list[str], path: Path) -> Path | None:
    """Per problem, each tuning trial's best val error against the learning rate (the first
    of SWEPT its trials vary), a line per option."""
    panels = {}
    for problem, rows in trials.items():
        key = next((k for k in SWEPT if len({str(r["config"].get(k)) for r in rows}) > 1), None)
        if key is not None:
            panels[problem] = (key, rows)
    if not panels:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.3 * len(panels), 3.6), squeeze=False)
    for ax, (problem, (key, rows)) in zip(axes[0], panels.items(), strict=True):
        for i, option in enumerate(options):
            points = sorted(
                (float(r["config"][key]), r["best_val_err"])
                for r in rows
                if r["option"] == option and _number(r["config"].get(key))
                and _number(r.get("best_val_err"))
            )  # fmt: skip
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, label=option if ax is axes[0][0] else None, **_style(i))
        ax.set_xscale("log")
        ax.set(title=problem, xlabel=key, ylabel="best val error")
        ax.grid(alpha=0.3, which="both")
    _legend(fig, axes[0][0])
    return _save(fig, plt, path)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
