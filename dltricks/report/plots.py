"""PNG figures from the runs' CSV files: learning curves (mean and a band over seeds, one line
per group, like Figure 1 of He et al. 2016), the learning rate, per-layer gradient norms."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dltricks.records import read_csv_rows

Groups = dict[str, list[Path]]  # label -> the run dirs it aggregates


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    return plt


def read_table(path: Path) -> pd.DataFrame:
    if not path.exists():
        return pd.DataFrame()
    header, rows, _ = read_csv_rows(path)
    return pd.DataFrame(rows, columns=header).apply(pd.to_numeric, errors="coerce")


def _stack(runs: list[Path], name: str) -> pd.DataFrame:
    frames = [read_table(r / name).assign(run=str(r)) for r in runs]
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def learning_curves(groups: Groups, path: Path) -> Path | None:
    """Train, val and test error against epoch: one line per group, a band of ±1 std."""
    plt = _pyplot()
    panels = ["train_err", "val_err", "test_err"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharey=True)
    drawn = False
    for label, runs in groups.items():
        df = _stack(runs, "metrics.csv")
        if df.empty:
            continue
        stats = df.groupby("epoch")[panels].agg(["mean", "std"])
        for ax, col in zip(axes, panels, strict=True):
            mean, std = stats[(col, "mean")], stats[(col, "std")].fillna(0)
            (line,) = ax.plot(stats.index, mean, label=label)
            ax.fill_between(stats.index, mean - std, mean + std, alpha=0.2, color=line.get_color())
        drawn = True
    if not drawn:
        plt.close(fig)
        return None
    for ax, col in zip(axes, panels, strict=True):
        ax.set_title(col.replace("_", " "))
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("error")
    axes[-1].legend(fontsize=8)
    return _save(fig, plt, path)


def learning_rate(groups: Groups, path: Path) -> Path | None:
    """The learning rate used at each evaluation, against the update step."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    drawn = False
    for label, runs in groups.items():
        df = read_table(runs[0] / "metrics.csv")
        if not df.empty:
            ax.plot(df["step"], df["lr"], marker=".", label=label)
            drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set(xlabel="step", ylabel="learning rate", title="learning rate")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, plt, path)


def layer_gradients(groups: Groups, path: Path) -> Path | None:
    """Gradient norm of each weight layer (input layer first) at the first and the last
    evaluation: the vanishing-gradient picture. Needs layers.csv (trainer.probes=true)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    drawn = False
    for label, runs in groups.items():
        df = _stack(runs, "layers.csv")
        if df.empty:
            continue
        for epoch, style in ((df["epoch"].min(), "--"), (df["epoch"].max(), "-")):
            at = df[df["epoch"] == epoch].groupby("index")["grad_norm"].mean()
            if not at.empty and at.notna().any():
                ax.plot(at.index, at.values, style, marker="o", label=f"{label} (epoch {epoch})")
                drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set_yscale("log")
    ax.set(xlabel="layer (input first)", ylabel="gradient norm", title="per-layer gradient norm")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    return _save(fig, plt, path)


def _save(fig, plt, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def layer_activations(groups: Groups, path: Path) -> Path | None:
    """The std of each layer's activations at initialization (cs231n's init experiment)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    drawn = False
    for label, runs in groups.items():
        df = _stack(runs, "layers.csv")
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
    ax.legend(fontsize=7)
    return _save(fig, plt, path)


def layer_table(groups: Groups) -> pd.DataFrame:
    """Per group and layer, at initialization (epoch 0) and at the last probe: the mean over
    the group's runs of act_mean, act_std, grad_norm, update_ratio and dead_frac."""
    parts = []
    for label, runs in groups.items():
        df = _stack(runs, "layers.csv")
        if df.empty:
            continue
        for epoch in sorted({df["epoch"].min(), df["epoch"].max()}):
            at = (
                df[df["epoch"] == epoch]
                .groupby("index")[["act_mean", "act_std", "grad_norm", "update_ratio", "dead_frac"]]
                .mean()
            )
            parts.append(at.reset_index().assign(group=label, epoch=epoch))
    if not parts:
        return pd.DataFrame()
    table = pd.concat(parts, ignore_index=True)
    return table[
        ["group", "epoch", "index", "act_mean", "act_std", "grad_norm", "update_ratio", "dead_frac"]
    ]
