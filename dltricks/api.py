"""dltricks from Python (a notebook, a script): the command line's train, sweep and report as
functions, with the same overrides, the same checks and the same files on disk.

    from dltricks import api
    summary = api.train(["optimizer=adam", "trainer.epochs=5"])
    runs = api.sweep(["model.depth=4,8", "seed=0,1"])       # a DataFrame, a row a run
    curves = api.metrics(runs.run)                          # a row per run and epoch
    api.report(runs.run, by=["model.depth"])                # renders in Jupyter

A call runs in the caller's process and leaves it as it found it: it never installs signal
handlers (Ctrl-C stops the run: KeyboardInterrupt), never reads or sets sys.argv, and puts
the logging handlers back. Bad input raises api.BadInput (dltricks.errors.BadInput) with the
message the command line prints (exit code 2 there).
"""

from __future__ import annotations

import base64
import html
import logging
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dltricks.errors import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_OK, BadInput

if TYPE_CHECKING:
    import pandas as pd

    from dltricks.report.build import Report

Paths = str | Path | Iterable[str | Path]
__all__ = ["BadInput", "ReportView", "metrics", "report", "runs", "sweep", "train"]


def train(overrides: str | Sequence[str] = (), run_dir: str | Path | None = None) -> dict:
    """One run, as `dltricks train OVERRIDES`: its summary.json as a dict. `run_dir` is
    hydra.run.dir (default: the config's, a new outputs/runs/DATE/TIME)."""
    from dltricks import config

    args = _words(overrides)
    if run_dir is None:
        _, hydra = config.load_with_hydra(args)  # checks the overrides too
        run_dir = str(hydra.run.dir)
    _launch([*args, f"hydra.run.dir={run_dir}"])
    return _summary(Path(run_dir))


def sweep(overrides: str | Sequence[str], sweep_dir: str | Path | None = None) -> pd.DataFrame:
    """A sweep, as `dltricks train -m OVERRIDES` (every launcher and sweeper, the search
    too): its runs as runs() gives them. `sweep_dir` is hydra.sweep.dir (default: the
    config's, a new outputs/sweeps/DATE/TIME or an experiment's own)."""
    from dltricks import config

    args = _words(overrides)
    if sweep_dir is None:
        _, hydra = config.load_with_hydra([a for a in args if not config.is_swept(a)])
        sweep_dir = str(hydra.sweep.dir)
    _launch(["-m", *args, f"hydra.sweep.dir={sweep_dir}"], sweep=True)
    return runs(sweep_dir)


def runs(paths: Paths = (), target: float | None = None) -> pd.DataFrame:
    """A row per run found under `paths` (default: the newest output): `run` (its dir),
    `status`, its options (config groups and overridden keys), the final and best metrics,
    the seed; with `target`, steps_to_target (val_err reaching it)."""
    from dltricks.report import table
    from dltricks.report.runs import load_run

    found = _found(paths)
    return table.frame([load_run(d, target) for d in found])


def metrics(paths: Paths = ()) -> pd.DataFrame:
    """The evaluations of every run under `paths`, a row per run and epoch (metrics.csv's
    columns), with the run's dir and options beside them: ready for a groupby or a plot."""
    import pandas as pd

    from dltricks.records import METRIC_COLUMNS
    from dltricks.report.runs import read_table

    found = _found(paths)
    options = runs([d.path for d in found]).set_index("run")
    keep = [c for c in options.columns if c not in (*METRIC_COLUMNS, "warnings", "error")]
    frames = []
    for d in found:
        df = read_table(d.path)
        if df is None or df.empty:
            continue
        frames.append(df.assign(run=str(d.path), **options.loc[str(d.path), keep].to_dict()))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["run"])


def report(
    paths: Paths = (),
    by: str | Sequence[str] = (),
    metric: str | Sequence[str] = (),
    compare: str | Sequence[str] | None = None,
    target: float | None = None,
    x: str | None = None,
    layers: bool = False,
    sort: str | None = None,
) -> ReportView:
    """The report `dltricks report PATHS --by ...` prints, as an object: .table (its
    numbers), .shown (the table as printed), .notes (the diagnosis), .figures() (the PNGs);
    it renders in Jupyter (the table, the notes, the figures inline). A `dltricks versus`
    folder gives its comparison (the tables, performance profiles, lr sensitivity)."""
    from dltricks.report import cli
    from dltricks.report.build import build_report

    argv = [str(p) for p in _paths(paths)]
    argv += ["--by", ",".join(_words(by))] if by else []
    argv += ["--metric", ",".join(_words(metric))] if metric else []
    argv += ["--compare", *_words(compare)] if compare else []
    argv += ["--target", str(target)] if target is not None else []
    argv += ["--x", x, "--out", tempfile.gettempdir()] if x else []
    argv += ["--layers"] if layers else []
    argv += ["--sort", sort] if sort else []
    try:
        opts = cli.parser().parse_args(argv)
    except SystemExit:
        raise BadInput(f"report: arguments not understood: {' '.join(argv)}") from None
    req = cli.request(opts)
    return ReportView(build_report(req), req.by)


