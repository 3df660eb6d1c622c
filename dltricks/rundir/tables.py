"""A run's tables, metrics.csv and layers.csv: written one newline-terminated row at a
time, flushed (a crash never leaves half a row), read back streamed and tolerant of a crash
(unterminated, NUL-filled or overlong lines dropped and said so), a column at a time as
arrays of floats, so that a huge file costs only the columns asked for."""

from __future__ import annotations

import array
import csv
import io
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dltricks.records import METRIC_COLUMNS
from dltricks.rundir.files import open_file, refuse_link, write_atomic

MAX_LINE = 64 * 2**10  # bytes of one CSV line (a real row is ~300 bytes)


class MetricsWriter:
    """Appends one row per evaluation to a CSV file with fixed columns."""

    def __init__(
        self, path: Path, columns: list[str] = METRIC_COLUMNS, fresh: bool = False
    ) -> None:
        """fresh: start the file anew (a run from scratch); otherwise append (a resumed run)."""
        self.path = Path(path)
        self.columns = columns
        refuse_link(self.path)
        new = fresh or not self.path.exists() or self.path.stat().st_size == 0
        self._file = open_file(self.path, "w" if fresh else "a", newline="")
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


def _lines(path: Path, warnings: list[str]) -> Iterator[str]:
    """The whole lines of a CSV written by MetricsWriter, streamed, tolerant of a crash: an
    unterminated last line (a row being written), NUL-filled tails (a file extended but never
    written, after a power cut) and lines longer than MAX_LINE are dropped, and said so."""
    name, nul, long = Path(path).name, 0, 0
    with open_file(path, "rb") as f:
        while raw := f.readline(MAX_LINE + 1):
            if len(raw) > MAX_LINE:  # the rest of a long line, too
                long += 1
                while raw and not raw.endswith(b"\n"):
                    raw = f.readline(MAX_LINE + 1)
                continue
            if not raw.endswith(b"\n"):
                if b"\x00" in raw:
                    warnings.append(f"{name}: ignored a NUL-filled tail (a cut-short write)")
                else:
                    warnings.append(f"{name}: ignored an unterminated last line")
                break
            if b"\x00" in raw:
                nul += 1
            else:
                yield raw[:-1].decode("utf-8", errors="replace").rstrip("\r")
    if nul:
        warnings.append(f"{name}: ignored lines with NUL bytes")
    if long:
        warnings.append(f"{name}: ignored {long} lines longer than {MAX_LINE // 2**10} KiB")


def read_csv_rows(path: Path) -> tuple[list[str], list[list[str]], list[str]]:
    """(header, whole rows, warnings) of a CSV written by MetricsWriter (see _lines)."""
    warnings: list[str] = []
    parsed = csv.reader(_lines(path, warnings))
    try:
        header = next(parsed, [])
        rows = list(parsed)
    except csv.Error as err:  # lines are whole and bounded: a quoting no writer of ours makes
        warnings.append(f"{Path(path).name}: ignored the rest, malformed ({err})")
        return [], [], warnings
    good = [r for r in rows if len(r) == len(header)]
    if len(good) < len(rows):
        warnings.append(f"{Path(path).name}: ignored {len(rows) - len(good)} malformed rows")
    return header, good, warnings


def read_columns(
    path: Path, wanted: tuple[str, ...] | list[str] | None = None
) -> tuple[dict[str, array.array], list[str]]:
    """Columns of a CSV as arrays of floats (nan where a cell is empty or not a number): only
    the `wanted` ones (all if None), so that a huge file costs 8 bytes a cell it is asked
    for; whole rows only. And the warnings (see _lines)."""
    warnings: list[str] = []
    parsed = csv.reader(_lines(path, warnings))
    header: list[str] = []
    out: dict[str, array.array] = {}
    malformed = 0
    try:
        header = next(parsed, [])
        keep = [(i, c) for i, c in enumerate(header) if wanted is None or c in wanted]
        out = {c: array.array("d") for _, c in keep}
        for row in parsed:
            if len(row) != len(header):
                malformed += 1
                continue
            for i, c in keep:
                out[c].append(_float(row[i]))
    except csv.Error as err:  # as in read_csv_rows
        warnings.append(f"{Path(path).name}: ignored the rest, malformed ({err})")
    if malformed:
        warnings.append(f"{Path(path).name}: ignored {malformed} malformed rows")
    return out, warnings


def _float(text: str) -> float:
    try:
        return float(text) if text else math.nan
    except ValueError:
        return math.nan


def keep_rows(path: Path, keep: Any, columns: list[str]) -> str | None:
    """Rewrite a CSV (atomically) with only its whole rows for which keep(row dict) is true:
    a resumed run drops the rows written after its checkpoint. A file whose header is not
    `columns` (garbage, or someone else's) is moved aside to PATH.unreadable, so the run
    starts it anew and nothing is lost; so is one with lines no writer of ours makes (too
    long, malformed), once its whole rows are kept. What was done, for a warning."""
    path = Path(path)
    if not os.path.lexists(path):
        return None
    header, rows, warnings = read_csv_rows(path)
    aside = path.with_name(path.name + ".unreadable")
    if header[: len(columns)] != columns:
        os.replace(path, aside)
        return f"{path.name} has no {columns[0]},... header: moved to {aside.name}"
    kept = [r for r in rows if _kept(keep, dict(zip(header, r, strict=True)))]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(kept)
    foreign = [w for w in warnings if "longer than" in w or "malformed" in w]
    if foreign:
        os.replace(path, aside)  # the original as it was, beside the clean copy
    write_atomic(path, lambda f: f.write(text.getvalue().encode()))
    if foreign:
        return f"{'; '.join(foreign)}: the original moved to {aside.name}"
    return None


def _kept(keep: Any, row: dict[str, str]) -> bool:
    try:
        return bool(keep(row))
    except (KeyError, ValueError):  # a row that does not parse is not kept
        return False
