"""PNG figures from the runs' CSV files: learning curves (mean and a band over seeds, one line
per group, like Figure 1 of He et al. 2016), the learning rate, per-layer gradient norms."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from dltricks.report.runs import curves
from dltricks.report.runs import stack as _stack

Groups = dict[str, list[Path]]  # label -> the run dirs it aggregates


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    return plt


ERRORS = ("train_err", "val_err", "test_err")
LOSSES = ("train_loss", "val_loss", "test_loss")


def learning_curves(groups: Groups, path: Path, panels: tuple[str, ...] = ERRORS) -> Path | None:
    """Train, val and test error (or loss: panels=LOSSES, on a log axis) against epoch: one
    line per group, the mean over its runs and a band of ±1 std."""
    plt = _pyplot()
    loss = panels == LOSSES
    fig, axes = plt.subplots(1, len(panels), figsize=(13, 3.8), sharey=True)
    first = []  # each group's mean loss after the first epoch: where the y axis may end
    drops: list[tuple[float, float]] = []  # where the first group's rate falls, as the paper shows
    for i, (label, runs) in enumerate(groups.items()):
        df = _stack(runs, columns=("epoch", "lr", *panels))
        if df.empty or not set(panels) <= set(df.columns):
            continue
        drops = drops or lr_drops(df)
        stats = df.groupby("epoch")[list(panels)].agg(["mean", "std"])
        for ax, col in zip(axes, panels, strict=True):
            mean, std = stats[(col, "mean")], stats[(col, "std")].fillna(0)
            style = {**_style(i), "marker": None}
            ax.plot(stats.index, mean, label=label, **style)
            low = (mean - std).clip(lower=0)  # errors and losses are never below 0
            ax.fill_between(stats.index, low, mean + std, alpha=0.2, color=style["color"])
        first.append(stats[(panels[0], "mean")].iloc[0])
    if not first:
        plt.close(fig)
        return None
    for ax, col in zip(axes, panels, strict=True):
        for k, (epoch, factor) in enumerate(drops):
            mark = f"lr / {factor:.3g}" if k == 0 and ax is axes[-1] else None
            ax.axvline(epoch, color="0.5", linestyle="--", linewidth=0.8, label=mark)
        ax.set_title(col.replace("_", " "))
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(_integers())  # epochs are whole: no 2.5
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("loss" if loss else "error")
    if loss:
        axes[0].set_yscale("log")
        finite = [v for v in first if np.isfinite(v)]
        if finite:  # a diverged run's loss would squash every other curve to the bottom
            axes[0].set_ylim(top=3 * max(finite))
    _legend(fig, axes[-1])
    return _save(fig, plt, path)


def lr_drops(df: pd.DataFrame) -> list[tuple[float, float]]:
    """(epoch, factor) for each drop of the rate by at least 2x between two evaluations (a
    step schedule's drops; a smooth schedule has none): marked at the earlier of the two."""
    if "lr" not in df or df["lr"].isna().all():
        return []
    lr = df.groupby("epoch")["lr"].median()
    before = lr.shift(1)
    ratio = before / lr
    # the drop came after the evaluation before it (a milestone at an epoch's end: exactly)
    at = pd.Series(lr.index, index=lr.index).shift(1)
    return [(float(at[e]), float(r)) for e, r in ratio.items() if np.isfinite(r) and r >= 2]


def sensitivity(numbers: pd.DataFrame, by: list[str], x: str, metrics: list[str], path: Path):
    """Each metric (mean ± std over a group's runs) against one grouping key, a line per
    combination of the other keys: e.g. best val error against the learning rate, a line
    per optimizer. A numeric key spanning a factor of 10 or more gets a log axis."""
    plt = _pyplot()
    metrics = [m for m in metrics if numbers[f"{m}_mean"].notna().any()]
    if not metrics:
        return None
    lines, axis = sensitivity_lines(numbers, by, x)
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.3 * len(metrics) + 1, 3.8), squeeze=False)
    for i, (label, part) in enumerate(lines.items()):
        # categories get points, not lines: nothing lies between two of them
        style = {**_style(i), "linestyle": "none"} if axis.categorical else _style(i)
        for ax, m in zip(axes[0], metrics, strict=True):
            mean, std = part[f"{m}_mean"], part[f"{m}_std"].fillna(0)
            ax.errorbar(part["_x"], mean, yerr=std, capsize=3, label=label, **style)
    for ax, m in zip(axes[0], metrics, strict=True):
        ax.set(xlabel=x, title=m.replace("_", " "))
        ax.grid(alpha=0.3)
        if axis.log:
            ax.set_xscale("log")
        if axis.ticks:
            ax.minorticks_off()
            ax.set_xticks(list(axis.ticks), list(axis.ticks.values()))
        if axis.categorical:
            ax.tick_params(axis="x", labelrotation=30)
    if len(by) > 1:  # one line needs no legend
        _legend(fig, axes[0][-1])
    return _save(fig, plt, path)


