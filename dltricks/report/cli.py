"""`dltricks report [PATH ...]`: a table (one row per run, or per group with --by), the
seeds' diagnosis, and with --out the same table as a file plus PNG plots."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from dltricks.errors import EXIT_BAD_INPUT, BadInput, say
from dltricks.report import compare, plots, render, table
from dltricks.report.diagnosis import Thresholds, diagnose
from dltricks.report.runs import find_runs, load_run

OUTPUTS = Path("outputs")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dltricks report",
        description="Summarize runs: a table, the seeds' diagnosis, and plots with --out.",
    )
    p.add_argument(
        "paths",
        nargs="*",
        type=Path,
        help="run or sweep dirs, searched recursively (default: the newest "
        "sweep or run under outputs/)",
    )
    p.add_argument(
        "--by",
        default="",
        help="group runs by these keys (comma separated), "
        "e.g. model.depth,model.residual; seeds are aggregated as mean ± std",
    )
    p.add_argument(
        "--metric",
        default=",".join(table.DEFAULT_METRICS),
        help=f"metrics to show (default {','.join(table.DEFAULT_METRICS)}); any "
        f"of {', '.join(table.METRIC_COLUMNS)}",
    )
    p.add_argument(
        "--x",
        default=None,
        metavar="KEY",
        help="with --out, also plot the metrics against this --by key, a line per group of "
        "the other --by keys (sensitivity.png), e.g. best_val_err against trainer.lr_scale",
    )
    p.add_argument("--sort", default=None, help="sort by this column (a key or a metric)")
    p.add_argument("--format", choices=render.FORMATS, default="table")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="also write the table (in --format; markdown if table) and PNG plots",
    )
    p.add_argument(
        "--compare",
        nargs=2,
        metavar=("A", "B"),
        default=None,
        help="two groups side by side with B - A: each a path or key=value[,...]",
    )
    p.add_argument(
        "--high-train-err",
        type=float,
        default=Thresholds.train_err,
        help=f"train error above this is an optimization problem (default {Thresholds.train_err})",
    )
    p.add_argument(
        "--gap",
        type=float,
        default=Thresholds.gap,
        help=f"held-out minus train error above this is overfitting (default {Thresholds.gap})",
    )
    p.add_argument(
        "--layers",
        action="store_true",
        help="also the per-layer table (needs trainer.probes=true): activation "
        "mean/std, gradient norm, update ratio, dead units, at initialization "
        "and at the last probe",
    )
    p.add_argument(
        "--target",
        type=float,
        default=None,
        help="add steps_to_target: the first step where val_err <= this",
    )
    return p


def main(args: list[str]) -> int:
    opts = parser().parse_args(args)
    try:
        text = report(opts)
    except BadInput as err:
        say(str(err))
        return EXIT_BAD_INPUT
    sys.stdout.write(text)
    return 0


def report(opts: argparse.Namespace) -> str:
    roots = opts.paths or [newest_output()]
    for root in roots:
        if not root.exists():
            raise BadInput(f"{root}: no such file or directory")
    run_dirs = find_runs(roots)
    if not run_dirs:
        raise BadInput(
            f"no runs under {', '.join(map(str, roots))} (a run dir holds "
            "summary.json or metrics.csv); run `dltricks train` first"
        )
    by = [k for k in opts.by.split(",") if k]
    if opts.x is not None and opts.x not in by:
        raise BadInput(f"--x {opts.x}: not a --by key; add it to --by (e.g. --by ...,{opts.x})")
    if opts.x is not None and opts.out is None:
        raise BadInput(f"--x {opts.x}: the plot is a file; add --out DIR")
    rows = [load_run(d, opts.target) for d in run_dirs]
    df = table.frame(rows, by)
    df["run"] = [_relative(Path(r), roots) for r in df["run"]]
    metrics = _metrics(opts.metric)
    limits = Thresholds(opts.high_train_err, opts.gap)
    if opts.compare:
        shown, numbers = compare.compare(df, rows, opts.compare, metrics), None
        notes: list[str] = []
        labels: dict[str, list[Path]] = {}
    else:
        shown, numbers, notes, labels = summarize(df, run_dirs, by, metrics, limits, opts.sort)
    notes += [f"{r}: {w}" for r, w in zip(df["run"], df["warnings"], strict=True) if w]
    title = f"dltricks report: {len(run_dirs)} runs under {_where(roots)}"
    layers = _layer_table(labels) if opts.layers else None
    if opts.out is None:
        if layers is not None and opts.format in ("csv", "json"):
            raise BadInput(
                f"--layers --format {opts.format}: two tables; add --out DIR to write "
                f"the per-layer one as layers.{opts.format} beside report.{opts.format}"
            )
        sections = {LAYERS: layers} if layers is not None else {}
        data = _data(shown, numbers, opts.format)
        return render.render(data, opts.format, title, notes, sections=sections)
    plot = Sensitivity(opts.x, by, metrics) if opts.x and numbers is not None else None
    return write_out(opts, shown, numbers, title, notes, labels, layers, plot)


LAYERS = "Per-layer statistics (mean over each group's runs)"


def _layer_table(labels: dict[str, list[Path]]) -> pd.DataFrame:
    """The per-layer table: at initialization (epoch 0) and at the last probe."""
    layers = plots.layer_table(labels)
    if layers.empty:
        raise BadInput("--layers: no layers.csv in these runs (train with trainer.probes=true)")
    return layers


def summarize(df, run_dirs, by, metrics, limits, sort):
    """(display table, numeric table, notes, plot groups) for runs or groups of runs."""
    for key in by:
        if df[key].isna().all():
            raise BadInput(
                f"--by {key}: no run has this key (try a group name such as "
                "optimizer, or a config key such as model.depth)"
            )
    if by:
        numbers = table.group(df, by, [*dict.fromkeys([*metrics, "train_err", "val_err"])])
        shown = table.display(numbers, by, metrics, grouped=True)
        names = [_label(by, tuple(r)) for r in numbers[by].to_numpy()]
        labels = dict(
            zip(
                names,
                ([run_dirs[i] for i in idx] for idx in _indices(df, by).values()),
                strict=True,
            )
        )
        judged = zip(
            numbers["statuses"].map(_worst),
            numbers["train_err_mean"],
            numbers["val_err_mean"],
            strict=True,
        )
    else:
        numbers = df
        keys = table.varying(df)
        shown = table.display(df, ["run", *keys], metrics, grouped=False)
        names = list(df["run"])
        labels = {
            _label(keys, tuple(r)) or run: [d]
            for r, run, d in zip(df[keys].to_numpy(), df["run"], run_dirs, strict=True)
        }
        judged = zip(df["status"], df["train_err"], df["val_err"], strict=True)
    verdicts = [diagnose(status, tr, va, limits) for status, tr, va in judged]
    shown["diagnosis"] = [v.label for v in verdicts]
    notes = [f"{name}: {v.advice}" for name, v in zip(names, verdicts, strict=True)]
    if sort:
        shown = _sorted(shown, numbers, sort, by)
    return shown, numbers, notes, labels


def _worst(statuses: str) -> str:
    """A group's statuses ('2 completed, 1 diverged') -> the one that matters most."""
    for s in ("diverged", "failed", "crashed"):
        if s in statuses:
            return s
    return statuses.split()[-1]


