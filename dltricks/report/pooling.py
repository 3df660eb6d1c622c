"""Which runs `report --by` may average as seeds: those that differ in nothing but the seed
and how they were kept. A run of 3 epochs and one of 20 under the same --by values are not
two seeds of one setting; the keys that tell them apart join the grouping (a row each, the
keys shown) and the report says so."""

from __future__ import annotations

import fnmatch
from typing import Any

# Keys that say how a run was kept or watched, not what was trained
BOOKKEEPING = (
    "seed",
    "name",
    "data.root",
    "trainer.resume",
    "trainer.threads",
    "trainer.checkpoint_every",
    "trainer.probes",
    "trainer.probe_every",
    "trainer.eval_every",
    "trainer.detect_anomaly",
    "logger.*",
    "hydra.*",
    "problem.*",
)


def hidden_differences(
    rows: list[dict[str, Any]], members: list[list[int]], by: list[str]
) -> list[str]:
    """The groups (config group names) and keys, other than `by` and the bookkeeping, whose
    value differs between runs of one of `members` (index lists of runs that share the --by
    values): the config groups first (optimizer, not its dozen keys), then plain keys."""
    groups: dict[str, None] = {}
    keys: dict[str, None] = {}
    for idx in members:
        if len(idx) < 2:
            continue
        for name in _differing([rows[i]["choices"] for i in idx]):
            if name not in by and not _kept(name):
                groups[name] = None
    for idx in members:
        if len(idx) < 2:
            continue
        for key in _differing([rows[i]["config"] for i in idx]):
            group = key.split(".", 1)[0]  # optimizer.lr differs as optimizer does
            if key not in by and group not in by and group not in groups and not _kept(key):
                keys[key] = None
    return [*groups, *keys]


def note(by: list[str], added: list[str]) -> str:
    shown = ", ".join(added[:6]) + (f" and {len(added) - 6} more" if len(added) > 6 else "")
    return (
        f"--by {','.join(by)}: runs with the same values also differ in {shown}; they are "
        "rows of their own, not seeds of one setting (add the keys to --by, or report on "
        "the runs of one setting, to group them as you mean)"
    )


def _differing(dicts: list[dict[str, Any]]) -> list[str]:
    """The keys whose value differs between the dicts that have it (a key only some runs
    have came with a newer dltricks, at its default: not a difference by itself)."""
    names = dict.fromkeys(k for d in dicts for k in d)
    return [k for k in names if len({repr(d[k]) for d in dicts if k in d}) > 1]


def _kept(key: str) -> bool:
    return any(fnmatch.fnmatchcase(key, pattern) for pattern in BOOKKEEPING)
