"""`dltricks report [PATH ...]`: a table (one row per run, or per group with --by), the
seeds' diagnosis, and with --out the same table as a file plus PNG plots."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from dltricks.errors import EXIT_BAD_INPUT, BadInput, say
from dltricks.report import plots, render, table
from dltricks.report.build import Report, Request, build_report
from dltricks.report.diagnosis import Thresholds


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dltricks report",
        description="Summarize runs: a table, the seeds' diagnosis, and plots with --out.",
    )
    _what(p)
    _outputs(p)
    _diagnosis(p)
    return p


def _what(p: argparse.ArgumentParser) -> None:
    """Which runs, grouped how, which metrics, in what order."""
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
    p.add_argument(
        "--compare",
        nargs=2,
        metavar=("A", "B"),
        default=None,
        help="two groups side by side with B - A: each a path or key=value[,...]",
    )
    p.add_argument(
        "--target",
        type=fraction,
        default=None,
        help="add steps_to_target: the first step where val_err <= this",
    )


def _outputs(p: argparse.ArgumentParser) -> None:
    """Where the report goes, and in which form."""
    p.add_argument("--format", choices=render.FORMATS, default="table")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="also write the table (in --format; markdown if table) and PNG plots",
    )
    p.add_argument(
        "--layers",
        action="store_true",
        help="also the per-layer table (needs trainer.probes=true): activation "
        "mean/std, gradient norm, update ratio, dead units, at initialization "
        "and at the last probe",
    )


def _diagnosis(p: argparse.ArgumentParser) -> None:
    """The seeds' diagnosis' thresholds."""
    p.add_argument(
        "--high-train-err",
        type=fraction,
        default=Thresholds.train_err,
        help=f"train error above this is an optimization problem (default {Thresholds.train_err})",
    )
    p.add_argument(
        "--gap",
        type=fraction,
        default=Thresholds.gap,
        help=f"held-out minus train error above this is overfitting (default {Thresholds.gap})",
    )


def fraction(text: str) -> float:
    """An error threshold: a number in [0, 1] (not nan)."""
    value = float(text)
    if not 0 <= value <= 1:  # false for nan too
        raise argparse.ArgumentTypeError(f"{text} is not a number in [0, 1]")
    return value


def main(args: list[str]) -> int:
    opts = parser().parse_args(args)
    try:
        req = request(opts)
        report = build_report(req)
        text = write_out(report, opts.out, opts.format) if opts.out else show(report, opts.format)
    except BadInput as err:
        say(str(err))
        return EXIT_BAD_INPUT
    sys.stdout.write(text)
    return 0


def request(opts: argparse.Namespace) -> Request:
    """The options, checked against each other."""
    by = [k for k in opts.by.split(",") if k]
    if opts.x is not None and opts.x not in by:
        raise BadInput(f"--x {opts.x}: not a --by key; add it to --by (e.g. --by ...,{opts.x})")
    if opts.x is not None and opts.out is None:
        raise BadInput(f"--x {opts.x}: the plot is a file; add --out DIR")
    if opts.layers and opts.out is None and opts.format in ("csv", "json"):
        raise BadInput(
            f"--layers --format {opts.format}: two tables; add --out DIR to write "
            f"the per-layer one as layers.{opts.format} beside report.{opts.format}"
        )
    metrics = [m for m in opts.metric.split(",") if m]
    for m in metrics:
        if m not in table.METRIC_COLUMNS:
            raise BadInput(f"--metric {m}: unknown; use any of {', '.join(table.METRIC_COLUMNS)}")
    return Request(
        paths=opts.paths,
        by=by,
        metrics=metrics,
        sort=opts.sort,
        compare=opts.compare,
        limits=Thresholds(opts.high_train_err, opts.gap),
        layers=opts.layers,
        target=opts.target,
        x=opts.x if not opts.compare else None,
    )


LAYERS = "Per-layer statistics (mean over each group's runs)"


def tables(report: Report) -> dict[str, tuple[str, pd.DataFrame]]:
    """The report's further tables (file stem -> heading, table): its sections, the layers'."""
    layers = {"layers": (LAYERS, report.layers)} if report.layers is not None else {}
    return {**report.sections, **layers}


def show(report: Report, fmt: str) -> str:
    """The report on stdout, in --format."""
    sections = {title: df for title, df in tables(report).values()}
    return render.render(_data(report, fmt), fmt, report.title, report.notes, sections=sections)


def write_out(report: Report, out: Path, fmt: str) -> str:
    """The report as a file in --out (markdown for `table`) with its PNGs beside it; the table
    for stdout, and what was written."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BadInput(f"--out {out}: cannot create it ({err.strerror})") from None
    try:
        return _write_files(report, out, fmt)
    except OSError as err:
        raise BadInput(f"--out {out}: cannot write there ({err.strerror})") from None


def _write_files(report: Report, out: Path, fmt: str) -> str:
    images = report.draw(out) if report.draw else figures(report, out)
    fmt = "markdown" if fmt == "table" else fmt
    target = out / f"report.{render.SUFFIX[fmt]}"
    sections = {title: df for title, df in tables(report).values()}
    written = [target, *images]
    if fmt in ("csv", "json"):  # machine formats: a table a file
        for stem, (_, df) in tables(report).items():
            written.insert(1, out / f"{stem}.{render.SUFFIX[fmt]}")
            written[1].write_text(render.render(df, fmt, report.title, []))
        sections = {}
    text = render.render(_data(report, fmt), fmt, report.title, report.notes, images, sections)
    target.write_text(text)
    table_text = render.render(report.shown, "table", report.title, report.notes)
    return table_text + "wrote " + ", ".join(str(p) for p in written) + "\n"


def figures(report: Report, out: Path) -> list[Path]:
    """The PNGs a report's runs allow (a plot with nothing to draw is not written)."""
    groups, s = report.groups, report.sensitivity
    if not groups:
        return []
    drawn = [
        plots.learning_curves(groups, out / "curves.png"),
        plots.learning_curves(groups, out / "loss.png", plots.LOSSES),
        plots.learning_rate(groups, out / "lr.png"),
        plots.layer_gradients(groups, out / "layer_gradients.png"),
        plots.layer_activations(groups, out / "layer_activations.png"),
        s and plots.sensitivity(report.numbers, s.by, s.x, s.metrics, out / "sensitivity.png"),
    ]
    return [p for p in drawn if p is not None]


def _data(report: Report, fmt: str) -> pd.DataFrame:
    """Machine formats (csv, json) get the numbers; the others the formatted table."""
    if fmt in ("csv", "json") and report.numbers is not None:
        if "diagnosis" not in report.shown:
            return report.numbers
        return report.numbers.assign(diagnosis=report.shown["diagnosis"].to_numpy())
    return report.shown