def _indices(df: pd.DataFrame, by: list[str]) -> dict[tuple, list[int]]:
    out: dict[tuple, list[int]] = {}
    for i, vals in enumerate(df[by].apply(table.as_text).itertuples(index=False, name=None)):
        out.setdefault(vals, []).append(i)
    return out


def _label(keys: list[str], values: tuple) -> str:
    return ", ".join(f"{k}={v}" for k, v in zip(keys, values, strict=True))


def _sorted(shown: pd.DataFrame, numbers: pd.DataFrame, sort: str, by: list[str]):
    column = f"{sort}_mean" if by and f"{sort}_mean" in numbers else sort
    if column not in numbers:
        raise BadInput(f"--sort {sort}: no such column; use one of {', '.join(shown.columns)}")
    order = numbers[column].sort_values(kind="stable", na_position="last").index
    return shown.loc[order].reset_index(drop=True)


def _metrics(spec: str) -> list[str]:
    metrics = [m for m in spec.split(",") if m]
    for m in metrics:
        if m not in table.METRIC_COLUMNS:
            raise BadInput(f"--metric {m}: unknown; use any of {', '.join(table.METRIC_COLUMNS)}")
    return metrics


class Sensitivity(NamedTuple):
    """--x: the key along the x axis, the --by keys, the metrics to plot."""

    x: str
    by: list[str]
    metrics: list[str]


