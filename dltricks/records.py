"""The files a run leaves (DESIGN.md section 2): metrics.csv, summary.json.

Written so that a crash at any moment leaves them readable: every metrics row is one
newline-terminated write, flushed; summary.json is replaced atomically (temp file + rename).
"""

from __future__ import annotations

import csv
import errno
import io
import json
import math
import os
from pathlib import Path
from typing import Any

from dltricks.errors import BadFile

METRICS = "metrics.csv"
SUMMARY = "summary.json"
CHECKPOINT = "checkpoint.pt"
LAYERS = "layers.csv"
CHECKPOINT_FORMAT = "dltricks-checkpoint/1"

# ---------------------------------------------------------------- the metrics registry
# Every metric's name is written here once; the loop, the summary and the report derive
# their lists from these, and a writer refuses a key it has no column for.

SPLITS = ("train", "val", "test")
EVALUATED = tuple(f"{split}_{m}" for split in SPLITS for m in ("loss", "err"))
"""Measured over a whole split in eval mode (dropout off, BatchNorm running statistics):
summary.json's `final`."""
BEST = ("epoch", "val_err", "test_err")
"""summary.json's `best`: the evaluation with the lowest val_err."""
METRICS_DOC: dict[str, str] = {
    "epoch": "the epoch just trained (1-based)",
    "step": "updates so far",
    "lr": "the learning rate of the epoch's last update (the first parameter group)",
    **{
        f"{split}_{m}": f"{what} over the {split} split, in eval mode"
        for split in SPLITS
        for m, what in (("loss", "mean cross-entropy"), ("err", "error fraction"))
    },
    "grad_norm": "the global L2 norm of the last update's gradients",
    "epoch_s": "seconds the epoch took, its evaluation included",
    "samples_per_s": "training examples per second of training time, so far",
    "train_loss_running": (
        "the mean over the epoch of the objective each update minimized: the minibatch "
        "loss in train mode plus any penalty (l1, l2), over the clean and adversarial "
        "halves with FGSM; train_loss is the plain loss over the split in eval mode"
    ),
}
METRIC_COLUMNS = list(METRICS_DOC)
"""metrics.csv's columns, in order (an optimizer may add its own after them)."""
LAYER_COLUMNS = [
    "epoch",
    "step",
    "layer",
    "index",
    "kind",
    "grad_norm",
    "weight_norm",
    "update_ratio",
    "act_mean",
    "act_std",
    "dead_frac",
]
"""layers.csv's columns (trainer.probes=true): one row per weight layer and probe."""
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
        """One row; a key with no column is an error (a metric must not vanish silently)."""
        unknown = set(row) - set(self.columns)
        if unknown:
            raise KeyError(f"{self.path.name} has no column for {', '.join(sorted(unknown))}")
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


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """{'model': {'depth': 20}} -> {'model.depth': 20}; Hydra's _target_ keys dropped."""
    if not isinstance(node, dict):
        return {prefix.rstrip("."): node}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if str(key).startswith("_"):
            continue
        out.update(flatten(value, f"{prefix}{key}."))
    return out


# ---------------------------------------------------------------- readers (report, resume)


def read_csv_rows(path: Path) -> tuple[list[str], list[list[str]], list[str]]:
    """(header, rows, warnings) of a CSV written by MetricsWriter, tolerant of a crash:
    an unterminated last line (a row being written) and NUL-filled tails (a file extended
    but never written, after a power cut) are dropped, and said so in the warnings."""
    raw = Path(path).read_bytes()
    warnings: list[str] = []
    end = raw.rfind(b"\n") + 1
    if b"\x00" in raw[end:]:
        warnings.append(f"{Path(path).name}: ignored a NUL-filled tail (a cut-short write)")
    elif end < len(raw):
        warnings.append(f"{Path(path).name}: ignored an unterminated last line")
    lines = raw[:end].decode("utf-8", errors="replace").splitlines()
    if any("\x00" in line for line in lines):
        lines = [line for line in lines if "\x00" not in line]
        warnings.append(f"{Path(path).name}: ignored lines with NUL bytes")
    parsed = list(csv.reader(lines))
    if not parsed:
        return [], [], warnings
    header, rows = parsed[0], parsed[1:]
    good = [r for r in rows if len(r) == len(header)]
    if len(good) < len(rows):
        warnings.append(f"{Path(path).name}: ignored {len(rows) - len(good)} malformed rows")
    return header, good, warnings


# ---------------------------------------------------------------- checkpoints


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """torch.save to a temp file, fsync, rename: a crash leaves the previous checkpoint."""
    import torch

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save({"format": CHECKPOINT_FORMAT, **state}, f)
            f.flush()
            os.fsync(f.fileno())
    except BaseException as err:
        tmp.unlink(missing_ok=True)  # the previous checkpoint stays as it was
        if isinstance(err, RuntimeError) and "pos" in str(err):  # torch's short write
            raise OSError(
                errno.EIO, "the write stopped short (disk full or a file size limit?)", str(path)
            ) from None
        raise
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint with weights_only=True (plain tensors and containers only: a pickle
    payload cannot run code), never retried without it."""
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise BadFile(f"{path}: no checkpoint there (was the run finished?)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise BadFile(f"{path}: refused, not a readable dltricks checkpoint ({first})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise BadFile(f"{path}: refused, not a dltricks checkpoint")
    return state


def keep_rows(path: Path, keep: Any) -> None:
    """Rewrite a CSV (atomically) with only its whole rows for which keep(row dict) is true:
    a resumed run drops the rows written after its checkpoint."""
    path = Path(path)
    if not path.exists():
        return
    header, rows, _ = read_csv_rows(path)
    kept = [r for r in rows if keep(dict(zip(header, r, strict=True)))]
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(kept)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
