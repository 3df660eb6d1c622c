"""dltricks' command line: argv -> subcommand, the table of commands. The only module that
reads sys.argv (launch.py rewrites it for Hydra).

Imports are lazy so that `dltricks --help` and `dltricks report` never load torch. `train`
and `resume` go to launch.py, which checks everything before Hydra runs; the other commands
parse their own arguments in their modules.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable

from dltricks.errors import EXIT_BAD_INPUT, EXIT_OK, bad_input

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
  versus GROUP=A,B,... [--problems P,Q] [--budget N] [--seeds S]
                            is option A better than B? defaults, a tuning study and the
                            best re-run over seeds, per problem; then its report

Any command takes --trust MODULE: your own module (a model, a dataset, a trick) that a
config's _target_ may name, for this command (README: Your own code, without a package).
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
    from dltricks import trust
    from dltricks.errors import BadInput

    try:
        args, named = trust.take(argv[1:])
        with trust.trusted(named):  # --trust MODULE, ./pyproject.toml: this command's only
            return command(args)
    except BadInput as err:
        return bad_input(str(err))


def console() -> None:
    """The `dltricks` command (and `python -m dltricks`): main() as a process."""
    if hasattr(signal, "SIGPIPE"):  # `dltricks ... | head`: end quietly when the reader does
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())


# ---------------------------------------------------------------- train, resume


def train_command(args: list[str]) -> int:
    if args == ["-sc", "query=bash"]:  # a TAB (completion.py): groups and options at once
        from dltricks.completion import quick

        answer = quick(os.environ.get("COMP_LINE", ""))
        if answer is not None:
            print(answer)
            return EXIT_OK
    from dltricks import launch

    return launch.train(args)


def resume(args: list[str]) -> int:
    from dltricks.resume import resume as resume_run

    return resume_run(args)


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


def versus(args: list[str]) -> int:
    from dltricks.versus import main as versus_main

    code, out = versus_main(args)
    if out is not None and out.is_dir():
        report(["--format", "table", str(out)])
    return code


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
    "versus": versus,
}
