"""dltricks' command line: argv -> subcommand. The only module that reads sys.argv.

Imports are lazy so that `dltricks --help` and `dltricks report` never load torch. `train`
hands its arguments to Hydra untouched (by rewriting sys.argv), so Hydra's own flags (-m,
--cfg, --help, --info, hydra.run.dir=...) keep working; before that, the overrides are composed
and checked here, so bad input ends with one message and exit code 2, before any training.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dltricks.errors import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_OK, BadInput, bad_input

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
  check [OVERRIDE ...]      the gradient check (autograd against finite differences, per
                            layer) and dropout as an ensemble, on the built model
  ensemble RUN_DIR ...      the mean prediction of finished runs against each of them

Run `dltricks <command> --help` for the options of a command.
`python -m dltricks ...` is the same program.
"""


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
        return bad_input(f"unknown command '{argv[0]}'. Commands: {', '.join(COMMANDS)}")
    return command(argv[1:])


def console() -> None:
    """The `dltricks` command (and `python -m dltricks`): main() as a process."""
    if hasattr(signal, "SIGPIPE"):  # `dltricks ... | head`: end quietly when the reader does
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())


# ---------------------------------------------------------------- train


def train_command(args: list[str]) -> int:
    """`dltricks train [hydra args]`: check the overrides, then run Hydra's app."""
    from dltricks import plugins

    try:
        return _train(args)
    finally:
        plugins.forget_config_dirs()  # --config-dir is this command's (a library call's too)


def _train(args: list[str]) -> int:
    import warnings

    from dltricks import hydra_compat, lock, plugins

    # conf/hydra/launcher/ray.yaml replaces the Ray plugin's option of the same name on
    # purpose (see its comment); Hydra checks it against the plugin's schema, and says so
    warnings.filterwarnings("ignore", message="\n'hydra/launcher/ray' is validated against")
    parsed = hydra_compat.parse_args(args)
    claimed = sweep_dir = None
    pinned: list[str] = []
    mode: Any = PROBE  # hydra.mode, once the check has composed the config
    try:
        wrong = hydra_compat.flags_error(parsed)
        if wrong:
            raise BadInput(wrong)
        if parsed.config_dir:
            plugins.add_config_dir(Path(parsed.config_dir))
        if parsed.help:
            print(train_help(parsed.overrides))
            return EXIT_OK
        install = [o for o in parsed.overrides if o.startswith("install=")]
        if parsed.shell_completion and install:  # -sc install=bash: our script, for dltricks
            from dltricks.completion import install_script

            print(install_script(install[0].split("=", 1)[1]), end="")
            return EXIT_OK
        if not (parsed.hydra_help or parsed.info or parsed.shell_completion):
            sweep_dir, pinned, mode = check_command_line(parsed.overrides, parsed.multirun)
            if parsed.cfg:
                sweep_dir = None  # Hydra prints the config, runs nothing
            else:
                claimed = lock.claim_output_dir(parsed.overrides, parsed.multirun, sweep_dir)
    except BadInput as err:
        return bad_input(str(err))
    ours = []
    if sweep_dir is not None:  # fixed now, tallied below; absolute for a job that runs
        # elsewhere (a Ray worker's cwd is where its cluster started)
        ours = [f"hydra.sweep.dir={sweep_dir.resolve()}", *pinned]
    extra = plugins.search_path()  # the plugins' and --config-dir's option files
    if extra and not any(a.startswith("hydra.searchpath=") for a in args):
        ours.append(f"hydra.searchpath=[{','.join(extra)}]")
    args = hydra_compat.with_overrides(args, parsed.overrides, ours)
    started = time.time()
    try:
        run_hydra_app(args, mode)
    finally:
        if claimed is not None:
            lock.release(claimed)
    if sweep_dir is None:
        return EXIT_OK
    from dltricks import sweep

    line, ok = sweep.tally_line(sweep_dir, since=started)
    print(line, flush=True)
    return EXIT_OK if ok else EXIT_INTERNAL


def train_help(overrides: list[str]) -> str:
    """`dltricks train --help`: the groups, their options and where each comes from (a plugin,
    a --config-dir), and the composed config; Hydra's own help is `--hydra-help`."""
    import yaml
    from omegaconf import OmegaConf

    from dltricks import config, plugins

    text = (plugins.builtin_conf() / "hydra" / "help" / "dltricks.yaml").read_text()
    help_cfg = yaml.safe_load(text)
    lines = [help_cfg["header"], "", "Config groups (GROUP=OPTION):"]
    for group in config.groups():
        shown = [
            o if where == plugins.BUILTIN else f"{o} ({where})"
            for where, o in config.origins(group)
        ]
        lines.append(f"{group}: {', '.join(shown)}")
    cfg = config.compose([o for o in overrides if not config.is_hydra(o)])
    lines += ["", "The composed config (any key can be overridden with key=value):", ""]
    return "\n".join([*lines, OmegaConf.to_yaml(cfg), help_cfg["footer"]])


