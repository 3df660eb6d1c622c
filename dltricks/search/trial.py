"""A search's trial as its job sees it: after each evaluation the loop reports the monitored
metric (val_err, at its epoch) and asks whether to stop; a pruned run ends with the status
`pruned`, a result. The job finds its trial through hydra.job.env_set (the sweeper puts the
trial's number and the storage's absolute URL there), and opens the study's storage itself,
so that pruning works on every launcher whose jobs can open it (an in-memory study only for
jobs of the sweeper's own process)."""

from __future__ import annotations

import os
from typing import Any

from dltricks.search import STORAGE_ENV, TRIAL_ENV

MONITOR = "val_err"


class NoTrial:
    """A run that is no search's trial: never pruned."""

    def pruned(self, row: dict[str, Any]) -> bool:
        return False


class Trial:
    """Trial `number` of a study: `pruned(row)` reports row[MONITOR] at row["epoch"] and
    says whether the study's pruner stops it."""

    def __init__(self, url: str | None, study_name: str, number: int, pruner: str, run_dir: str):
        import optuna

        from dltricks.search import study as studies

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.storage = studies.storage(url, study_name)
        self.study = optuna.load_study(
            study_name=study_name, storage=self.storage, pruner=studies.pruner(pruner)
        )
        self.id = studies.trial_id(self.storage, study_name, number)
        self.storage.set_trial_user_attr(self.id, "run_dir", run_dir)

    def pruned(self, row: dict[str, Any]) -> bool:
        value = row.get(MONITOR)
        if value is None or value != value:  # nan: nothing to report
            return False
        self.storage.set_trial_intermediate_value(self.id, int(row["epoch"]), float(value))
        return bool(self.study.pruner.prune(self.study, self.storage.get_trial(self.id)))


def for_job(sweeper: Any, run_dir: str) -> Trial | NoTrial:
    """The trial this Hydra job is (its sweeper's node, and the env the sweeper set), or
    NoTrial for a run outside a search."""
    number = os.environ.get(TRIAL_ENV)
    if number is None or not number.isdigit() or sweeper is None:
        return NoTrial()
    url = os.environ.get(STORAGE_ENV) or None
    return Trial(url, str(sweeper.study_name), int(number), str(sweeper.pruner), run_dir)
