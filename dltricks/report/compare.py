"""`dltricks report --compare A B`: two groups of runs side by side, each named by a path or
by key=value conditions."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dltricks.errors import BadInput
from dltricks.report import table


def compare(
    df: pd.DataFrame, rows: list[dict], sides: list[str], metrics: list[str]
) -> pd.DataFrame:
    """Two groups of runs side by side: mean ± std (n) of each metric, and B - A."""
    picked = [_select(df, rows, side) for side in sides]
    out = {"metric": metrics}
    for name, part in zip(("A", "B"), picked, strict=True):
        out[f"{name}: {sides[len(out) - 1]}"] = [
            f"{table.mean_std(part[m].mean(), part[m].std(), table.DIGITS.get(m, 4))} "
            f"(n={part[m].count()})"
            for m in metrics
        ]
    out["B - A"] = [f"{picked[1][m].mean() - picked[0][m].mean():+.4f}" for m in metrics]
    return pd.DataFrame(out)


def _select(df: pd.DataFrame, rows: list[dict], side: str) -> pd.DataFrame:
    path = Path(side)
    if path.exists():
        inside = [Path(r["run"]).resolve().is_relative_to(path.resolve()) for r in rows]
        part = df[inside]
    else:
        mask = pd.Series(True, index=df.index)
        for cond in side.split(","):
            key, sep, value = cond.partition("=")
            if not sep:
                raise BadInput(f"--compare {side}: neither a path nor key=value")
            values = [str(r["config"].get(key, r["choices"].get(key))) for r in rows]
            mask &= pd.Series([v.lower() == value.lower() for v in values], index=df.index)
        part = df[mask]
    if part.empty:
        raise BadInput(f"--compare {side}: matches no run")
    return part
