"""The Hydra launch of `dltricks train` (and of `dltricks resume`, which is a train in the
run's own dir): the arguments read as Hydra reads them, every job's config composed and
checked before Hydra starts, the output dir claimed, Hydra's app run on the rewritten argv
(so -m, --cfg, --help, --info and hydra.run.dir=... keep working), and a sweep's tally.
Bad input ends here with one message and exit code 2, before any training."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dltricks.errors import EXIT_INTERNAL, EXIT_OK, BadInput, ConfigError, bad_input
from dltricks.rundir import OUTPUTS, RunDir, holds_sweep

PROBE = object()  # the run mode is not known: Hydra composes the config to find it


@dataclass
class Launch:
    """What the checks before Hydra decided: the sweep dir (fixed now, tallied after), the
    overrides the sweep adds, Hydra's mode, and the dir this command holds the lock of."""

    sweep_dir: Path | None = None
    pinned: list[str] = field(default_factory=list)
    mode: Any = PROBE
    claimed: RunDir | None = None
    search: bool = False  # hydra/sweeper=search: the tally counts trials


def train(args: list[str]) -> int:
    """`dltricks train [hydra args]`: check the overrides, then run Hydra's app."""
    from dltricks import plugins

    try:
        return _train(args)
    finally:
        plugins.forget_config_dirs()  # --config-dir is this command's (a library call's too)


def _train(args: list[str]) -> int:
    import warnings

    from dltricks import hydra_compat
    from dltricks.search import space

    # conf/hydra/launcher/ray.yaml replaces the Ray plugin's option of the same name on
    # purpose (see its comment); Hydra checks it against the plugin's schema, and says so
    warnings.filterwarnings("ignore", message="\n'hydra/launcher/ray' is validated against")
    args = [space.quoted(a) for a in args]  # hydra.sweeper.params.KEY=interval(...) as typed
    parsed = hydra_compat.parse_args(args)
    try:
        answer = answered_before_hydra(parsed)
        if answer is not None:
            print(answer, end="")
            return EXIT_OK
        launch = prepare(parsed)
    except BadInput as err:
        return bad_input(str(err))
    started = time.time()
    try:
        run_hydra_app(hydra_args(args, parsed, launch), launch.mode)
    finally:
        if launch.claimed is not None:
            launch.claimed.release()
    if launch.sweep_dir is None:
        return EXIT_OK
    from dltricks import sweep

    line, ok = sweep.tally_line(launch.sweep_dir, since=started, search=launch.search)
    print(line, flush=True)
    return EXIT_OK if ok else EXIT_INTERNAL


def answered_before_hydra(parsed: Any) -> str | None:
    """Flags that do not go together (BadInput), --config-dir, and what dltricks answers
    itself: `--help`, `-sc install=SHELL` (its completion script for `dltricks`)."""
    from dltricks import hydra_compat, plugins

    wrong = hydra_compat.flags_error(parsed)
    if wrong:
        raise BadInput(wrong)
    if parsed.config_dir:
        plugins.add_config_dir(Path(parsed.config_dir))
    if parsed.help:
        return train_help(parsed.overrides) + "\n"
    install = [o for o in parsed.overrides if o.startswith("install=")]
    if parsed.shell_completion and install:
        from dltricks.completion import install_script

        return install_script(install[0].split("=", 1)[1])
    return None


def prepare(parsed: Any) -> Launch:
    """Every job checked, the output dir claimed (--cfg runs nothing: nothing to claim)."""
    if parsed.hydra_help or parsed.info or parsed.shell_completion:
        return Launch()  # Hydra answers: no job runs
    checked = check_command_line(parsed.overrides, parsed.multirun)
    if parsed.cfg:
        return Launch(mode=checked.mode)
    checked.claimed = claim_output_dir(parsed.overrides, parsed.multirun, checked.sweep_dir)
    return checked


def hydra_args(args: list[str], parsed: Any, launch: Launch) -> list[str]:
    """The arguments Hydra gets: the user's, then the sweep dir fixed now (absolute, for a job
    that runs elsewhere: a Ray worker's cwd is where its cluster started), what the sweep
    pins, and the plugins' and --config-dir's option files on the search path."""
    from dltricks import hydra_compat, plugins

    ours = []
    if launch.sweep_dir is not None:
        ours = [f"hydra.sweep.dir={launch.sweep_dir.resolve()}", *launch.pinned]
    ours += plugins.searchpath_override(args)
    return hydra_compat.with_overrides(args, parsed.overrides, ours)


