"""What every tracker uses: a row's plottable numbers, its library checked."""

from __future__ import annotations

from typing import Any

from dltricks import records
from dltricks.errors import ConfigError


def numbers(row: dict[str, Any]) -> dict[str, float]:
    """The finite numbers of a row, as floats (what a tracker can plot)."""
    return {k: float(v) for k, v in row.items() if records.is_number(v, finite=True)}


def needs(option: str) -> None:
    """The tracker's library is installed, or say which extra installs it (exit 2)."""
    from dltricks import extras

    message = extras.missing("logger", option)
    if message:
        raise ConfigError(message)