def write_out(opts, shown, numbers, title, notes, labels, layers=None, plot=None) -> str:
    out: Path = opts.out
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BadInput(f"--out {out}: cannot create it ({err.strerror})") from None
    images = (
        [
            p
            for p in (
                plots.learning_curves(labels, out / "curves.png"),
                plots.learning_curves(labels, out / "loss.png", plots.LOSSES),
                plots.learning_rate(labels, out / "lr.png"),
                plots.layer_gradients(labels, out / "layer_gradients.png"),
                plots.layer_activations(labels, out / "layer_activations.png"),
                plot
                and plots.sensitivity(
                    numbers, plot.by, plot.x, plot.metrics, out / "sensitivity.png"
                ),
            )
            if p is not None
        ]
        if labels
        else []
    )
    fmt = "markdown" if opts.format == "table" else opts.format
    target = out / f"report.{render.SUFFIX[fmt]}"
    sections = {LAYERS: layers} if layers is not None else {}
    written = [target, *images]
    if layers is not None and fmt in ("csv", "json"):  # machine formats: one table a file
        written.insert(1, out / f"layers.{render.SUFFIX[fmt]}")
        written[1].write_text(render.render(layers, fmt, title, []))
        sections = {}
    data = _data(shown, numbers, fmt)
    target.write_text(render.render(data, fmt, title, notes, images, sections))
    return (
        render.render(shown, "table", title, notes)
        + "wrote "
        + ", ".join(str(p) for p in written)
        + "\n"
    )


def _data(shown: pd.DataFrame, numbers: pd.DataFrame | None, fmt: str) -> pd.DataFrame:
    """Machine formats (csv, json) get the numbers; the others the formatted table."""
    if fmt in ("csv", "json") and numbers is not None:
        return numbers.assign(diagnosis=shown["diagnosis"].to_numpy())
    return shown


def newest_output() -> Path:
    """The newest sweep or run under outputs/ (by its date/time directory name)."""
    candidates = [
        p for kind in ("sweeps", "runs") for p in OUTPUTS.glob(f"{kind}/*/*") if p.is_dir()
    ]
    if not candidates:
        raise BadInput(f"no runs under {OUTPUTS}/: run `dltricks train` first, or name a path")
    return max(candidates, key=lambda p: (p.parent.name, p.name))


def _where(roots: list[Path]) -> str:
    """The paths named, or for many (a shell glob) the folder they share and their number."""
    if len(roots) <= 3:
        return ", ".join(map(str, roots))
    try:
        return f"{os.path.commonpath(roots)} ({len(roots)} paths)"
    except ValueError:  # absolute and relative mixed
        return f"{roots[0]} and {len(roots) - 1} more paths"


def _relative(run: Path, roots: list[Path]) -> str:
    for root in roots:
        try:
            rel = os.path.relpath(run, root)
        except ValueError:
            continue
        if not rel.startswith(".."):
            return rel if rel != "." else run.name
    return str(run)