class XAxis(NamedTuple):
    """How a key's values lie along the x axis."""

    ticks: dict  # position -> label ({}: matplotlib's own)
    log: bool  # a logarithmic axis
    categorical: bool  # the values are names, placed in the order they first appear


def sensitivity_lines(
    numbers: pd.DataFrame, by: list[str], x: str
) -> tuple[dict[str, pd.DataFrame], XAxis]:
    """The grouped table split into one line per combination of the `by` keys other than
    `x`, each sorted by its position `_x` on the x axis; and that axis."""
    position, axis = _positions(numbers[x])
    others = [k for k in by if k != x]
    data = numbers.assign(_x=position)
    parts = data.groupby(others, sort=False) if others else [((), data)]
    lines = {}
    for key, part in parts:
        key = key if isinstance(key, tuple) else (key,)
        label = ", ".join(f"{k}={v}" for k, v in zip(others, key, strict=True)) or x
        lines[label] = part.sort_values("_x")
    return lines, axis


def _positions(values: pd.Series) -> tuple[pd.Series, XAxis]:
    """Where each value of a key goes on the x axis, and the axis: numbers as they are (log
    where they span 10x or more, labelled at the values when there are few), anything else
    as categories in the order they first appear."""
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.isna().any():
        order = list(dict.fromkeys(values))
        return values.map(order.index), XAxis(dict(enumerate(order)), False, True)
    distinct = sorted(set(numeric))
    ticks = {v: f"{v:g}" for v in distinct} if len(distinct) <= 12 else {}
    log = bool(distinct[0] > 0 and distinct[-1] >= 10 * distinct[0])
    return numeric, XAxis(ticks, log, False)


def _integers():
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def _style(i: int) -> dict:
    """Line i's look: ten colours, then the same colours dashed, then dotted."""
    return {"color": f"C{i % 10}", "linestyle": ("-", "--", ":")[i // 10 % 3], "marker": "o"}


def _legend(fig, ax) -> None:
    """One legend for the figure, outside the panels on the right, so it hides no curve."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(
            handles,
            labels,
            loc="center left",
            bbox_to_anchor=(1.0, 0.5),
            fontsize=8,
            ncol=1 + len(labels) // 24,
            frameon=False,
        )


def learning_rate(groups: Groups, path: Path) -> Path | None:
    """The learning rate used at each evaluation, against the update step."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    rates = []
    for label, runs in groups.items():
        df = curves(runs[0], ("step", "lr"))
        if not df.empty:
            ax.plot(df["step"], df["lr"], marker=".", label=label)
            rates += [r for r in df["lr"] if r > 0]
    if not rates:
        plt.close(fig)
        return None
    if max(rates) >= 10 * min(rates):  # a decay over decades: equal steps, equal distances
        ax.set_yscale("log")
    ax.set(xlabel="step", ylabel="learning rate", title="learning rate")
    ax.grid(alpha=0.3)
    _legend(fig, ax)
    return _save(fig, plt, path)


def layer_gradients(groups: Groups, path: Path) -> Path | None:
    """Gradient norm of each weight layer (input layer first) at the first and the last
    evaluation: the vanishing-gradient picture. Needs layers.csv (trainer.probes=true)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    drawn = False
    for i, (label, runs) in enumerate(groups.items()):
        df = _stack(runs, layers=True, columns=("epoch", "index", "grad_norm"))
        if df.empty:
            continue
        # a group keeps its colour; dashed at the first probe, solid at the last
        for epoch, dash in ((df["epoch"].min(), "--"), (df["epoch"].max(), "-")):
            at = df[df["epoch"] == epoch].groupby("index")["grad_norm"].mean()
            if not at.empty and at.notna().any():
                style = {**_style(i), "linestyle": dash}
                ax.plot(at.index, at.values, label=f"{label} (epoch {epoch})", **style)
                drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set_yscale("log")
    ax.set(xlabel="layer (input first)", ylabel="gradient norm", title="per-layer gradient norm")
    ax.grid(alpha=0.3, which="both")
    _legend(fig, ax)
    return _save(fig, plt, path)


def _save(fig, plt, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)
    return path


def layer_activations(groups: Groups, path: Path) -> Path | None:
    """The std of each layer's activations at initialization (cs231n's init experiment)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    drawn = False
    for label, runs in groups.items():
        df = _stack(runs, layers=True, columns=("epoch", "index", "act_std"))
        if df.empty or 0 not in set(df["epoch"]):
            continue
        at = df[df["epoch"] == 0].groupby("index")["act_std"].mean()
        ax.plot(at.index, at.values, marker="o", label=label)
        drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set_yscale("log")
    ax.set(
        xlabel="layer (input first)",
        ylabel="activation std at initialization",
        title="activations at initialization",
    )
    ax.grid(alpha=0.3, which="both")
    _legend(fig, ax)
    return _save(fig, plt, path)
