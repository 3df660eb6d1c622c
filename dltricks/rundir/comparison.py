"""A comparison's folder (`dltricks versus`): its plan.json, read within bounds (someone else
may have written it) and written atomically, and where each phase's sweep dir lies."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dltricks.errors import first_line
from dltricks.rundir.files import RunFileError, read_json, read_yaml, refuse_link, write_json_atomic
from dltricks.rundir.names import PLAN, SEARCH_RESULTS


def phase_dir(folder: Path, problem: str, option: str, phase: str) -> Path:
    """Where one phase of one option on one problem lives: an ordinary sweep dir."""
    return Path(folder) / problem / option / phase


def read_plan(folder: Path) -> tuple[dict[str, Any] | None, str | None]:
    """A comparison folder's plan, and why it could not be read ((None, None): none there)."""
    path = Path(folder) / PLAN
    if not os.path.lexists(path):
        return None, None
    try:
        value = read_json(path)
    except (RunFileError, OSError) as err:
        return None, first_line(err)
    return (value, None) if isinstance(value, dict) else (None, "not a JSON object")


def write_plan(folder: Path, plan: dict[str, Any]) -> None:
    Path(folder).mkdir(parents=True, exist_ok=True)
    refuse_link(Path(folder) / PLAN)
    write_json_atomic(Path(folder) / PLAN, plan)


def read_search_results(sweep_dir: Path) -> dict[str, Any] | None:
    """A finished search's optimization_results.yaml (its best trial), None when it is
    missing, unreadable or not a mapping."""
    try:
        value = read_yaml(Path(sweep_dir) / SEARCH_RESULTS)
    except (RunFileError, OSError):
        return None
    return value if isinstance(value, dict) else None
