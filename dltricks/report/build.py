"""The report as data: which runs, the table (per run, or per group of --by keys with seeds
aggregated), the diagnosis of each row, the notes, and what the plots draw. report/cli.py
renders it; nothing here writes a file."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from dltricks.errors import BadInput
from dltricks.report import compare, pooling, table
from dltricks.report.diagnosis import Facts, Thresholds, diagnose
from dltricks.report.runs import load_run
from dltricks.rundir import OUTPUTS, find_runs, read_plan

Groups = dict[str, list[Path]]  # a row's label -> the run dirs it aggregates


class Sensitivity(NamedTuple):
    """--x: the key along the x axis, the --by keys, the metrics to plot."""

    x: str
    by: list[str]
    metrics: list[str]


@dataclass
class Report:
    title: str
    shown: pd.DataFrame  # the table as displayed (strings)
    numbers: pd.DataFrame | None  # its numbers (None for --compare)
    notes: list[str]  # the diagnosis of each row, then each run's warnings
    groups: Groups = field(default_factory=dict)  # what the plots draw, a line per label
    layers: pd.DataFrame | None = None  # --layers: the per-layer table
    sensitivity: Sensitivity | None = None  # --x
    # further tables: a file's stem (for csv and json, a file each) -> (heading, table)
    sections: dict[str, tuple[str, pd.DataFrame]] = field(default_factory=dict)
    draw: Callable[[Path], list[Path]] | None = None  # its own figures (a comparison's)


@dataclass
class Request:
    """What the command line asked for (report/cli.py's options, checked)."""

    paths: list[Path]
    by: list[str]
    metrics: list[str]
    sort: str | None = None
    compare: list[str] | None = None
    limits: Thresholds = field(default_factory=Thresholds)
    layers: bool = False
    target: float | None = None
    x: str | None = None


def build_report(req: Request) -> Report:
    """Read every run under the paths and summarize them as asked (a comparison folder of
    `dltricks versus`, its plan.json at the root: its own report)."""
    roots = req.paths or [newest_output()]
    for root in roots:
        if not root.exists():
            raise BadInput(f"{root}: no such file or directory")
    plan, problem = read_plan(roots[0]) if len(roots) == 1 else (None, None)
    if problem:
        raise BadInput(f"{roots[0]}: its plan.json is unreadable ({problem})")
    if plan is not None:
        return comparison_report(roots[0], plan)
    found = find_runs(roots)
    run_dirs = [d.path for d in found]
    if not run_dirs:
        raise BadInput(
            f"no runs under {', '.join(map(str, roots))} (a run dir holds "
            "summary.json or metrics.csv); run `dltricks train` first"
        )
    rows = [load_run(d, req.target) for d in found]
    df = table.frame(rows, req.by)
    pooled = []
    if req.by and not req.compare:  # never average runs of different settings as seeds
        added = pooling.hidden_differences(rows, list(_indices(df, req.by).values()), req.by)
        if added:
            pooled = [pooling.note(req.by, added)]
            req = replace(req, by=[*req.by, *added])
            df = table.frame(rows, req.by)
    df["run"] = [_relative(Path(r), roots) for r in df["run"]]
    runs = f"{len(run_dirs)} run" + "s" * (len(run_dirs) != 1)
    title = f"dltricks report: {runs} under {_where(roots)}"
    if req.compare:
        shown = compare.compare(df, rows, req.compare, req.metrics)
        report = Report(title, shown, None, [])
    else:
        report = summarize(df, rows, run_dirs, req)
        report.title = title
        if req.x:
            report.sensitivity = Sensitivity(req.x, req.by, req.metrics)
    report.notes = [*pooled, *report.notes]
    report.notes += [f"{r}: {w}" for r, w in zip(df["run"], df["warnings"], strict=True) if w]
    if req.layers:
        report.layers = table.layer_table(report.groups)
        if report.layers.empty:
            raise BadInput(
                "--layers: no per-layer statistics (layers.csv) in these runs; train with "
                "trainer.probes=true"
            )
    return report


def summarize(df: pd.DataFrame, rows: list[dict], run_dirs: list[Path], req: Request) -> Report:
    """The table, its numbers, the diagnosis notes and the plot groups, for runs or groups."""
    by, metrics = req.by, req.metrics
    for key in by:
        if df[key].isna().all():
            raise BadInput(
                f"--by {key}: no run has this key (try a group name such as "
                "optimizer, or a config key such as model.depth)"
            )
    if by:
        numbers = table.group(df, by, [*dict.fromkeys([*metrics, "train_err", "val_err"])])
        shown = table.display(numbers, by, metrics, grouped=True)
        names = [_label(by, tuple(r)) for r in numbers[by].to_numpy()]
        members = ([run_dirs[i] for i in idx] for idx in _indices(df, by).values())
        groups = dict(zip(names, members, strict=True))
        facts = [merged([rows[i]["facts"] for i in idx]) for idx in _indices(df, by).values()]
        judged = zip(
            numbers["statuses"].map(_worst),
            numbers["train_err_mean"],
            numbers["val_err_mean"],
            facts,
            strict=True,
        )
    else:
        numbers = df
        named = {o.lstrip("+~").split("=", 1)[0] for r in rows for o in r["overrides"]}
        keys = table.varying(df, named)
        shown = table.display(df, ["run", *keys], metrics, grouped=False)
        names = list(df["run"])
        groups = {
            _label(keys, tuple(r)) or run: [d]
            for r, run, d in zip(df[keys].to_numpy(), df["run"], run_dirs, strict=True)
        }
        facts = [r["facts"] for r in rows]
        judged = zip(df["status"], df["train_err"], df["val_err"], facts, strict=True)
    verdicts = [diagnose(status, tr, va, req.limits, f) for status, tr, va, f in judged]
    shown["diagnosis"] = [v.label for v in verdicts]
    notes = [f"{name}: {v.advice}" for name, v in zip(names, verdicts, strict=True)]
    if req.sort:
        shown = _sorted(shown, numbers, req.sort, by)
    return Report("", shown, numbers, notes, groups)


def comparison_report(root: Path, plan: dict) -> Report:
    """A comparison's report (report/versus.py): its table, the profiles, its figures."""
    from dltricks.report import profile_plots, versus

    plan = versus.checked(plan, root)
    df, trials = versus.gather(root, plan)
    prof, ratios = versus.profile_table(df)
    options = list(plan["options"])

    def draw(out: Path) -> list[Path]:
        drawn = [
            profile_plots.profile_plot(ratios, options, out / "profiles.png"),
            profile_plots.sensitivity_plot(trials, options, out / "lr_sensitivity.png"),
        ]
        return [p for p in drawn if p is not None]

    title = (
        f"dltricks versus: {plan['group']}={','.join(options)} on {len(plan['problems'])} "
        f"problems (budget {plan.get('budget')}, {plan.get('seeds')} seeds) in {root}"
    )
    numbers = df.drop(columns=["_errors"])
    notes = versus.conclusions(df, prof, plan["group"])
    shown_prof = prof.assign(**{c: prof[c].map(lambda v: f"{v:.2f}") for c in prof.columns[1:]})
    return Report(title, versus.shown_table(df), numbers, notes,
                  sections={"profiles": (versus.PROFILES, shown_prof)}, draw=draw)  # fmt: skip


def merged(facts: list[Facts]) -> Facts:
    """A group's facts: an option where all its runs agree on it; still falling where most
    runs' curves were."""

    def shared(name: str):
        values = [getattr(f, name) for f in facts]
        return values[0] if all(v == values[0] for v in values) else None

    return Facts(
        activation=shared("activation"),
        optimizer=shared("optimizer"),
        norm=shared("norm"),
        residual=shared("residual"),
        regularization=shared("regularization") or [],
        label_noise=shared("label_noise") or 0.0,
        still_falling=2 * sum(f.still_falling for f in facts) > len(facts),
    )


def _worst(statuses: str) -> str:
    """A group's statuses ('2 completed, 1 diverged') -> the one that matters most."""
    for s in ("diverged", "failed", "crashed"):
        if s in statuses:
            return s
    return statuses.split(" (")[0].split()[-1]


def _indices(df: pd.DataFrame, by: list[str]) -> dict[tuple, list[int]]:
    out: dict[tuple, list[int]] = {}
    for i, vals in enumerate(df[by].apply(table.as_text).itertuples(index=False, name=None)):
        out.setdefault(vals, []).append(i)
    return out


def _label(keys: list[str], values: tuple) -> str:
    """A row's name in legends and notes: key=value as typed (3, not 3.0; a key the run
    does not have left out, not shown as nan)."""
    text = pd.Series(list(values), dtype=object).pipe(table.as_text)
    return ", ".join(f"{k}={v}" for k, v in zip(keys, text, strict=True) if v != "-")


def _sorted(shown: pd.DataFrame, numbers: pd.DataFrame, sort: str, by: list[str]) -> pd.DataFrame:
    column = f"{sort}_mean" if by and f"{sort}_mean" in numbers else sort
    if column not in numbers:
        raise BadInput(f"--sort {sort}: no such column; use one of {', '.join(shown.columns)}")
    order = numbers[column].sort_values(kind="stable", na_position="last").index
    return shown.loc[order].reset_index(drop=True)


def newest_output() -> Path:
    """The newest sweep or run under outputs/: the last started, by the DATE/TIME of its
    name (Hydra's default dirs) or, for a dir named with hydra.sweep.dir or hydra.run.dir
    (outputs/sweeps/seeds), by when it last changed."""
    candidates = []
    for kind in ("sweeps", "runs"):
        for entry in (OUTPUTS / kind).glob("*"):
            if not entry.is_dir() or entry.is_symlink():
                continue
            dated = _stamp(entry.name, "%Y-%m-%d") is not None
            candidates += [p for p in entry.glob("*") if p.is_dir()] if dated else [entry]
    if not candidates:
        raise BadInput(f"no runs under {OUTPUTS}/: run `dltricks train` first, or name a path")
    return max(candidates, key=_started)


def _started(folder: Path) -> float:
    named = _stamp(f"{folder.parent.name} {folder.name}", "%Y-%m-%d %H-%M-%S-%f")
    named = named or _stamp(f"{folder.parent.name} {folder.name}", "%Y-%m-%d %H-%M-%S")
    return named if named is not None else folder.stat().st_mtime


def _stamp(text: str, pattern: str) -> float | None:
    """The local time `text` names in `pattern`, as seconds since the epoch (None: not one)."""
    import datetime

    try:
        return datetime.datetime.strptime(text, pattern).timestamp()
    except ValueError:
        return None


def _where(roots: list[Path]) -> str:
    """The paths named, or for many (a shell glob) the folder they share and their number."""
    if len(roots) <= 3:
        return ", ".join(map(str, roots))
    try:
        return f"{os.path.commonpath(roots)} ({len(roots)} paths)"
    except ValueError:  # absolute and relative mixed
        return f"{roots[0]} and {len(roots) - 1} more paths"


def _relative(run: Path, roots: list[Path]) -> str:
    for root in roots:
        try:
            rel = os.path.relpath(run, root)
        except ValueError:
            continue
        if not rel.startswith(".."):
            return rel if rel != "." else run.name
    return str(run)
