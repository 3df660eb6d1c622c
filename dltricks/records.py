"""The files a run leaves (DESIGN.md section 2): metrics.csv, summary.json.

Written so that a crash at any moment leaves them readable: every metrics row is one
newline-terminated write, flushed; summary.json is replaced atomically (temp file + rename).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path
from typing import Any

METRICS = "metrics.csv"
SUMMARY = "summary.json"
METRIC_COLUMNS = [
    "epoch",
    "step",
    "lr",
    "train_loss",
    "train_err",
    "val_loss",
    "val_err",
    "test_loss",
    "test_err",
    "grad_norm",
    "epoch_s",
    "samples_per_s",
    "train_loss_running",
]
STATUSES = ("running", "completed", "early_stopped", "diverged", "interrupted", "failed")


class MetricsWriter:
    """Appends one row per evaluation to a CSV file with fixed columns."""

    def __init__(self, path: Path, columns: list[str] = METRIC_COLUMNS) -> None:
        self.path = Path(path)
        self.columns = columns
        new = not self.path.exists() or self.path.stat().st_size == 0
        self._file = open(self.path, "a", newline="")  # noqa: SIM115 (closed in close())
        if new:
            self._write(columns)

    def write(self, row: dict[str, Any]) -> None:
        self._write([_cell(row.get(c)) for c in self.columns])

    def _write(self, cells: list[Any]) -> None:
        line = io.StringIO()
        csv.writer(line, lineterminator="\n").writerow(cells)
        self._file.write(line.getvalue())  # one write per row: never half a row on disk
        self._file.flush()

    def sync(self) -> None:
        """Flush to the disk itself (once per evaluation: cheap, and survives a power cut)."""
        os.fsync(self._file.fileno())

    def close(self) -> None:
        if not self._file.closed:
            self.sync()
            self._file.close()

    def __enter__(self) -> MetricsWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)  # shortest exact repr: the CSV round-trips bit for bit
    return value


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write JSON to `path` so that readers see the old or the new file, never a torn one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as f:
        json.dump(_jsonable(data), f, indent=2, allow_nan=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _jsonable(value: Any) -> Any:
    """NaN and inf become null: summary.json stays strict JSON that any reader accepts."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def read_json(path: Path) -> dict[str, Any]:
    with open(path) as f:
        return json.load(f)
