"""The report of a comparison folder (`dltricks versus`, plan.json at its root), from the
files alone: per problem and option, the final test error mean and 95% interval over the
re-run seeds, the option's defaults beside it and what tuning gained, the steps and seconds
to the problem's target (never reached: infinite), whether it is distinguishable from the
problem's best option (Welch); the performance profiles over problems and their scores
(profiles.py); the tuning trials' sensitivity to the learning rate, as figures."""

from __future__ import annotations

import math
import re
import statistics
from pathlib import Path
from typing import Any

import pandas as pd

from dltricks.errors import BadInput
from dltricks.report import profiles, table
from dltricks.report.compare import welch_interval
from dltricks.report.runs import load_run
from dltricks.rundir import find_runs, phase_dir

NAME = re.compile(r"[A-Za-z0-9_.+-]+")  # a problem's or option's name: a folder of the plan
PROFILES = "Performance profiles (steps to the target; AlgoPerf's score over tau in [1, 4])"


def checked(plan: dict[str, Any], root: Path) -> dict[str, Any]:
    """A plan read back (someone else may have written it): its lists of names, its numbers."""
    ok = (
        isinstance(plan.get("group"), str)
        and all(isinstance(plan.get(k), list) and plan[k] for k in ("options", "problems"))
        and all(_named(n) for k in ("options", "problems") for n in plan[k])
        and isinstance(plan.get("targets"), dict)
        and all(isinstance(plan["targets"].get(p), int | float) for p in plan["problems"])
    )
    if not ok:
        raise BadInput(f"{root}: its plan.json is not a comparison's plan (was it edited?)")
    return plan


def _named(name: Any) -> bool:
    return isinstance(name, str) and bool(NAME.fullmatch(name)) and name not in (".", "..")


def runs(root: Path, plan: dict[str, Any], problem: str, option: str, phase: str) -> list[dict]:
    target = float(plan["targets"][problem])
    metric = str((plan.get("metrics") or {}).get(problem, "val_err"))
    runs_dir = phase_dir(root, problem, option, phase)
    return [load_run(d, target, metric) for d in find_runs([runs_dir])]


def _done(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r["status"] in table.RESULTS]


def _test_errors(rows: list[dict]) -> list[float]:
    return [r["test_err"] for r in rows if r["test_err"] is not None]


def _mean_ci(values: list[float]) -> tuple[float, float]:
    """Mean and the 95% interval's half-width (Student's t; nan below two values)."""
    from scipy.special import stdtrit  # Student's t quantile: scipy.stats costs 1 s to import

    if not values:
        return math.nan, math.nan
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, math.nan
    sd = statistics.stdev(values)
    return mean, float(stdtrit(len(values) - 1, 0.975)) * sd / math.sqrt(len(values))


def _median_time(rows: list[dict], key: str) -> float:
    """The median over runs of a time to the target (a run that never reached it: inf)."""
    times = [r.get(key) for r in rows]
    if not times:
        return math.inf
    return statistics.median([t if t is not None else math.inf for t in times])


def gather(root: Path, plan: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, list[dict]]]:
    """One row of numbers per (problem, option); the tuning trials, by problem."""
    records, trials = [], {}
    for problem in plan["problems"]:
        for option in plan["options"]:
            rerun = _done(runs(root, plan, problem, option, "rerun"))
            default = _done(runs(root, plan, problem, option, "default"))
            tuned = runs(root, plan, problem, option, "tune")
            trials.setdefault(problem, []).extend({**t, "option": option} for t in tuned)
            errors = _test_errors(rerun)
            mean, ci = _mean_ci(errors)
            base, base_ci = _mean_ci(_test_errors(default))
            records.append({
                "problem": problem, "option": option, "test_err": mean, "ci": ci,
                "default_test_err": base, "default_ci": base_ci, "gain": base - mean,
                "steps_to_target": _median_time(rerun, "steps_to_target"),
                "seconds_to_target": _median_time(rerun, "seconds_to_target"),
                "n": len(rerun), "trials": len(tuned),
                "_errors": errors,
            })  # fmt: skip
    df = pd.DataFrame(records)
    df["vs_best"] = [_verdict(df, i) for i in df.index]
    return df, trials


def _verdict(df: pd.DataFrame, i: int) -> str:
    """Whether an option is distinguishable from its problem's best (lowest mean test error)."""
    mine = df.loc[i]
    rivals = df[(df["problem"] == mine["problem"]) & df["test_err"].notna()]
    if rivals.empty or pd.isna(mine["test_err"]):
        return "no runs"
    best = rivals.loc[rivals["test_err"].idxmin()]
    if best["option"] == mine["option"]:
        return "best"
    low, high = welch_interval(best["_errors"], mine["_errors"])
    if math.isnan(low):
        return "too few seeds"
    return "not distinguishable" if low <= 0 <= high else "worse"


def profile_table(df: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    times = {
        p: dict(zip(g["option"], g["steps_to_target"], strict=True))
        for p, g in df.groupby("problem", sort=False)
    }
    r = profiles.ratios(times)
    options = list(dict.fromkeys(df["option"]))
    rows = [
        {"option": o, "score": profiles.score(r, o),
         **{f"rho({tau:g})": profiles.rho(r, o, tau) for tau in (1.0, 1.5, 2.0, 4.0)}}
        for o in options
    ]  # fmt: skip
    return pd.DataFrame(rows).sort_values("score", ascending=False, kind="stable"), r


def shown_table(df: pd.DataFrame) -> pd.DataFrame:
    def time(v: float, digits: int) -> str:
        return "never" if not math.isfinite(v) else (f"{v:.0f}" if digits == 0 else f"{v:.3g}")

    return pd.DataFrame({
        "problem": df["problem"], "option": df["option"],
        "test_err (95% CI)": [table.mean_std(m, c)
                              for m, c in zip(df["test_err"], df["ci"], strict=True)],
        "at defaults": [table.mean_std(m, c)
                        for m, c in zip(df["default_test_err"], df["default_ci"], strict=True)],
        "tuning gain": [f"{g:+.4f}" if not pd.isna(g) else "-" for g in df["gain"]],
        "steps to target": [time(v, 0) for v in df["steps_to_target"]],
        "seconds to target": [time(v, 1) for v in df["seconds_to_target"]],
        "vs best": df["vs_best"], "n": df["n"].astype(str), "trials": df["trials"].astype(str),
    })  # fmt: skip


def conclusions(df: pd.DataFrame, prof: pd.DataFrame, group: str) -> list[str]:
    notes = []
    for problem, g in df.groupby("problem", sort=False):
        best = g[g["vs_best"] == "best"]["option"].tolist()
        tied = g[g["vs_best"] == "not distinguishable"]["option"].tolist()
        if best:
            same = f"; not distinguishable from it: {', '.join(tied)}" if tied else ""
            notes.append(f"{problem}: best {group}={best[0]}{same}")
    ranked = ", ".join(f"{o} {s:.2f}" for o, s in zip(prof["option"], prof["score"], strict=True))
    notes.append(f"profile scores (1: the fastest to the target on every problem): {ranked}")
    gains = df.groupby("option", sort=False)["gain"].mean()
    notes.append(
        "tuning gain over the defaults (mean test error, all problems): "
        + ", ".join(f"{o} {v:+.4f}" for o, v in gains.items() if not pd.isna(v))
    )
    return notes