def train_help(overrides: list[str]) -> str:
    """`dltricks train --help`: the groups, their options and where each comes from (a plugin,
    a --config-dir), and the composed config; Hydra's own help is `--hydra-help`."""
    import yaml
    from omegaconf import OmegaConf

    from dltricks import config, plugins

    text = (plugins.builtin_conf() / "hydra" / "help" / "dltricks.yaml").read_text()
    help_cfg = yaml.safe_load(text)
    lines = [help_cfg["header"], "", "Config groups (GROUP=OPTION; * the default):"]
    defaults = config.default_choices()
    for group in config.groups():
        shown = [
            (o if where == plugins.BUILTIN else f"{o} ({where})")
            + ("*" if o in defaults.get(group, ()) else "")
            for where, o in config.origins(group)
        ]
        lines.append(f"{group}: {', '.join(shown)}")
    cfg = config.compose([o for o in overrides if not config.is_hydra(o)])
    lines += ["", "The composed config (any key can be overridden with key=value):", ""]
    return "\n".join([*lines, OmegaConf.to_yaml(cfg), help_cfg["footer"]])


def check_command_line(overrides: list[str], multirun: bool) -> Launch:
    """Compose and check the config of every job the command line would start (for a search,
    its space), and Hydra's own node; for a sweep, the sweep dir (resolved now) and what the
    sweep adds to Hydra's overrides (sweep.sweeper_overrides); and `hydra.mode` as composed."""
    from dltricks import config, hydra_checks, search, stacked, sweep

    if not multirun:
        _, hydra = config.load_with_hydra(overrides)
        hydra_checks.check_keys(hydra)
        return Launch(mode=hydra.mode)
    # Hydra's node as Hydra composes it for a sweep: every override but the swept ones (a
    # preset, experiment=degradation, may set hydra.sweep.dir)
    _, hydra = config.load_with_hydra([o for o in overrides if not config.is_swept(o)])
    hydra_checks.check_keys(hydra)
    stacked.check(hydra)
    searching = sweep.is_search(hydra)
    if searching:  # its jobs' overrides: unknown yet but the fixed ones
        fixed = [o for o in overrides if not config.is_swept(o) and not config.is_hydra(o)]
        hydra_checks.check_subdirs(hydra, [fixed])
        search.check(hydra, overrides)
    else:
        jobs = sweep.checked_jobs(overrides)
        hydra_checks.check_subdirs(hydra, jobs)
        for job in jobs:
            config.load(job)
    pinned = sweep.sweeper_overrides(hydra, overrides)
    return Launch(Path(str(hydra.sweep.dir)), pinned, hydra.mode, search=searching)


def claim_output_dir(overrides: list[str], multirun: bool, sweep_dir: Path | None) -> RunDir | None:
    """The run (or sweep) dir must be ours, writable and nobody else's: say so now, not in a
    Hydra traceback; hold its lock before Hydra writes anything there. The dir locked (None
    for a new timestamped one, which its job locks)."""
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    given = [o.split("=", 1)[1] for o in overrides if o.startswith(f"{key}=")]
    folder = Path(given[-1]) if given and "$" not in given[-1] else OUTPUTS
    folder = sweep_dir or folder
    named = bool(given or sweep_dir)
    name = f"{key}={folder}" if named else f"the output folder {folder.resolve()}"
    if named:
        refuse_foreign(RunDir(folder), key, multirun)
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
    if not named:
        return None  # a new timestamped dir: the job locks it
    claimed = RunDir(folder)
    claimed.hold(key)  # one writer at a time: until the run ends
    resuming = any(o.startswith("trainer.resume=") for o in overrides)
    if given and not multirun and claimed.started() and not resuming:
        claimed.release()
        raise ConfigError(
            f"hydra.run.dir={folder}: already holds a run; continue it with "
            f"`dltricks resume {folder}` or pick another dir"
        )
    return claimed


def refuse_foreign(folder: RunDir, key: str, multirun: bool) -> None:
    """A run dir must be new, empty or a dltricks run (a sweep dir: or a dltricks sweep), and
    hold no symlink, which Hydra, the job and the trackers would write through; refused
    before anything is written there."""
    if not folder.path.is_dir() or folder.is_empty():
        return
    ours = holds_sweep(folder.path) if multirun else folder.holds_run()
    if not ours:
        kind = "sweep" if multirun else "run"
        raise ConfigError(
            f"{key}={folder}: holds files that are not a dltricks {kind}; pick a new or "
            f"empty dir with {key}=DIR"
        )
    folder.refuse_links(depth=3 if multirun else 2)  # a sweep's jobs' .hydra/ included


def run_hydra_app(args: list[str], mode: Any = PROBE) -> None:
    """Hydra's app on these arguments (as its argv, which stays as it is): a run, or a sweep
    of them; `mode`, when known, spares Hydra a compose (hydra_compat.known_mode)."""
    import contextlib

    from hydra import version
    from hydra.core.global_hydra import GlobalHydra

    from dltricks import hydra_compat, job, plugins

    def app(cfg):
        return job.main(cfg)

    version.setbase("1.3")  # as @hydra.main(version_base="1.3") would
    known = contextlib.nullcontext() if mode is PROBE else hydra_compat.known_mode(mode)
    try:
        with known:
            hydra_compat.run_app(app, args, "pkg://dltricks.conf", plugins.PRIMARY)
    finally:
        GlobalHydra.instance().clear()  # a later call in this process starts anew
