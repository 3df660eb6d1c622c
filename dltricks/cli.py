"""dltricks' command line: argv -> subcommand. The only module that reads sys.argv.

Imports are lazy so that `dltricks --help` and `dltricks report` never load torch. `train`
hands its arguments to Hydra untouched (by rewriting sys.argv), so Hydra's own flags (-m,
--cfg, --help, --info, hydra.run.dir=...) keep working; before that, the overrides are composed
and checked here, so bad input ends with one message and exit code 2, before any training.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from dltricks import errors
from dltricks.errors import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_OK, BadInput

USAGE = """\
usage: dltricks <command> [arguments]

Run and compare the classic tricks of training deep networks.

commands:
  train [OVERRIDE ...]      one training run (Hydra overrides), e.g.
                              dltricks train optimizer=adam activation=relu
  train -m [OVERRIDE ...]   a sweep over every combination, e.g.
                              dltricks train -m model.depth=20,56 model.residual=false,true
  resume RUN_DIR [OVERRIDE ...]
                            continue a run from its checkpoint, bit for bit
  report [PATH ...]         tables, plots and diagnosis from the files runs leave
  lr-find [OVERRIDE ...] [--steps N] [--out DIR]
                            the learning-rate range test: loss against an exponentially
                            growing lr, a suggested lr, a table and a plot
  schedule NAME [OVERRIDE ...] [--steps N] [--out PNG]
                            print and plot a learning-rate schedule before training with it

Run `dltricks <command> --help` for the options of a command.
`python -m dltricks ...` is the same program.
"""


def error(message: str) -> int:
    """Print one clear message for bad input; the exit code to return."""
    errors.say(message)
    return EXIT_BAD_INPUT


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return EXIT_OK if argv else EXIT_BAD_INPUT
    if argv[0] == "--version":
        from dltricks import __version__

        print(f"dltricks {__version__}")
        return EXIT_OK
    command = COMMANDS.get(argv[0])
    if command is None:
        return error(f"unknown command '{argv[0]}'. Commands: {', '.join(COMMANDS)}")
    return command(argv[1:])


# ---------------------------------------------------------------- train


def train_command(args: list[str]) -> int:
    """`dltricks train [hydra args]`: check the overrides, then run Hydra's app."""
    from dltricks import hydra_compat

    parsed = hydra_compat.parse_args(args)
    asks_only = parsed.help or parsed.hydra_help or parsed.info or parsed.shell_completion
    sweep_dir = None
    if not asks_only:
        try:
            sweep_dir = check_command_line(parsed.overrides, multirun=parsed.multirun)
            if parsed.cfg:
                sweep_dir = None  # Hydra prints the config, runs nothing
            else:
                claim_output_dir(parsed.overrides, parsed.multirun, sweep_dir)
            if sweep_dir is not None:
                args = [*args, f"hydra.sweep.dir={sweep_dir}"]  # fixed now: tallied below
        except BadInput as err:
            return error(str(err))
    sys.argv = ["dltricks-train", *args]
    run_hydra_app()
    if sweep_dir is None:
        return EXIT_OK
    from dltricks import sweep

    line, ok = sweep.tally_line(sweep_dir)
    print(line, flush=True)
    return EXIT_OK if ok else EXIT_INTERNAL


def check_command_line(overrides: list[str], multirun: bool) -> Path | None:
    """Compose and check the config of every job the command line would start, and Hydra's
    own node; for a sweep, the sweep dir (resolved now)."""
    from dltricks import config, sweep

    if not multirun:
        config.load_with_hydra(overrides)
        return None
    hydra_overrides = [o for o in overrides if o.lstrip("+~").startswith(("hydra.", "hydra/"))]
    _, hydra = config.load_with_hydra(hydra_overrides)
    for job in sweep.checked_jobs(overrides, hydra):
        config.load(job)
    return Path(str(hydra.sweep.dir))


def claim_output_dir(overrides: list[str], multirun: bool, sweep_dir: Path | None) -> None:
    """The run (or sweep) dir must be writable and nobody else's: say so now, not in a
    Hydra traceback; hold its lock (lock.py) before Hydra writes anything there."""
    from dltricks import lock, records
    from dltricks.config import ConfigError

    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    given = [o.split("=", 1)[1] for o in overrides if o.startswith(f"{key}=")]
    folder = Path(given[-1]) if given and "$" not in given[-1] else Path("outputs")
    folder = sweep_dir or folder
    name = f"{key}={folder}" if given or sweep_dir else f"the output folder {folder.resolve()}"
    try:
        if folder.exists() and not folder.is_dir():
            raise NotADirectoryError(20, "not a directory")
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".dltricks-write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as err:
        raise ConfigError(
            f"{name}: cannot write there ({err.strerror}); pick another with {key}=DIR"
        ) from None
    if not (given or sweep_dir):
        return  # a new timestamped dir: the job locks it
    lock.hold(folder, key)  # until this process ends: one writer at a time
    resuming = any(o.startswith("trainer.resume=") for o in overrides)
    holds_run = any((folder / f).exists() for f in (records.SUMMARY, records.METRICS))
    if given and not multirun and holds_run and not resuming:
        lock.release(folder)
        raise ConfigError(
            f"hydra.run.dir={folder}: already holds a run; continue it with "
            f"`dltricks resume {folder}` or pick another dir"
        )


def run_hydra_app() -> None:
    """Hydra's app on sys.argv: a run, or a sweep of them."""
    import hydra

    from dltricks import job

    @hydra.main(version_base="1.3", config_path="pkg://dltricks.conf", config_name="config")
    def app(cfg):
        return job.main(cfg)

    app()