def check_command_line(overrides: list[str], multirun: bool) -> tuple[Path | None, list[str], Any]:
    """Compose and check the config of every job the command line would start, and Hydra's
    own node; for a sweep, the sweep dir (resolved now) and what the sweep adds to Hydra's
    overrides (sweep.sweeper_overrides); and `hydra.mode` as composed."""
    from dltricks import config, sweep

    if not multirun:
        _, hydra = config.load_with_hydra(overrides)
        return None, [], hydra.mode
    # Hydra's node as Hydra composes it for a sweep: every override but the swept ones (a
    # preset, experiment=degradation, may set hydra.sweep.dir)
    _, hydra = config.load_with_hydra([o for o in overrides if not sweep.is_swept(o)])
    for job in sweep.checked_jobs(overrides, hydra):
        config.load(job)
    sweep.open_study(hydra)
    return Path(str(hydra.sweep.dir)), sweep.sweeper_overrides(hydra, overrides), hydra.mode


PROBE = object()  # the run mode is not known: Hydra composes the config to find it


def run_hydra_app(args: list[str], mode: Any = PROBE) -> None:
    """Hydra's app on these arguments (as its argv): a run, or a sweep of them; `mode`, when
    known, spares Hydra a compose (hydra_compat.known_mode)."""
    import contextlib

    import hydra
    from hydra.core.global_hydra import GlobalHydra

    from dltricks import hydra_compat, job

    @hydra.main(version_base="1.3", config_path="pkg://dltricks.conf", config_name="config")
    def app(cfg):
        return job.main(cfg)

    argv, sys.argv = sys.argv, ["dltricks-train", *args]
    known = contextlib.nullcontext() if mode is PROBE else hydra_compat.known_mode(mode)
    try:
        with known:
            app()
    finally:
        sys.argv = argv
        GlobalHydra.instance().clear()  # a later call in this process starts anew


# ---------------------------------------------------------------- resume


def resume(args: list[str]) -> int:
    """`dltricks resume RUN_DIR [OVERRIDE ...]`: continue a run in its own directory, with
    its own overrides (and a new trainer.epochs, say). Checked before Hydra writes anything
    into the run dir: a refused resume leaves the run as it was."""
    from omegaconf import OmegaConf

    from dltricks import checkpoint, config, lock, records, run_record

    if not args or args[0].startswith("-"):
        return bad_input("usage: dltricks resume RUN_DIR [trainer.epochs=N ...]")
    run_dir = Path(args[0])
    if not (run_dir / records.SUMMARY).is_file():
        return bad_input(f"{run_dir}: no summary.json there (not a dltricks run dir?)")
    try:
        lock.hold(run_dir, "dltricks resume")  # held until the resumed run ends
        saved = run_record.saved_overrides(run_dir)
        state = checkpoint.load_for_resume(run_dir / records.CHECKPOINT)
        given = {o.split("=", 1)[0] for o in args[1:]}
        overrides = [o for o in saved if o.split("=", 1)[0] not in given] + args[1:]
        cfg = config.load([*overrides, f"trainer.resume={run_dir}"])
        checkpoint.check_same_config(state["config"], OmegaConf.to_yaml(cfg))
    except BadInput as err:
        if not isinstance(err, lock.Busy):
            lock.release(run_dir)
        return bad_input(str(err))
    try:
        return train_command([*overrides, f"hydra.run.dir={run_dir}", f"trainer.resume={run_dir}"])
    finally:
        lock.release(run_dir)


# ---------------------------------------------------------------- report


def report(args: list[str]) -> int:
    from dltricks.report.cli import main as report_main

    return report_main(args)


# ---------------------------------------------------------------- the smaller tools


def schedule(args: list[str]) -> int:
    from dltricks.optim.preview import main as preview_main

    return preview_main(args)


def check(args: list[str]) -> int:
    from dltricks.checks import main as check_main

    return check_main(args)


def ensemble(args: list[str]) -> int:
    from dltricks.ensemble import main as ensemble_main

    return ensemble_main(args)


def lr_find(args: list[str]) -> int:
    from dltricks.lr_find import main as lr_find_main

    return lr_find_main(args)


COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "train": train_command,
    "report": report,
    "resume": resume,
    "lr-find": lr_find,
    "schedule": schedule,
    "check": check,
    "ensemble": ensemble,
}