@dataclass
class ReportView:
    """A report as Python objects; `_repr_html_` is how Jupyter shows it."""

    built: Report
    by: list[str]

    @property
    def table(self) -> pd.DataFrame:
        """The numbers (means, stds and counts for groups, the --by keys' values as typed:
        20, not "20"); the shown table for --compare."""
        from dltricks.report.table import parse

        numbers = self.built.numbers
        if numbers is None:
            return self.built.shown
        keys = [k for k in self.by if k in numbers]
        return numbers.assign(**{k: numbers[k].map(parse) for k in keys})

    @property
    def shown(self) -> pd.DataFrame:
        return self.built.shown

    @property
    def notes(self) -> list[str]:
        return list(self.built.notes)

    @property
    def sections(self) -> dict[str, pd.DataFrame]:
        """Further tables (a comparison's, --layers'), by heading."""
        from dltricks.report import cli

        return {title: df for title, df in cli.tables(self.built).values()}

    def figures(self, out: str | Path | None = None) -> list[Path]:
        """Draw the report's PNGs into `out` (default: a new temporary folder)."""
        from dltricks.report import cli

        folder = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="dltricks-"))
        folder.mkdir(parents=True, exist_ok=True)
        built = self.built
        return built.draw(folder) if built.draw else cli.figures(built, folder)

    def __repr__(self) -> str:
        from dltricks.report import render

        return render.render(self.shown, "table", self.built.title, self.built.notes)

    def _repr_html_(self) -> str:
        parts = [f"<h3>{html.escape(self.built.title)}</h3>", self.shown.to_html(index=False)]
        parts += [
            f"<h4>{html.escape(t)}</h4>{df.to_html(index=False)}" for t, df in self.sections.items()
        ]
        if self.notes:
            items = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes)
            parts.append(f"<ul>{items}</ul>")
        for png in self.figures():
            data = base64.b64encode(png.read_bytes()).decode()
            parts.append(f'<img alt="{html.escape(png.stem)}" src="data:image/png;base64,{data}">')
        return "\n".join(parts)


# ---------------------------------------------------------------- one launch, as the CLI's


def _launch(args: list[str], sweep: bool = False) -> None:
    """launch.train(args) in this process as a library call: messages raised, not printed."""
    from dltricks import errors, launch, signals

    with signals.library_call(), errors.heard() as said, _logging_kept():
        try:
            code = launch.train(args)
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else EXIT_INTERNAL
    if code == EXIT_BAD_INPUT:
        raise BadInput(said[-1] if said else "bad input (see the output above)")
    if code == 130:
        raise KeyboardInterrupt
    if code not in (EXIT_OK, EXIT_INTERNAL) or (code == EXIT_INTERNAL and not sweep):
        raise RuntimeError(f"dltricks train {' '.join(args)}: exit code {code}: {'; '.join(said)}")
    # a sweep whose jobs failed exits 1 on the command line: here its runs say which


@contextmanager
def _logging_kept() -> Iterator[None]:
    """Hydra configures the root logger for each run (a file handler into the run dir): the
    caller's logging comes back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        for handler in root.handlers[:]:
            if handler not in handlers:
                handler.close()
                root.removeHandler(handler)
        for handler in handlers:
            if handler not in root.handlers:
                root.addHandler(handler)
        root.setLevel(level)


def _summary(run_dir: Path) -> dict:
    from dltricks.rundir import RunDir

    summary = RunDir(run_dir).read_summary()
    if summary.problem:
        raise BadInput(f"{run_dir}: its summary.json cannot be read ({summary.problem})")
    return summary.data


def _words(value: str | Sequence[str] | None) -> list[str]:
    """Overrides or keys as a list: "a=1 b=2" and "a,b" for keys split as the CLI would."""
    if value is None:
        return []
    if isinstance(value, str):
        return value.split()
    return [str(v) for v in value]


def _paths(paths: Paths) -> list[Path]:
    if isinstance(paths, str | Path):
        return [Path(paths)]
    return [Path(p) for p in paths]


def _found(paths: Paths) -> list:
    from dltricks.report.build import newest_output
    from dltricks.rundir import find_runs

    roots = _paths(paths) or [newest_output()]
    missing = [str(r) for r in roots if not r.exists()]
    if missing:
        raise BadInput(f"{', '.join(missing)}: no such file or directory")
    return find_runs(roots)
