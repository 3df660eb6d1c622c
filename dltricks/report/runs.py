"""Find run directories and read each into one row (a dict), tolerating any state a run can
be left in: running, killed, diverged, failed, half-written. Reads files only."""

from __future__ import annotations

import json
import os
import re
import socket
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from dltricks.records import (
    BEST,
    EVALUATED,
    METRICS,
    SUMMARY,
    flatten,
    read_csv_rows,
    sound_fields,
)
from dltricks.report.diagnosis import Facts

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
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C parser when present


def find_runs(paths: list[Path]) -> list[Path]:
    """Every run directory at or below `paths`: one with a summary.json, a metrics.csv or
    Hydra's .hydra/config.yaml (a job that never got to write anything)."""
    found: list[Path] = []
    for root in paths:
        for here, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            has_hydra = os.path.exists(os.path.join(here, ".hydra", "config.yaml"))
            if SUMMARY in files or METRICS in files or has_hydra:
                found.append(Path(here))
    return sorted(set(found))


def load_run(run_dir: Path, target: float | None = None) -> dict[str, Any]:
    """One run as a flat dict: status, choices, overrides, final and best metrics, warnings;
    with a target, steps_to_target: the first step where val_err <= target."""
    row: dict[str, Any] = {"run": clean(str(run_dir)), "warnings": []}
    curve = read_metrics(run_dir, row["warnings"])
    if target is not None:
        reached = [r["step"] for r in curve if (r.get("val_err") or 1) <= target]
        row["steps_to_target"] = reached[0] if reached else None
    summary = _read_summary(run_dir, row["warnings"])
    row["config"] = clean(_read_config(run_dir))
    row["overrides"] = summary.get("overrides") or clean(_read_overrides(run_dir))
    row["choices"] = summary.get("choices") or {}
    row["status"] = _status(summary, run_dir, row["warnings"])
    final = summary.get("final") or {}
    best = summary.get("best") or {}
    if not final:
        final = curve[-1] if curve else {}
    for key in EVALUATED:
        row[key] = _float(final.get(key))
    for key in BEST:
        row[f"best_{key}"] = _float(best.get(key))
    for key in (*SUMMARY_NUMBERS, "error", "name"):
        row[key] = summary.get(key)
    row["warnings"] += _checks(summary)
    row["facts"] = facts_of(row["choices"], row["config"], curve)
    return row


def facts_of(choices: dict[str, Any], config: dict[str, Any], curve: list[dict]) -> Facts:
    """What the diagnosis needs to know of a run: its options and how its curve ended."""
    errors = [r["train_err"] for r in curve if r.get("train_err") is not None]
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
    return all(isinstance(d.get(k), int | float) for k in keys)


def _read_summary(run_dir: Path, warnings: list[str]) -> dict[str, Any]:
    """summary.json, read as untrusted input: strings cleaned of control characters, and the
    fields that do not fit records.SUMMARY_FIELDS left out, with a warning."""
    path = run_dir / SUMMARY
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, OSError, RecursionError):
        warnings.append("summary.json is unreadable (half-written or corrupt)")
        return {}
    if not isinstance(data, dict):
        warnings.append("summary.json is not a JSON object: ignored")
        return {}
    data, wrong = sound_fields(clean(data))
    if wrong:
        warnings.append(f"summary.json: ignored {', '.join(wrong)} (not of the expected type)")
    return data


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


def _status(summary: dict[str, Any], run_dir: Path, warnings: list[str]) -> str:
    status = summary.get("status")
    if status is None and (run_dir / SUMMARY).exists():
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


def read_metrics(run_dir: Path, warnings: list[str] | None = None) -> list[dict[str, Any]]:
    """metrics.csv as a list of dicts of floats (whole rows only)."""
    path = run_dir / METRICS
    if not path.exists():
        return []
    header, rows, problems = read_csv_rows(path)
    if warnings is not None:
        warnings.extend(problems)
    return [{k: _float(v) for k, v in zip(header, r, strict=True)} for r in rows]


def read_table(path: Path) -> pd.DataFrame:
    """A CSV a run wrote (metrics.csv, layers.csv) as numbers; whole rows only."""
    if not path.exists():
        return pd.DataFrame()
    header, rows, _ = read_csv_rows(path)
    return pd.DataFrame(rows, columns=header).apply(pd.to_numeric, errors="coerce")


def stack(runs: list[Path], name: str) -> pd.DataFrame:
    """The same CSV of several runs, one below the other, with a `run` column."""
    frames = [read_table(r / name).assign(run=str(r)) for r in runs]
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _read_config(run_dir: Path) -> dict[str, Any]:
    path = run_dir / ".hydra" / "config.yaml"
    if not path.exists():
        return {}
    try:
        with open(path) as f:
            return flatten(yaml.load(f, Loader=_Loader) or {})
    except (yaml.YAMLError, OSError):
        return {}


def _read_overrides(run_dir: Path) -> list[str]:
    path = run_dir / ".hydra" / "overrides.yaml"
    try:
        with open(path) as f:
            return [str(o) for o in yaml.load(f, Loader=_Loader) or []]
    except (yaml.YAMLError, OSError):
        return []


def _float(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
