"""`dltricks report --compare A B`: is B really better than A here, or is it seed noise?

Each side is a path or key=value conditions. Runs of a side that differ in other keys (a
depth, an optimizer) are not seeds of one setting: the comparison is made within each
combination of those keys, never pooled across them. For each metric: mean ± std (n) of each
side, B - A, and its 95% confidence interval over seeds (Welch's t: unequal variances and
sizes); when the interval holds 0, the answer is "not distinguishable with these seeds".
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from dltricks.errors import BadInput
from dltricks.report import table

EXCLUDED = {"seed", "run", "status", "error", "warnings", *table.METRIC_COLUMNS}


def compare(
    df: pd.DataFrame, rows: list[dict], sides: list[str], metrics: list[str]
) -> pd.DataFrame:
    """One row per (combination of the other varying keys, metric)."""
    picked = [_select(df, rows, side) for side in sides]
    named = {cond.partition("=")[0] for side in sides for cond in side.split(",") if "=" in cond}
    both = pd.concat(picked)
    others = [k for k in table.varying(both) if k not in EXCLUDED and k not in named]
    out = []
    for values, a, b in _within(picked, others):
        setting = dict(zip(others, values, strict=True))
        out += [{**setting, "metric": m, **_row(a[m], b[m], m, sides)} for m in metrics]
    if not out:
        raise BadInput(
            f"--compare: no setting of {', '.join(others)} has runs on both sides; compare "
            f"within one (add {others[0]}=... to both sides)"
        )
    return pd.DataFrame(out)


def _within(picked: list[pd.DataFrame], others: list[str]) -> Iterator[tuple]:
    """(values of the other keys, A's runs, B's runs) for each combination both sides have."""
    if not others:
        yield (), picked[0], picked[1]
        return
    keys = [p.assign(_key=table.as_text_rows(p, others)) for p in picked]
    for key in dict.fromkeys(keys[0]["_key"]):
        a, b = (k[k["_key"] == key] for k in keys)
        if len(b):
            yield tuple(key.split("\x1f")), a, b


def _row(a: pd.Series, b: pd.Series, metric: str, sides: list[str]) -> dict[str, str]:
    digits = table.DIGITS.get(metric, 4)
    a, b = a.dropna(), b.dropna()
    diff = b.mean() - a.mean()
    low, high = welch_interval(a.tolist(), b.tolist())
    if math.isnan(low):
        verdict = f"n={len(a)}, {len(b)}: too few seeds to tell (run 2 or more a side)"
    elif low <= 0 <= high:
        verdict = f"not distinguishable with n={len(a)}, {len(b)} seeds"
    else:
        verdict = f"B {'higher' if diff > 0 else 'lower'} (n={len(a)}, {len(b)})"
    return {
        f"A: {sides[0]}": f"{table.mean_std(a.mean(), a.std(), digits)} (n={len(a)})",
        f"B: {sides[1]}": f"{table.mean_std(b.mean(), b.std(), digits)} (n={len(b)})",
        "B - A": f"{diff:+.4f}",
        "95% CI": "-" if math.isnan(low) else f"[{low:+.4f}, {high:+.4f}]",
        "verdict": verdict,
    }


def welch_interval(a: list[float], b: list[float], level: float = 0.95) -> tuple[float, float]:
    """The confidence interval of mean(b) - mean(a), Welch's t (NaNs below 2 runs a side)."""
    from scipy.special import stdtrit  # Student's t quantile: scipy.stats costs 1 s to import

    if len(a) < 2 or len(b) < 2:
        return math.nan, math.nan
    va, vb = pd.Series(a).var() / len(a), pd.Series(b).var() / len(b)
    diff = sum(b) / len(b) - sum(a) / len(a)
    se = math.sqrt(va + vb)
    if se == 0:
        return diff, diff
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    t = stdtrit(dof, 0.5 + level / 2)
    return diff - t * se, diff + t * se


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
    part = part[part["status"].isin(table.RESULTS)]  # an interrupted run is not a result
    if part.empty:
        raise BadInput(f"--compare {side}: matches no run that ended with a result")
    return part
