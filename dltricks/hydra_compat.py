"""The pieces of Hydra's private API dltricks uses, behind one function each: Hydra 1.3
exports neither its command-line parser (which tells `-m`, `--cfg`, `--help` apart before argv
is handed over) nor the basic sweeper's expansion of sweep overrides into jobs (which lets
every job of a sweep be checked before the first starts), and it composes the config once
more than dltricks needs (`known_mode`). tests/test_hydra_compat.py fails loudly when an
upgrade of Hydra moves them."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import hydra

SUPPORTED = "1.3."  # hydra-core 1.3.x (pyproject pins >=1.3,<1.4)


def parse_args(args: list[str]) -> argparse.Namespace:
    """Hydra's own reading of `dltricks train ARGS`: .multirun, .cfg, .help, .overrides..."""
    from hydra._internal.utils import get_args_parser

    return get_args_parser().parse_args(args)


def run_app(task: Any, args: list[str], config_path: str, config_name: str) -> None:
    """What @hydra.main's decorated function does on `args` (Hydra's argv), without reading
    or setting sys.argv: the arguments parsed by Hydra's parser, then its _run_hydra (a
    run, a sweep, --cfg, --info, -sc...)."""
    from hydra._internal.utils import _run_hydra, get_args_parser

    parser = get_args_parser()
    _run_hydra(
        args=parser.parse_args(args),
        args_parser=parser,
        task_function=task,
        config_path=config_path,
        config_name=config_name,
    )


def flags_error(parsed: argparse.Namespace) -> str | None:
    """What Hydra would raise (as a traceback) for flags that do not go together."""
    modes = [
        name
        for name, on in [
            ("--run", parsed.run),
            ("--multirun (-m)", parsed.multirun),
            ("--cfg", parsed.cfg is not None),
            ("--info", parsed.info is not None),
            ("--shell-completion (-sc)", parsed.shell_completion),
        ]
        if on
    ]
    if len(modes) > 1:
        return f"{' and '.join(modes)} do not go together: give one of them"
    if parsed.resolve and parsed.cfg is None and not parsed.help:
        return "--resolve goes with --cfg (or --help): add --cfg job"
    return None


def sweep_jobs(overrides: list[str]) -> list[list[str]]:
    """The override list of each job of a basic (grid) sweep over `overrides`."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    batches = BasicSweeper.split_arguments(parsed, max_batch_size=None)
    return [job for batch in batches for job in batch]


def override_dirname(overrides: list[str], settings: Any) -> str:
    """hydra.job.override_dirname of a job of these overrides, as Hydra's
    get_overrides_dirname makes it (hydra.job.config.override_dirname's kv_sep, item_sep,
    exclude_keys), without parsing each (a 1000-job sweep's would take a second);
    tests/test_hardening.py holds it to Hydra's own."""
    exclude = set(settings.exclude_keys)
    lines = sorted(o for o in overrides if o.split("=", 1)[0].lstrip("+~") not in exclude)
    return str(settings.item_sep).join(lines).replace("=", str(settings.kv_sep))


def version_supported() -> bool:
    return hydra.__version__.startswith(SUPPORTED)


def with_overrides(args: list[str], overrides: list[str], more: list[str]) -> list[str]:
    """ARGS with MORE overrides right after its own (argparse takes the overrides as one
    run of words: `-m a=1 --cfg hydra b=2` is an error, so `more` may not follow a flag)."""
    n = len(overrides)
    for i in range(len(args) - n, -1, -1) if n else ():
        if args[i : i + n] == overrides:
            return [*args[: i + n], *more, *args[i + n :]]
    return [*args, *more]


@contextmanager
def known_mode(mode: Any) -> Iterator[None]:
    """Before a run, Hydra composes the whole config only to read `hydra.mode`
    (Hydra.get_mode), then composes it again to run. dltricks has composed and checked it
    already: hand Hydra the mode it would find (RUN, MULTIRUN or None) and save a compose,
    about 0.4 s of every run's start-up."""
    from hydra._internal.hydra import Hydra

    probe = Hydra.get_mode
    Hydra.get_mode = lambda self, config_name, overrides: mode
    try:
        yield
    finally:
        Hydra.get_mode = probe