# ---------------------------------------------------------------- resume


def resume(args: list[str]) -> int:
    """`dltricks resume RUN_DIR [OVERRIDE ...]`: continue a run in its own directory, with
    its own overrides (and a new trainer.epochs, say). Checked before Hydra writes anything
    into the run dir: a refused resume leaves the run as it was."""
    from omegaconf import OmegaConf

    from dltricks import checkpoint, config, lock, records, run_record

    if not args or args[0].startswith("-"):
        return error("usage: dltricks resume RUN_DIR [trainer.epochs=N ...]")
    run_dir = Path(args[0])
    if not (run_dir / records.SUMMARY).is_file():
        return error(f"{run_dir}: no summary.json there (not a dltricks run dir?)")
    try:
        lock.hold(run_dir, "dltricks resume")  # held until this process ends
        saved = run_record.saved_overrides(run_dir)
        state = checkpoint.load_for_resume(run_dir / records.CHECKPOINT)
        given = {o.split("=", 1)[0] for o in args[1:]}
        overrides = [o for o in saved if o.split("=", 1)[0] not in given] + args[1:]
        cfg = config.load([*overrides, f"trainer.resume={run_dir}"])
        checkpoint.check_same_config(state["config"], OmegaConf.to_yaml(cfg))
    except BadInput as err:
        if not isinstance(err, lock.Busy):
            lock.release(run_dir)
        return error(str(err))
    return train_command([*overrides, f"hydra.run.dir={run_dir}", f"trainer.resume={run_dir}"])


# ---------------------------------------------------------------- report


def report(args: list[str]) -> int:
    from dltricks.report.cli import main as report_main

    return report_main(args)


# ---------------------------------------------------------------- schedule


def schedule(args: list[str]) -> int:
    """`dltricks schedule NAME [OVERRIDE ...] --steps N --out PNG`: lr against step."""
    import argparse

    p = argparse.ArgumentParser(
        prog="dltricks schedule", description="Print and plot a learning-rate schedule."
    )
    p.add_argument("name", help="an option of the schedule group, e.g. cosine")
    p.add_argument("overrides", nargs="*", help="e.g. schedule.warmup_steps=100 optimizer.lr=0.1")
    p.add_argument("--steps", type=int, default=1000, help="total updates (default 1000)")
    p.add_argument("--out", type=Path, default=None, help="write the curve as a PNG here")
    opts = p.parse_args(args)
    from dltricks import config
    from dltricks.config import ConfigError

    if opts.steps < 1:
        return error(f"--steps {opts.steps}: must be >= 1")
    if opts.out is not None and (
        opts.out.suffix != ".png" or opts.out.is_dir() or not opts.out.parent.is_dir()
    ):
        return error(f"--out {opts.out}: must name a .png file in an existing folder")
    try:
        cfg = config.load([f"schedule={opts.name}", *opts.overrides])
    except ConfigError as err:
        return error(str(err))
    from dltricks.optim import preview
    from dltricks.settings import lr_schedule

    curve, lr = lr_schedule(cfg), cfg.optimizer.lr
    print(f"schedule={opts.name} over {opts.steps} steps (lr {lr}):")
    print("    step  lr")
    print(preview.table(preview.curve_points(curve, lr, opts.steps, picks=11)), end="")
    if opts.out is not None:
        points = preview.curve_points(curve, lr, opts.steps, picks=2000)
        try:
            print(f"wrote {preview.plot(points, f'schedule={opts.name}', opts.out)}")
        except OSError as err:
            return error(f"--out {opts.out}: cannot write it ({err.strerror})")
    return EXIT_OK


# ---------------------------------------------------------------- lr-find


def lr_find(args: list[str]) -> int:
    """`dltricks lr-find [OVERRIDE ...]`: the learning-rate range test for any model and
    optimizer the overrides pick."""
    import argparse
    import time

    p = argparse.ArgumentParser(
        prog="dltricks lr-find", description="The learning-rate range test (Smith 2017)."
    )
    p.add_argument("overrides", nargs="*", help="as for train, e.g. optimizer=adam model.depth=8")
    p.add_argument("--steps", type=int, default=200, help="updates (default 200)")
    p.add_argument("--min-lr", type=float, default=1e-6)
    p.add_argument("--max-lr", type=float, default=10.0)
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where lr_find.csv and .png go (default outputs/lr_find/<time>)",
    )
    opts = p.parse_args(args)
    if opts.steps < 10 or not 0 < opts.min_lr < opts.max_lr:
        return error("--steps must be >= 10 and 0 < --min-lr < --max-lr")
    from dltricks import config

    out = opts.out or Path("outputs/lr_find") / time.strftime("%Y-%m-%d/%H-%M-%S")
    try:
        cfg = config.load(opts.overrides)
        out.mkdir(parents=True, exist_ok=True)
        from dltricks.lr_find import lr_find as range_test

        result = range_test(cfg, out, opts.steps, opts.min_lr, opts.max_lr)
    except BadInput as err:
        return error(str(err))
    except OSError as err:
        return error(f"--out {out}: {err.strerror}")
    print(
        f"lr-find over {result['steps']} steps, lr {opts.min_lr:g} .. {opts.max_lr:g}: "
        f"lowest smoothed loss {result['min_loss']:.4f} at lr {result['min_loss_lr']:.3g}"
    )
    print(f"suggested lr: {result['suggested_lr']:.3g} (steepest descent of the loss)")
    print(f"wrote {out / 'lr_find.csv'}, {out / 'lr_find.png'}")
    return EXIT_OK


COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "train": train_command,
    "report": report,
    "resume": resume,
    "lr-find": lr_find,
    "schedule": schedule,
}
