"""Runs -> one pandas row each; the columns that tell runs apart; groups over seeds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from dltricks.records import BEST, EVALUATED
from dltricks.records import LAYER_STATS as PROBED
from dltricks.records import RESULTS as ENDED_WITH_A_RESULT
from dltricks.report.runs import SUMMARY_NUMBERS, stack

DEFAULT_METRICS = ["train_err", "val_err", "test_err", "best_val_err"]
# what --metric may name: the final and best metrics, the summary's numbers, --target's count
METRIC_COLUMNS = [
    *EVALUATED,
    *(f"best_{k}" for k in BEST),
    *(k for k in SUMMARY_NUMBERS if k != "seed"),
    "steps_to_target",
]


def frame(rows: list[dict[str, Any]], by: list[str] = ()) -> pd.DataFrame:
    """One row per run: its options and overridden keys as columns, then the metrics."""
    records = []
    for row in rows:
        rec: dict[str, Any] = {"run": row["run"], "status": row["status"]}
        for group, option in sorted(row["choices"].items()):
            rec[group] = ("+".join(option) or "none") if isinstance(option, list) else option
        for override in row["overrides"]:
            key, _, value = override.lstrip("+~").partition("=")
            if key not in row["choices"] and not key.startswith("hydra"):
                rec[key] = parse(value)
        for key in by:  # a grouping key no override named: read it from the run's config
            if key not in rec:
                rec[key] = row["config"].get(key)
        rec.update({k: row.get(k) for k in METRIC_COLUMNS if k != "status"})
        rec.update(
            seed=row.get("seed"), error=row.get("error"), warnings="; ".join(row["warnings"])
        )
        records.append(rec)
    return pd.DataFrame.from_records(records)


def parse(value: str) -> Any:
    """A key's value as typed on the command line: 20, 0.1, true, adam."""
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(value.lower(), value)


def varying(df: pd.DataFrame, named: set[str] = frozenset()) -> list[str]:
    """The option and override columns whose value differs between runs; for one run, those
    its command line `named` (the rest are the defaults: a row of 20 columns says nothing)."""
    skip = set(METRIC_COLUMNS) | {"run", "status", "seed", "error", "warnings"}
    candidates = [c for c in df.columns if c not in skip]
    if len(df) <= 1:
        return [c for c in candidates if c in named and df[c].notna().any()]
    return [c for c in candidates if df[c].astype(str).nunique(dropna=False) > 1]


def as_text(column: pd.Series) -> pd.Series:
    """Key values as the user typed them: 20 not 20.0 (a column with a gap becomes float)."""

    def text(v: Any) -> str:
        if v is None or (isinstance(v, float) and pd.isna(v)):
            return "-"
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v)

    return column.map(text)


# the runs whose numbers a mean takes: those that ended with a result, but a pruned one
# (a search stopped it early: its numbers are an unfinished run's)
RESULTS = tuple(s for s in ENDED_WITH_A_RESULT if s != "pruned")


def as_text_rows(df: pd.DataFrame, keys: list[str]) -> pd.Series:
    """Each row's values of `keys`, as text, joined into one string (a grouping label)."""
    return df[keys].apply(as_text).agg("\x1f".join, axis=1)


def group(df: pd.DataFrame, by: list[str], metrics: list[str]) -> pd.DataFrame:
    """Aggregate runs that share the `by` values (seeds, typically): mean, std and n of
    each metric over the runs that ended with a result (an interrupted or failed run's last
    numbers are not a result: it is counted in `statuses`, not in the means)."""
    keys = df[by].apply(as_text)
    unfinished = ~df["status"].isin(RESULTS)
    masked = df.assign(**{k: keys[k] for k in by})
    masked.loc[unfinished, metrics] = float("nan")
    grouped = masked.groupby(by, sort=False, dropna=False)
    out = grouped[metrics].agg(["mean", "std"])
    out.columns = [f"{m}_{stat}" for m, stat in out.columns]
    out["n"] = grouped["status"].agg(lambda s: int(s.isin(RESULTS).sum()))
    out["statuses"] = grouped["status"].agg(lambda s: _tally(s.tolist()))
    return out.reset_index()


def _tally(statuses: list[str]) -> str:
    counts: dict[str, int] = {}
    for s in statuses:
        counts[s] = counts.get(s, 0) + 1
    out = ", ".join(f"{n} {s}" for s, n in counts.items())
    return out + (" (not in the means)" if set(counts) - set(RESULTS) else "")


def display(
    df: pd.DataFrame, key_columns: list[str], metrics: list[str], grouped: bool
) -> pd.DataFrame:
    """The table as strings: metrics as 'mean ± std' for groups, 4 decimals for runs."""
    out = df[key_columns].apply(as_text) if key_columns else pd.DataFrame(index=df.index)
    for m in metrics:
        if grouped:
            pairs = zip(df[f"{m}_mean"], df[f"{m}_std"], strict=True)
            out[m] = [mean_std(a, b, DIGITS.get(m, 4)) for a, b in pairs]
        else:
            out[m] = [_num(v, DIGITS.get(m, 4)) for v in df[m]]
    if grouped:
        out["n"] = df["n"].astype(str)
        out["runs"] = df["statuses"]
    else:
        out["status"] = df["status"]
        out["epochs"] = [_num(v, 0) for v in df["epochs"]]
    return out


def _num(value: Any, digits: int = 4) -> str:
    if value is None or pd.isna(value):
        return "-"
    return f"{value:.{digits}f}"


# Decimals shown per metric: errors and losses 4; counts and seconds fewer.
DIGITS = {"params": 0, "epochs": 0, "best_epoch": 1, "steps_to_target": 1, "wall_s": 1}
DIGITS |= {"samples_per_s": 0}


def mean_std(mean: float, std: float, digits: int = 4) -> str:
    """'mean ± std'; the mean alone for one run, or for a count every run shares."""
    if pd.isna(mean):
        return "-"
    if pd.isna(std) or (digits < 2 and std == 0):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


# the probes' statistics the per-layer table shows (weight norms only matter as ratios)
LAYER_STATS = ["act_mean", "act_std", "grad_norm", "update_ratio", "dead_frac"]
assert set(LAYER_STATS) <= set(PROBED)


def layer_table(groups: dict[str, list[Path]]) -> pd.DataFrame:
    """Per group and layer, at initialization (epoch 0) and at the last probe: the mean over
    the group's runs of each of LAYER_STATS (layers.csv, trainer.probes=true)."""
    parts = []
    for label, runs in groups.items():
        df = stack(runs, layers=True, columns=("epoch", "index", *LAYER_STATS))
        if df.empty:
            continue
        for epoch in sorted({df["epoch"].min(), df["epoch"].max()}):
            at = df[df["epoch"] == epoch].groupby("index")[LAYER_STATS].mean()
            parts.append(at.reset_index().assign(group=label, epoch=epoch))
    if not parts:
        return pd.DataFrame()
    return pd.concat(parts, ignore_index=True)[["group", "epoch", "index", *LAYER_STATS]]
