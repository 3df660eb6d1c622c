"""Find run directories and read each into one row (a dict), tolerating any state a run can
be left in: running, killed, diverged, failed, half-written. Reads files only."""

from __future__ import annotations

import functools
import math
import os
import re
import socket
from pathlib import Path
from typing import Any

import pandas as pd

from dltricks.records import BEST, EVALUATED, is_number
from dltricks.report.diagnosis import Facts
from dltricks.rundir import RunDir

# summary.json's numbers a report can show, beside the final and best metrics
SUMMARY_NUMBERS = (
    "epochs",
    "steps",
    "wall_s",
    "samples_per_s",
    "params",
    "seed",
    "diverged_at_step",
    "sparsity",
    "zero_weights",
)
CURVE = ("step", "epoch_s", *EVALUATED)  # what a run's row needs of its metrics.csv
Curve = dict[str, Any]  # a metrics column -> its values (floats, nan for an empty cell)


def load_run(
    run_dir: RunDir, target: float | None = None, metric: str = "val_err"
) -> dict[str, Any]:
    """One run as a flat dict: status, choices, overrides, final and best metrics, warnings;
    with a target, steps_to_target and seconds_to_target: the first evaluation where
    `metric` <= target (its step, and the epochs' seconds until then)."""
    row: dict[str, Any] = {"run": clean(str(run_dir)), "warnings": []}
    curve, problems = run_dir.read_metrics(CURVE)
    row["warnings"] += problems
    if target is not None:
        row["steps_to_target"], row["seconds_to_target"] = to_target(curve, target, metric)
    summary = _read_summary(run_dir, row["warnings"])
    config, problem = run_dir.read_config()
    row["config"] = clean(config)
    if problem:
        row["warnings"].append(clean(problem))
    row["overrides"] = summary.get("overrides") or clean(run_dir.read_overrides())
    row["choices"] = summary.get("choices") or {}
    row["status"] = _status(summary, run_dir, row["warnings"])
    final = summary.get("final") or {}
    best = summary.get("best") or {}
    if not final and curve.get("step"):  # killed before its summary: its last row
        final = {k: v[-1] for k, v in curve.items()}
    for key in EVALUATED:
        row[key] = _float(final.get(key))
    for key in BEST:
        row[f"best_{key}"] = _float(best.get(key))
    for key in (*SUMMARY_NUMBERS, "error", "name"):
        row[key] = summary.get(key)
    row["warnings"] += _checks(summary)
    row["facts"] = facts_of(row["choices"], row["config"], curve)
    return row


def to_target(curve: Curve, target: float, metric: str = "val_err") -> tuple[Any, Any]:
    """(steps, seconds) to the first evaluation where `metric` <= target ((None, None):
    never); the seconds are the epochs' own (epoch_s), evaluations included."""
    steps = curve.get("step", ())
    values = curve.get(metric) or [math.nan] * len(steps)
    durations = curve.get("epoch_s") or [math.nan] * len(steps)  # a file of other columns
    seconds = 0.0
    for step, value, epoch_s in zip(steps, values, durations, strict=True):
        seconds += 0.0 if math.isnan(epoch_s) else epoch_s
        if value <= target:
            return step, seconds
    return None, None


