"""`dltricks resume RUN_DIR`: a run continued in its own dir, with its own overrides and
options of your own given again (--config-dir, --trust: never read from the run dir)."""

from __future__ import annotations

from pathlib import Path

from dltricks.errors import EXIT_BAD_INPUT, BadInput, ConfigError, bad_input
from dltricks.launch import train
from dltricks.rundir import Busy, RunDir


def resume(args: list[str]) -> int:
    """`dltricks resume RUN_DIR [OVERRIDE ...]`: continue a run in its own directory, with
    its own overrides (and a new trainer.epochs, say). Checked before Hydra writes anything
    into the run dir, and what Hydra writes is put back if the job refuses the checkpoint:
    a refused resume leaves the run as it was."""
    from dltricks import checkpoint, config, plugins, records, run_record

    if not args or args[0].startswith("-"):
        return bad_input("usage: dltricks resume RUN_DIR [--config-dir DIR] [trainer.epochs=N ...]")
    run_dir, args, flags = RunDir(args[0]), *_config_dir_flag(args)
    if run_dir.read_summary().problem == "missing":
        return bad_input(f"{run_dir}: no summary.json there (not a dltricks run dir?)")
    try:
        run_dir.hold("dltricks resume")  # held until the resumed run ends
        run_dir.refuse_links()  # before anything reads or writes through one
        if flags:  # the run's options from your own folder: given again, never replayed
            plugins.add_config_dir(Path(flags[1]))
        saved = run_record.saved_overrides(run_dir)
        state = checkpoint.load_for_resume(run_dir)
        given = {o.split("=", 1)[0] for o in args[1:]}
        overrides = [o for o in saved if o.split("=", 1)[0] not in given] + args[1:]
        cfg = config.load([*overrides, f"trainer.resume={run_dir}"])
        checkpoint.check_same_config(state["config"], records.flatten(config.container(cfg)))
        record = run_dir.hydra_record()
    except BadInput as err:
        if not isinstance(err, Busy):
            run_dir.release()
        hint = ""
        if "no such option" in str(err):
            hint = (
                "; a run made with options of your own needs them again, never read from "
                "its dir: dltricks resume RUN_DIR --config-dir DIR --trust MODULE"
            )
        return bad_input(str(err) + hint)
    try:
        return train([*flags, *overrides, f"hydra.run.dir={run_dir}", f"trainer.resume={run_dir}"])
    except SystemExit as stop:
        if stop.code == EXIT_BAD_INPUT:  # the job refused the checkpoint: Hydra's record back
            run_dir.restore_hydra_record(record)
        raise
    finally:
        run_dir.release()


def _config_dir_flag(args: list[str]) -> tuple[list[str], list[str]]:
    """`dltricks resume RUN_DIR [--config-dir DIR] OVERRIDE...`: (RUN_DIR and the overrides,
    ["--config-dir", DIR] or [])."""
    rest, flags, it = [], [], iter(args)
    for arg in it:
        if arg == "--config-dir" or arg.startswith("--config-dir="):
            folder = arg.split("=", 1)[1] if "=" in arg else next(it, "")
            if not folder:
                raise ConfigError("--config-dir needs a folder")
            flags = ["--config-dir", folder]
        else:
            rest.append(arg)
    return rest, flags
