"""dltricks' own search (`hydra/sweeper=search`): Optuna's ask-and-tell API behind a Hydra
sweeper (hydra_plugins/dltricks_search), which hands each batch of trials to whichever
launcher the sweep uses. space.py: the dimensions; study.py: the study, its sampler and
pruner; driver.py: the loop that asks, launches and tells, resumable; trial.py: a job's side
(each evaluation reported to its trial, which may prune it).

`check(hydra, overrides)` runs before Hydra starts (launch.py): the settings, the space, every
dimension's ends composed and checked, the storage opened and its study's trials checked
against the space. Bad input exits 2 before any trial."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, OmegaConf

from dltricks import records, stacked
from dltricks.errors import ConfigError

TRIAL_ENV = "DLTRICKS_SEARCH_TRIAL"  # the job's trial number (hydra.job.env_set)
STORAGE_ENV = "DLTRICKS_SEARCH_STORAGE"  # the study's storage, absolute (the job's cwd may differ)
SAME_PROCESS = ("hydra._internal.core_plugins.basic_launcher.", stacked.PLUGIN)


@dataclass(frozen=True)
class Settings:
    """hydra.sweeper's keys (conf/hydra/sweeper/search.yaml), checked."""

    sampler: dict[str, Any]
    direction: str = "minimize"
    study_name: str = "dltricks-search"
    storage: str | None = None
    n_trials: int = 20
    n_jobs: int = 1
    params: dict[str, Any] = field(default_factory=dict)
    pruner: str = "none"
    grid_points: int = 5


def settings(node: Any) -> Settings:
    """The sweeper's node as Settings, each key checked: exit 2 naming the key."""
    from dltricks.search.study import PRUNERS, SAMPLERS

    keys = (
        OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)
    )
    keys = {k: v for k, v in keys.items() if not k.startswith("_")}
    known = set(Settings.__dataclass_fields__)
    for key in keys:
        if key not in known:
            raise ConfigError(
                f"hydra.sweeper.{key}: unknown key. Valid keys: {', '.join(sorted(known))}"
            )
    s = Settings(**keys)
    sampler = s.sampler.get("name") if isinstance(s.sampler, dict) else None
    checks = [
        (
            sampler in SAMPLERS,
            "sampler",
            f"one of {', '.join(SAMPLERS)} (hydra/sweeper/sampler=NAME)",
        ),
        (s.pruner in PRUNERS, "pruner", f"one of {', '.join(PRUNERS)}"),
        (s.direction in ("minimize", "maximize"), "direction", "minimize or maximize"),
        (records.int_at_least(1)(s.n_trials), "n_trials", "an integer >= 1"),
        (records.int_at_least(1)(s.n_jobs), "n_jobs", "an integer >= 1"),
        (records.int_at_least(2)(s.grid_points), "grid_points", "an integer >= 2"),
        (isinstance(s.study_name, str) and s.study_name, "study_name", "a name"),
        (s.storage is None or isinstance(s.storage, str), "storage", "null or a URL"),
    ]
    for ok, key, wanted in checks:
        if not ok:
            shown = sampler if key == "sampler" else getattr(s, key)
            raise ConfigError(f"hydra.sweeper.{key}={shown}: must be {wanted}")
    return s


def in_this_process(hydra: DictConfig) -> bool:
    """Whether the launcher runs each job in this process (the basic one; the stacked one)."""
    target = str(OmegaConf.select(hydra, "launcher._target_", default=""))
    return target.startswith(SAME_PROCESS)


def check(hydra: DictConfig, overrides: list[str]) -> None:
    """Everything a search can be refused for, before Hydra starts (see the docstring)."""
    from dltricks import config
    from dltricks.search import space, study

    s = settings(hydra.sweeper)
    arguments = [o for o in overrides if not config.is_hydra(o)]
    base = config.load([o for o in arguments if not config.is_swept(o)])
    dims, fixed = space.dimensions(base, s.params, arguments)
    if not dims:
        raise ConfigError(
            "hydra/sweeper=search: nothing to search; pick options with a search space "
            "(optimizer=adam ...), or add hydra.sweeper.params.KEY=interval(LOW,HIGH)"
        )
    for dim in dims:  # every edge of the space makes a config that passes every check
        for end in dim.ends():
            config.load([*fixed, space.override(dim.key, end)])
    if s.pruner != "none" and s.storage is None and not in_this_process(hydra):
        raise ConfigError(
            f"hydra.sweeper.pruner={s.pruner} with an in-memory study: this launcher runs jobs "
            "in other processes, which cannot report to it; give hydra.sweeper.storage (a "
            "journal file: journal:///search.journal), or pruner=none"
        )
    where = study.local_file(s.storage)
    if where is not None and not where.exists():  # a new file: nothing to fit, made by the sweep
        study.check_folder(s.storage, where)
        return
    opened = study.open_study(study.absolute(s.storage), s.study_name, s.direction)
    study.check_fits(opened, dims)
