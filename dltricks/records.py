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
CHECKPOINT = "checkpoint.pt"
LAYERS = "layers.csv"

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

# summary.json's fields a reader relies on, and what each must be: the file is read back by
# the report and by resume, and someone else may have written it.
_NUM, _INT, _STR, _NONE = (int, float), (int,), (str,), (type(None),)
SUMMARY_FIELDS: dict[str, tuple[type, ...]] = {
    "status": _STR,
    "epochs": _INT,
    "steps": _INT,
    "final": (dict, *_NONE),
    "best": (dict, *_NONE),
    "choices": (dict,),
    "overrides": (list,),
    "params": _INT,
    "seed": _INT,
    "wall_s": _NUM,
    "samples_per_s": (*_NUM, *_NONE),
    "pid": _INT,
    "host": _STR,
    "slurm_job": _STR,
    "name": _STR,
    "error": _STR,
    "sparsity": (*_NUM, *_NONE),
    "zero_weights": (*_NUM, *_NONE),
    "diverged_at_step": _INT,
    "sanity": (dict,),
    "overfit": (dict,),
    "update_ratio": (dict, *_NONE),
    "average": (dict, *_NONE),
    "tricks": (dict,),
    "trackers": (dict,),
    "resumed": (list,),
}


def summary_problems(summary: dict[str, Any]) -> list[str]:
    """The fields of a summary that do not fit SUMMARY_FIELDS (bools are not numbers), the
    numbers of final and best included; [] for a sound one."""
    wrong = [
        k
        for k, kinds in SUMMARY_FIELDS.items()
        if k in summary and (not isinstance(summary[k], kinds) or isinstance(summary[k], bool))
    ]
    if summary.get("status") not in (*STATUSES, None) and "status" not in wrong:
        wrong.append("status")
    for part in ("final", "best"):
        values = summary.get(part) if part not in wrong else None
        if isinstance(values, dict) and not all(_number(v) for v in values.values()):
            wrong.append(part)
    if "overrides" not in wrong and not _strings(summary.get("overrides", [])):
        wrong.append("overrides")
    choices = summary.get("choices", {}) if "choices" not in wrong else {}
    if not all(v is None or isinstance(v, str) or _strings(v) for v in choices.values()):
        wrong.append("choices")
    return wrong


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLAlchemy SQLite URL (an MLflow store, an Optuna study), else
    None."""
    prefix = "sqlite:///"
    return Path(url[len(prefix) :]).expanduser() if url.startswith(prefix) else None


def sound_fields(summary: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A summary read back without the fields that do not fit SUMMARY_FIELDS, and their
    names: what a reader may rely on."""
    wrong = summary_problems(summary)
    return {k: v for k, v in summary.items() if k not in wrong}, wrong


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _number(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


class MetricsWriter:
    """Appends one row per evaluation to a CSV file with fixed columns."""

    def __init__(
        self, path: Path, columns: list[str] = METRIC_COLUMNS, fresh: bool = False
    ) -> None:
        """fresh: start the file anew (a run from scratch); otherwise append (a resumed run)."""
        self.path = Path(path)
        self.columns = columns
        new = fresh or not self.path.exists() or self.path.stat().st_size == 0
        self._file = open(self.path, "w" if fresh else "a", newline="")  # noqa: SIM115
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


def keep_rows(path: Path, keep: Any, columns: list[str]) -> str | None:
    """Rewrite a CSV (atomically) with only its whole rows for which keep(row dict) is true:
    a resumed run drops the rows written after its checkpoint. A file whose header is not
    `columns` (garbage, or someone else's) is moved aside to PATH.unreadable, so the run
    starts it anew and nothing is lost; what was done, for a warning."""
    path = Path(path)
    if not path.exists():
        return None
    header, rows, _ = read_csv_rows(path)
    if header[: len(columns)] != columns:
        aside = path.with_name(path.name + ".unreadable")
        os.replace(path, aside)
        return f"{path.name} has no {columns[0]},... header: moved to {aside.name}"
    kept = [r for r in rows if _kept(keep, dict(zip(header, r, strict=True)))]
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(kept)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return None


def _kept(keep: Any, row: dict[str, str]) -> bool:
    try:
        return bool(keep(row))
    except (KeyError, ValueError):  # a row that does not parse is not kept
        return False
