"""logger=mlflow: MLflow's own client."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dltricks import stores
from dltricks.rundir import RunDir
from dltricks.trackers.common import needs, numbers

STATUS = {  # dltricks' status -> MLflow's (a diverged run is a result: finished)
    "completed": "FINISHED",
    "early_stopped": "FINISHED",
    "diverged": "FINISHED",
    "failed": "FAILED",
    "interrupted": "KILLED",
}


class MLflow:
    """One MLflow run per dltricks run, in the experiment named by the run's `name` (or
    `experiment`): params = the options, metrics per evaluation at their step, summary.json,
    metrics.csv and the config as artifacts, the status following the run's."""

    name = "mlflow"

    STORE_MARKS = (".trash", "0/meta.yaml")  # what MLflow's file store holds from its start

    def __init__(self, tracking_uri: str, experiment: str | None = None) -> None:
        self.uri, self.experiment = tracking_uri, experiment
        needs("mlflow")
        self.client: Any = None
        self.run_id: str | None = None
        self.logged: set[int] = set()

    @staticmethod
    def check_args(tracking_uri: str = "", **_: object) -> None:
        """A store on this machine is new, empty or MLflow's (never made in a folder of other
        files); checked with the config, before anything is written."""
        stores.check_store(tracking_uri, "logger.mlflow.tracking_uri", MLflow.STORE_MARKS)

    def start(self, run_dir: RunDir, summary: dict, params: dict, resume_step: int | None) -> dict:
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        local = stores.local_path(self.uri)
        if resume_step is not None and local is not None and not local.exists():
            # a resume continues a store; a replayed URI (summary.json) never makes one
            raise FileNotFoundError(f"{self.uri}: no such store to continue the run in")
        with artifacts_beside(self.uri):
            self.client = MlflowClient(self.uri)
        earlier = ((summary.get("trackers") or {}).get("mlflow") or {}).get("run_id")
        if resume_step is not None and earlier:
            self.run_id = earlier
            self.client.update_run(earlier, status="RUNNING")
            history = self.client.get_metric_history(earlier, "epoch")
            self.logged = {m.step for m in history}  # a resume logs no step twice
        else:
            name = self.experiment or params.get("name") or "dltricks"  # the run's `name`
            self.run_id = self.client.create_run(
                self._experiment_id(name),
                run_name=summary.get("name"),
                tags={"dltricks.run_dir": str(run_dir)},
            ).info.run_id
            items = [Param(k, str(v)[:500]) for k, v in params.items()]
            for i in range(0, len(items), 100):
                self.client.log_batch(self.run_id, params=items[i : i + 100])
        return {"run_id": self.run_id, "tracking_uri": self.uri}

    def _experiment_id(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        artifacts = None
        database = stores.sqlite_file(self.uri)
        if database:  # artifacts beside the database, not in ./mlruns
            artifacts = (database.resolve().parent / "mlartifacts").as_uri()
        return self.client.create_experiment(name, artifact_location=artifacts)

    def log(self, row: dict[str, Any], step: int) -> None:
        from mlflow.entities import Metric

        if step in self.logged:
            return
        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, step) for k, v in numbers(row).items()]
        self.client.log_batch(self.run_id, metrics=metrics)
        self.logged.add(step)

    def layers(self, rows: list[dict[str, Any]]) -> None:
        pass  # per-layer statistics stay in layers.csv and TensorBoard

    def finish(self, summary: dict, run_dir: RunDir) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        final = numbers(summary.get("final") or {})
        step = int(summary.get("steps") or 0)
        metrics = [Metric(f"final_{k}", v, now, step) for k, v in final.items()]
        self.client.log_batch(self.run_id, metrics=metrics)
        for path, folder in run_dir.artifacts():
            if folder:
                self.client.log_artifacts(self.run_id, str(path), artifact_path=path.name)
            else:
                self.client.log_artifact(self.run_id, str(path))
        self.client.set_tag(self.run_id, "dltricks.status", summary.get("status"))
        self.client.set_terminated(self.run_id, STATUS.get(summary.get("status"), "FAILED"))


# MLflow's SQL store makes its default artifact root, ./mlruns, in the current directory when it
# starts (MLflow reads the server's root from this variable, else "./mlruns")
_ARTIFACT_ROOT = "_MLFLOW_SERVER_ARTIFACT_ROOT"


@contextmanager
def artifacts_beside(uri: str) -> Iterator[None]:
    """For a SQLite store, its artifact root beside the database (mlartifacts/), so that no
    run leaves an empty ./mlruns wherever it was started."""
    database = stores.sqlite_file(uri)
    if database is None or _ARTIFACT_ROOT in os.environ:
        yield
        return
    os.environ[_ARTIFACT_ROOT] = (database.resolve().parent / "mlartifacts").as_uri()
    try:
        yield
    finally:
        os.environ.pop(_ARTIFACT_ROOT, None)
