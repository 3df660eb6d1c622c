"""The stacked launcher's `launch`: each job composed as Hydra's basic launcher composes it,
its run dir and Hydra's record made by Hydra's own run_job; a job that can stack is built
there (a member: train.begin) and trained later with the others of its group, a job that
cannot runs then and there as an ordinary job. Groups are split to fit the free memory and
`max_members`. Every job returns what it would on the basic launcher (the objective)."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, open_dict

from dltricks import stacked


def launch(launcher: Any, job_overrides: Sequence[Sequence[str]], initial: int) -> list[Any]:
    from hydra.core.utils import configure_log, run_job, setup_globals

    setup_globals()
    cfg = launcher.config
    configure_log(cfg.hydra.hydra_logging, cfg.hydra.verbose)
    Path(str(cfg.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
    returns: list[Any] = []
    members: dict[str, list[Any]] = {}
    alone: dict[str, list[str]] = {}  # why -> the jobs that ran on their own for it
    for i, overrides in enumerate(job_overrides):
        num = initial + i
        job_cfg = launcher.hydra_context.config_loader.load_sweep_config(cfg, list(overrides))
        with open_dict(job_cfg):
            job_cfg.hydra.job.id = job_cfg.hydra.job.num = num
        reason = stacked.why_not(_task(job_cfg), bool(launcher.force))
        task = launcher.task_function if reason else _member(num)
        ret = run_job(
            hydra_context=launcher.hydra_context,
            task_function=task,
            config=job_cfg,
            job_dir_key="hydra.sweep.dir",
            job_subdir_key="hydra.sweep.subdir",
        )
        returns.append(ret)
        if reason:
            alone.setdefault(reason, []).append(str(num))
        elif _is_member(ret):
            members.setdefault(stacked.group_key(_task(job_cfg)), []).append(ret)
        configure_log(cfg.hydra.hydra_logging, cfg.hydra.verbose)
    if alone:
        why = "; ".join(f"jobs {', '.join(nums)} ({reason})" for reason, nums in alone.items())
        print(f"dltricks: stacked launcher: ran on their own: {why}", flush=True)
    for rets in members.values():
        for chunk in _fit(rets, int(launcher.max_members)):
            _train(chunk)
    return returns


def _task(job_cfg: DictConfig) -> DictConfig:
    """The job's own config (Hydra's node left out)."""
    from dltricks import config

    return config._without_hydra(job_cfg)


def _member(num: int) -> Any:
    """The task run_job calls for a job that stacks: the job's dir held, what it holds
    admitted (a finished run skipped, another run's refused, an interrupted one resumed), and
    its parts built; a Member as the job's return value, trained with its group later."""

    def prepare(cfg: DictConfig) -> Any:
        from dltricks import config, job, train
        from dltricks.rundir import Busy
        from dltricks.stacked.group import Member
        from dltricks.stacked.streams import capture

        member_job = job.of_hydra(cfg)
        try:
            member_job.dir.hold()
        except Busy as err:
            print(f"dltricks: job {num} refused: {err}", file=sys.stderr)
            return None
        admitted, objective = job.admit(cfg, member_job, num, None)
        if not admitted:
            member_job.dir.release()
            return objective
        try:
            config.load(member_job.overrides)
            start = time.perf_counter()
            p, at, checks = train.begin(cfg, member_job)
        except Exception as err:
            _failed(member_job, num, err)
            return None
        return Member(member_job, p, at, checks, start, capture())

    return prepare


def _is_member(ret: Any) -> bool:
    from dltricks.stacked.group import Member

    return isinstance(getattr(ret, "_return_value", None), Member)


def _fit(rets: list[Any], most: int) -> list[list[Any]]:
    """The group in chunks that fit: at most `most` members, and as many as the free memory
    holds (each member's weights, gradients and optimizer states, twice: stacked and its
    own view of them, counted as the model-size check counts them)."""
    from dltricks import device

    first = rets[0]._return_value.p
    params = sum(t.numel() for t in first.model.parameters())
    free = device.free_bytes(first.device)
    fits = max(1, int(free // max(32 * params, 1)))
    size = max(1, min(most, fits))
    # members resumed at another point of their epoch cannot step together: apart
    by_position: dict[tuple[int, int], list[Any]] = {}
    for ret in rets:
        at = ret._return_value.at
        by_position.setdefault((at.epoch, at.batch), []).append(ret)
    return [g[i : i + size] for g in by_position.values() for i in range(0, len(g), size)]


def _train(rets: list[Any]) -> None:
    """Train one chunk; each job's return value becomes what the basic launcher's is."""
    from dltricks import sweep
    from dltricks.signals import Interrupted, StopRequest
    from dltricks.stacked.group import train_group

    members = [r._return_value for r in rets]
    try:
        with StopRequest() as stop:
            try:
                train_group(members, stop)
            except Interrupted as signalled:
                print(
                    f"dltricks: a stacked group of {len(members)} interrupted ({signalled}), "
                    "every member's checkpoint saved: re-run the sweep into the same sweep dir "
                    "to resume",
                    file=sys.stderr,
                    flush=True,
                )
                stop.pass_on(signalled.signum)
                sys.exit(128 + signalled.signum)
            except Exception as err:
                for m in members:
                    _failed(m.job, -1, err)
    finally:
        for r, m in zip(rets, members, strict=True):
            r._return_value = sweep.objective(m.record.summary if m.record else None)
            m.job.dir.release()


def _failed(member_job: Any, num: int, err: BaseException) -> None:
    from dltricks.job import os_error
    from dltricks.run_record import record_failure

    message = (
        os_error(err, member_job.run_dir)
        if isinstance(err, OSError)
        else f"{type(err).__name__}: {err}"
    )
    record_failure(member_job, message, overwrite=False)
    print(f"dltricks: job {member_job.run_dir.name} failed: {message}", file=sys.stderr)
