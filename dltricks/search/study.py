"""The Optuna study behind a search: its storage (in memory, a journal file, SQLite,
PostgreSQL...), opened so that workers starting at the same moment on a fresh storage all
succeed; its sampler and pruner; whether a space fits the trials the study already holds.
Optuna is imported only here and in trial.py, when a search runs."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from dltricks import stores
from dltricks.errors import ConfigError, first_line
from dltricks.search.space import Dimension

JOURNAL = "journal:///"  # journal:///relative/file, journal:////absolute/file (SQLAlchemy's)
SAMPLERS = ("random", "qmc", "tpe", "gp", "grid")
PRUNERS = ("none", "median", "successive_halving", "hyperband")
_memory: dict[str, Any] = {}  # in-memory storages by study name: the jobs of this process'


def local_file(url: str | None) -> Path | None:
    """The file a storage lives in on this machine (a journal, a SQLite database)."""
    if url is None:
        return None
    if url.startswith(JOURNAL):
        return Path(url[len(JOURNAL) :]).expanduser()
    return stores.sqlite_file(url)


def absolute(url: str | None) -> str | None:
    """A local storage's URL with its file's absolute path: a job may run in another cwd."""
    path = local_file(url)
    if path is None or url is None:
        return url
    scheme = JOURNAL if url.startswith(JOURNAL) else "sqlite:///"
    return f"{scheme}{path.resolve()}"


def check_folder(url: str, path: Path) -> None:
    """A new storage file's folder can be made (as outputs/ is), or ConfigError."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(
            f"hydra.sweeper.storage={url}: cannot make {path.parent}: {err.strerror}"
        ) from None


def storage(url: str | None, study_name: str) -> Any:
    """Optuna's storage for a URL: None in memory (one per study, for this process' jobs),
    journal:///FILE a journal file (processes that share a file system, no database server),
    anything else SQLAlchemy's (sqlite:///FILE, postgresql://...)."""
    import optuna

    if url is None:
        return _memory.setdefault(study_name, optuna.storages.InMemoryStorage())
    path = local_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    if url.startswith(JOURNAL):
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    return optuna.storages.RDBStorage(url)


def trial_id(store: Any, study_name: str, number: int) -> int:
    """A trial's id in its storage (what the storage's own API takes), from its number."""
    return store.get_trial_id_from_study_id_trial_number(
        store.get_study_id_from_name(study_name), number
    )


def open_study(
    url: str | None, study_name: str, direction: str, sampler: Any = None, pruner: Any = None
) -> Any:
    """The study, made if new. Workers that start at the same moment race to make a fresh
    database's tables (the loser's insert fails); the loser waits a moment and opens what the
    winner made. A storage that cannot be opened is bad input, named with its URL."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    failure: BaseException | None = None
    for attempt in range(10):
        try:
            return optuna.create_study(
                study_name=study_name,
                storage=storage(url, study_name),
                direction=direction,
                sampler=sampler,
                pruner=pruner,
                load_if_exists=True,
            )
        except OSError as err:  # a journal's folder that cannot be made
            raise ConfigError(
                f"hydra.sweeper.storage={url}: cannot make {err.filename}: {err.strerror}"
            ) from None
        except Exception as err:  # SQLAlchemy's, Optuna's: retried while another makes the tables
            failure = err
            if not _racing(err):
                break
            time.sleep(0.2 * (attempt + 1) + random.random() / 2)
    message = stores.driver_hint(str(url), first_line(failure or RuntimeError("unknown")))
    raise ConfigError(f"hydra.sweeper.storage={url}: cannot open the study: {message}")


def _racing(err: BaseException) -> bool:
    """An error of a database another worker is making at this moment (or SQLite's lock)."""
    text = f"{type(err).__name__}: {err}".lower()
    return any(
        w in text for w in ("locked", "already exists", "integrity", "unique", "storageinternal")
    )


def check_fits(study: Any, dims: list[Dimension]) -> None:
    """A shared study's trials were sampled from a space: this search's must agree with it
    key by key (Optuna refuses another distribution for a key, mid-search): exit 2 first,
    leaving the study as it was."""
    held: dict[str, Any] = {}
    for trial in study.get_trials(deepcopy=False):
        held.update(trial.distributions)
    for dim in dims:
        theirs = held.get(dim.key)
        if theirs is not None and theirs != dim.distribution():
            raise ConfigError(
                f"{dim.where}: {dim.key}: the study {study.study_name!r} holds trials of "
                f"{theirs} for it, not {dim.distribution()}; search the same space, or name "
                "another hydra.sweeper.study_name"
            )


def sampler(node: dict[str, Any], dims: list[Dimension], grid_points: int) -> Any:
    """The sampler hydra.sweeper.sampler names (name, seed, and its own options)."""
    import warnings

    from optuna import samplers
    from optuna.exceptions import ExperimentalWarning

    warnings.filterwarnings("ignore", category=ExperimentalWarning)  # qmc, gp: stable enough
    options = {k: v for k, v in node.items() if k not in ("name",)}
    name = node.get("name")
    if name == "grid":
        space = {d.key: d.grid(grid_points) for d in dims}
        return samplers.GridSampler(space, seed=options.get("seed"))
    made = {
        "random": samplers.RandomSampler,
        "qmc": samplers.QMCSampler,
        "tpe": samplers.TPESampler,
        "gp": samplers.GPSampler,
    }
    return made[name](**options)


def pruner(name: str) -> Any:
    """The pruner hydra.sweeper.pruner names; each trial reports val_err at every evaluation
    (its epoch: the resource successive halving and Hyperband share out)."""
    from optuna import pruners

    return {
        "none": pruners.NopPruner,
        "median": lambda: pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1),
        "successive_halving": lambda: pruners.SuccessiveHalvingPruner(min_resource=1),
        "hyperband": lambda: pruners.HyperbandPruner(min_resource=1, reduction_factor=3),
    }[name]()
