"""summary.json as read back: untrusted input, bounded, an object, and only the fields that
fit records.SUMMARY_FIELDS (the others named in `wrong`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dltricks import records
from dltricks.errors import first_line
from dltricks.rundir.files import RunFileError, read_json


@dataclass
class Summary:
    """summary.json as read back: its sound fields, those left out, and why nothing could be
    read (None when it could)."""

    data: dict[str, Any] = field(default_factory=dict)
    wrong: list[str] = field(default_factory=list)
    problem: str | None = None

    @property
    def status(self) -> str | None:
        status = self.data.get("status")
        return status if isinstance(status, str) else None


def summary_of(path: Path) -> Summary:
    """The Summary of the file at `path` (which exists and is no link)."""
    try:
        data = read_json(path)
    except (RunFileError, OSError) as err:
        reason = str(err) if isinstance(err, RunFileError) else first_line(err)
        return Summary(problem=reason.removeprefix(f"{path}: "))
    if not isinstance(data, dict):
        return Summary(problem="not a JSON object")
    sound, wrong = records.sound_fields(data)
    return Summary(sound, wrong)
