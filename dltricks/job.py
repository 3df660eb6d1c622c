"""One Hydra job: from Hydra's runtime config to train.run, and its outcome to what the
caller expects. A single run exits with the documented codes (2 bad input, 130/143
interrupted, 1 a full disk or an internal error). A sweep's job never ends the sweep: its
outcome goes into its summary.json, and it returns the objective for the sweeper."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, open_dict

from dltricks import config, sweep
from dltricks.errors import EXIT_BAD_INPUT, EXIT_INTERNAL, BadInput, say
from dltricks.run_record import Job, record_failure
from dltricks.rundir import Busy
from dltricks.search.trial import for_job as trial_for
from dltricks.signals import Interrupted, StopRequest


def of_hydra(cfg: DictConfig) -> Job:
    """This Hydra job as a Job: its run dir, options and overrides; for a search's trial, the
    trial each evaluation is reported to."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hc = HydraConfig.get()
    choices = {k: v for k, v in hc.runtime.choices.items() if not k.startswith("hydra")}
    choices["regularization"] = list(cfg.regularization)  # Hydra omits list groups here
    job = Job(Path(hc.runtime.output_dir), choices, list(hc.overrides.task))
    if hc.mode == RunMode.MULTIRUN and sweep.is_search(hc):
        job.trial = trial_for(hc.sweeper, str(job.run_dir))
    return job


def main(cfg: DictConfig) -> float | None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hc = HydraConfig.get()
    job = of_hydra(cfg)
    multirun = hc.mode == RunMode.MULTIRUN
    try:  # no one else writes this run's dir while it runs (this process may hold it already)
        job.dir.hold()
    except Busy as err:
        if multirun:
            print(f"dltricks: job {hc.job.num} refused: {err}", file=sys.stderr)
            return None
        say(str(err))
        sys.exit(EXIT_BAD_INPUT)
    try:
        with StopRequest() as stop:  # this process is the run's: signals checkpoint it
            if multirun:
                return sweep_job(cfg, job, hc.job.num, sweep.threads_per_job(hc.launcher), stop)
            return single_job(cfg, job, stop)
    finally:
        job.dir.release()


def single_job(cfg: DictConfig, job: Job, stop: Any) -> float | None:
    from dltricks import train

    try:
        return sweep.objective(train.run(cfg, job, stop))
    except BadInput as err:
        if not cfg.trainer.resume:  # a refused resume leaves the finished run as it was
            job.dir.withdraw()  # refused before it trained: no `failed` run left behind
        say(str(err))
        sys.exit(EXIT_BAD_INPUT)
    except Interrupted as stop:
        print(
            f"dltricks: interrupted ({stop}); checkpoint saved: dltricks resume {job.run_dir}",
            file=sys.stderr,
        )
        sys.exit(128 + stop.signum)
    except KeyboardInterrupt:
        sys.exit(130)
    except OSError as err:  # a full disk, an output folder gone: one line, no traceback
        saved = job.dir.has_checkpoint()
        kept = f"the last checkpoint in {job.run_dir} is intact" if saved else "no checkpoint"
        say(f"{os_error(err, job.run_dir)}; {kept}")
        sys.exit(EXIT_INTERNAL)


def sweep_job(cfg: DictConfig, job: Job, num: int, threads: int | None, stop: Any) -> float | None:
    """Run (or skip, or resume) one job of a sweep; whatever happens, return."""
    from dltricks import train

    admitted, objective = admit(cfg, job, num, threads)
    if not admitted:
        return objective
    try:
        config.load(job.overrides)  # a single run checked these before Hydra started
        return sweep.objective(train.run(cfg, job, stop))
    except Interrupted as signalled:  # Ctrl-C or SIGTERM ends the whole sweep
        print(
            f"dltricks: job {num} interrupted ({signalled}), checkpoint saved: re-run the "
            "sweep into the same sweep dir to resume (a requeued SLURM job does)",
            file=sys.stderr,
            flush=True,
        )
        stop.pass_on(signalled.signum)  # submitit's SIGUSR2 handler: requeue, then resume
        sys.exit(128 + signalled.signum)
    except Exception as err:  # recorded, reported, and the next job runs
        message = (
            os_error(err, job.run_dir)
            if isinstance(err, OSError)
            else f"{type(err).__name__}: {err}"
        )
        record_failure(job, message, overwrite=isinstance(err, BadInput))
        print(f"dltricks: job {num} failed: {message}", file=sys.stderr)
        return None


def admit(cfg: DictConfig, job: Job, num: int, threads: int | None) -> tuple[bool, Any]:
    """What a sweep's job does with what its dir holds: (False, its objective) for a run that
    finished (skipped), (False, None) for another run's dir (refused); (True, None) to train,
    `cfg` set to resume an interrupted run and to its share of the cores."""
    state, summary = sweep.previous(job.dir, job.overrides)
    if state == "finished":
        print(f"dltricks: job {num} already {summary['status']}: skipped", flush=True)
        return False, sweep.objective(summary)
    if state == "other":
        print(
            f"dltricks: job {num} refused: {job.run_dir} holds a run of other overrides "
            f"({' '.join(summary.get('overrides', []))}); use a new sweep dir",
            file=sys.stderr,
        )
        return False, None
    with open_dict(cfg):
        if state == "resume":
            cfg.trainer.resume = str(job.run_dir)
        if threads and not cfg.trainer.threads:
            cfg.trainer.threads = threads  # parallel jobs x threads = cores
    return True, None


def os_error(err: OSError, run_dir: Path) -> str:
    """What went wrong with a file: a run writes inside its dir and reads outside it."""
    if not err.filename:
        return f"cannot write into {run_dir}: {err.strerror or err}"
    inside = Path(str(err.filename)).resolve().is_relative_to(run_dir.resolve())
    return f"cannot {'write' if inside else 'read'} {err.filename}: {err.strerror or err}"
