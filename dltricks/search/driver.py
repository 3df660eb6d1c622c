"""The search loop (the sweeper's `sweep`): ask the study for a batch of trials, launch them
as jobs on the sweep's launcher, tell the study how each ended, until the study holds
n_trials. Resumable: a re-run into the same sweep dir with the same storage continues the
study, its dead trials marked failed, its job numbers never reused."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from dltricks.rundir import RunDir, jobs
from dltricks.rundir.names import SEARCH_RESULTS as RESULTS  # as Hydra's plugin names it
from dltricks.search import STORAGE_ENV, TRIAL_ENV, Settings
from dltricks.search import space as spaces
from dltricks.search import study as studies


def run(s: Settings, cfg: Any, launcher: Any, arguments: list[str], sweep_dir: Path) -> None:
    """The whole search; `cfg` the config composed with the command line's plain values."""

    dims, fixed = spaces.dimensions(cfg, s.params, arguments)
    url = studies.absolute(s.storage)
    study = studies.open_study(
        url,
        s.study_name,
        s.direction,
        studies.sampler(s.sampler, dims, s.grid_points),
        studies.pruner(s.pruner),
    )
    mine = str(sweep_dir.resolve())
    next_job = forget_the_dead(study, studies.storage(url, s.study_name), mine, sweep_dir)
    distributions = {d.key: d.distribution() for d in dims}
    while True:
        held = [t for t in study.get_trials(deepcopy=False) if counts(t)]
        left = s.n_trials - len(held)  # the study's total: every worker's trials count
        if left <= 0:
            break
        batch = [study.ask(distributions) for _ in range(min(s.n_jobs, left))]
        overrides = []
        for i, trial in enumerate(batch):
            trial.set_user_attr("sweep_dir", mine)
            trial.set_user_attr("job", next_job + i)
            values = [spaces.override(k, trial.params[k]) for k in distributions]
            env = [f"+hydra.job.env_set.{TRIAL_ENV}={trial.number}"]
            if url is not None:
                env.append(f"+hydra.job.env_set.{STORAGE_ENV}='{url}'")
            overrides.append([*fixed, *values, *env])
        returns = launcher.launch(overrides, initial_job_idx=next_job)
        next_job += len(batch)
        for trial, ret in zip(batch, returns, strict=True):
            tell(study, trial.number, ret)
    write_results(study, sweep_dir)


def counts(trial: Any) -> bool:
    """Whether a trial counts toward n_trials: every one asked, but those waiting and those
    whose process died (failed and replaced)."""
    from optuna.trial import TrialState

    return trial.state != TrialState.WAITING and not trial.user_attrs.get("died")


def tell(study: Any, number: int, ret: Any) -> None:
    """How a trial's job ended, from its run's own summary.json: pruned, a value (the best
    val error; 1.0 for a diverged run), or failed (the search goes on)."""
    from hydra.core.utils import JobStatus
    from optuna.trial import TrialState

    value = ret.return_value if ret.status == JobStatus.COMPLETED else None
    hydra = getattr(ret, "hydra_cfg", None)  # {"hydra": the job's Hydra node}
    out = hydra.hydra.runtime.output_dir if hydra is not None else None
    status = RunDir(out).read_summary().status if out is not None else None
    if status == "pruned":
        study.tell(number, state=TrialState.PRUNED, skip_if_finished=True)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        study.tell(number, float(value), skip_if_finished=True)
    else:
        study.tell(number, state=TrialState.FAIL, skip_if_finished=True)


def forget_the_dead(study: Any, store: Any, mine: str, sweep_dir: Path) -> int:
    """A re-run of a search: this sweep dir's trials left running by a process that died are
    marked failed, and replaced (the sweep dir's lock, held by this process, says none of them
    still has its sweeper; a job still holding its run dir's lock is left running); the next
    job number, past every job this sweep dir has held."""
    from optuna.trial import TrialState

    numbers = [-1]
    for trial in study.get_trials(deepcopy=False):
        if trial.user_attrs.get("sweep_dir") != mine:
            continue
        numbers.append(int(trial.user_attrs.get("job", -1)))
        if trial.state == TrialState.RUNNING and not _alive(trial.user_attrs.get("run_dir")):
            store.set_trial_user_attr(
                studies.trial_id(store, study.study_name, trial.number), "died", True
            )
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
    numbers += [int(j.path.name) for j in jobs(sweep_dir) if re.fullmatch(r"\d+", j.path.name)]
    return max(numbers) + 1


def _alive(run_dir: str | None) -> bool:
    """Whether a trial's job still runs (it holds its run dir's lock)."""
    if not run_dir:
        return False
    from dltricks.rundir import Busy

    try:
        RunDir(run_dir).hold("the trial's run dir")
    except Busy:
        return True
    except OSError:
        return False
    RunDir(run_dir).release()
    return False


def write_results(study: Any, sweep_dir: Path) -> None:
    """optimization_results.yaml: the best trial's parameters and value (null when none
    completed), as Hydra's Optuna plugin wrote it."""
    import yaml
    from optuna.trial import TrialState

    from dltricks.rundir.files import write_atomic

    done = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    best = study.best_trial if done else None
    result = {
        "name": study.study_name,
        "best_params": dict(best.params) if best else None,
        "best_value": best.value if best else None,
        "trials": len(study.get_trials(deepcopy=False)),
    }
    text = yaml.safe_dump(result, sort_keys=False)
    write_atomic(sweep_dir / RESULTS, lambda f: f.write(text.encode()))


def best_overrides(sweep_dir: Path) -> list[str] | None:
    """The best trial of a finished search as overrides (its optimization_results.yaml),
    None when no trial completed or the file is missing or unreadable."""
    from dltricks.rundir import read_search_results

    result = read_search_results(Path(sweep_dir))
    params = result.get("best_params") if result else None
    if not isinstance(params, dict) or not params:
        return None
    return [spaces.override(str(k), v) for k, v in params.items()]