def facts_of(choices: dict[str, Any], config: dict[str, Any], curve: Curve) -> Facts:
    """What the diagnosis needs to know of a run: its options and how its curve ended."""
    errors = [e for e in curve.get("train_err", ()) if not math.isnan(e)]
    falling = len(errors) >= 2 and errors[-1] < 0.9 * min(errors[:-1])
    noise = config.get("data.load.label_noise")
    regularization = choices.get("regularization")
    return Facts(
        activation=_text(choices.get("activation")),
        optimizer=_text(choices.get("optimizer")),
        norm=_text(choices.get("norm")),
        residual=config.get("model.residual") is True,
        regularization=list(regularization) if isinstance(regularization, list) else [],
        label_noise=float(noise) if isinstance(noise, int | float) else 0.0,
        still_falling=falling,
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _checks(summary: dict[str, Any]) -> list[str]:
    """The run's own sanity checks, when they failed (initial loss, overfitting a subset)."""
    notes = []
    sanity = summary.get("sanity") or {}
    if sanity.get("initial_loss_ok") is False and _numbers(sanity, "initial_loss", "expected_loss"):
        notes.append(
            f"initial loss {sanity['initial_loss']:.3f} is far from "
            f"ln C = {sanity['expected_loss']:.3f}: check the init scale"
        )
    ratio = summary.get("update_ratio") or {}
    if ratio.get("ok") is False and _numbers(ratio, "median"):
        notes.append(
            f"median update/weight ratio {ratio['median']:.2g} at epoch {ratio.get('epoch')}: "
            "far from ~1e-3 (check the learning rate)"
        )
    overfit = summary.get("overfit") or {}
    if (
        overfit.get("reached") is False
        and not overfit.get("frozen")
        and _numbers(overfit, "train_loss")
    ):
        notes.append(
            f"could not overfit {overfit['n']} examples (train loss "
            f"{overfit['train_loss']:.3g}): a bug, or too little capacity"
        )
    return notes


def _numbers(d: dict[str, Any], *keys: str) -> bool:
    return all(is_number(d.get(k)) for k in keys)


def _read_summary(run_dir: RunDir, warnings: list[str]) -> dict[str, Any]:
    """summary.json, read as untrusted input (RunDir.read_summary): strings cleaned of control
    characters; what was left out, or why none of it could be read, as a warning."""
    read = run_dir.read_summary()
    if read.problem == "missing":
        return {}
    if read.problem == "not a JSON object":
        warnings.append("summary.json is not a JSON object: ignored")
    elif read.problem:
        warnings.append(f"summary.json is unreadable: {clean(read.problem)}")
    if read.wrong:
        warnings.append(f"summary.json: ignored {', '.join(read.wrong)} (not of the expected type)")
    return clean(read.data)


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def clean(value: Any) -> Any:
    """Strings with their control characters (terminal escapes, newlines) replaced by '?', in
    any nesting of dicts and lists: a shared run dir must not rewrite the terminal."""
    if isinstance(value, str):
        return _CONTROL.sub("?", value)
    if isinstance(value, dict):
        return {clean(k): clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value


def _status(summary: dict[str, Any], run_dir: RunDir, warnings: list[str]) -> str:
    status = summary.get("status")
    if status is None and run_dir.read_summary().problem != "missing":
        return "unknown"  # unreadable: _read_summary said so
    if status is None:
        warnings.append("no summary.json: the job crashed or was killed before it started")
        return "crashed"
    if status == "running" and not _alive(summary):
        warnings.append("its process is gone without a final status (killed?)")
        return "interrupted"
    if status in ("diverged", "failed", "interrupted"):
        warnings.append(f"{status}" + (f": {summary['error']}" if summary.get("error") else ""))
    return str(status)


def _alive(summary: dict[str, Any]) -> bool:
    """Whether a run marked running still has its process (only knowable on its own host)."""
    pid, host = summary.get("pid"), summary.get("host")
    if pid is None or host != socket.gethostname():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


PLOTTED_ROWS = 2000  # a figure's curve shows no more points than this (a run's every k-th)
PLOTTED = ("epoch", "step", "lr", *EVALUATED)  # the metrics.csv columns the figures draw


def read_table(run_dir: Path, layers: bool = False, columns: tuple[str, ...] | None = None):
    """metrics.csv (layers.csv with `layers`) of a run as a DataFrame of numbers, only the
    `columns` asked for (all if None); whole rows only."""
    rd = RunDir(run_dir)
    data, _ = rd.read_layers(columns) if layers else rd.read_metrics(columns)
    df = pd.DataFrame({k: pd.Series(v, dtype=float) for k, v in data.items()})
    for column in columns or ():  # a file that lacks one (someone else's): nan, not KeyError
        if column not in df:
            df[column] = math.nan
    return df


def thinned(df: pd.DataFrame, most: int = PLOTTED_ROWS) -> pd.DataFrame:
    """Every k-th row and the last, at most about `most` rows: a curve of a million
    evaluations draws as well from two thousand, at a thousandth of the memory."""
    if len(df) <= most:
        return df
    k = -(-len(df) // most)
    return df.iloc[sorted({*range(0, len(df), k), len(df) - 1})]


@functools.lru_cache(maxsize=512)
def _plotted(run_dir: str, stamp: tuple[int, int]) -> pd.DataFrame:
    """A run's PLOTTED columns, thinned, read once for all of a report's figures (`stamp`,
    the file's size and time, keys the cache)."""
    return thinned(read_table(Path(run_dir), columns=PLOTTED))


def curves(run_dir: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    """The PLOTTED `columns` of a run's metrics.csv, thinned for a figure."""
    try:
        st = os.stat(RunDir(run_dir).metrics_path)
    except OSError:
        return pd.DataFrame()
    df = _plotted(str(run_dir), (st.st_size, st.st_mtime_ns))
    return df[[c for c in columns if c in df]]


def stack(runs: list[Path], layers: bool = False, columns: tuple[str, ...] = PLOTTED):
    """The same CSV of several runs, one below the other, with a `run` column (metrics.csv's
    rows thinned for a figure: `curves`)."""
    frames = [
        (read_table(r, True, columns) if layers else curves(r, columns)).assign(run=str(r))
        for r in runs
    ]
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _float(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value
