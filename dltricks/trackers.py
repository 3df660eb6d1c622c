"""Trackers (the `logger` group): the run's record mirrored where people watch runs, with each
tracker's own library: TensorBoard's SummaryWriter, MLflow's client. metrics.csv and
summary.json stay the source of truth: a tracker that fails (a store unreachable, a full
disk) warns once and is off for the rest of the run, which goes on.

A tracker gets the run as it starts (`start`, returning what summary.json keeps of it, e.g.
MLflow's run id, so that `dltricks resume` continues the same run), each metrics row at its
step, the probes' per-layer rows, and the run's end (`finish`: final metrics, status, files).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from dltricks import records, stores
from dltricks.errors import ConfigError
from dltricks.rundir import RunDir

STATUS = {  # dltricks' status -> MLflow's (a diverged run is a result: finished)
    "completed": "FINISHED",
    "early_stopped": "FINISHED",
    "diverged": "FINISHED",
    "failed": "FAILED",
    "interrupted": "KILLED",
}


def numbers(row: dict[str, Any]) -> dict[str, float]:
    """The finite numbers of a row, as floats (what a tracker can plot)."""
    return {k: float(v) for k, v in row.items() if records.is_number(v, finite=True)}


def needs(option: str) -> None:
    """The tracker's library is installed, or say which extra installs it (exit 2)."""
    from dltricks import extras

    message = extras.missing("logger", option)
    if message:
        raise ConfigError(message)


class TensorBoard:
    """Event files in RUN_DIR/<log_dir>: every metrics.csv column as a scalar at its step,
    layers/<layer>/<stat> from the probes, and hparams (the options picked, the final
    metrics) for TensorBoard's HParams view of a sweep."""

    name = "tensorboard"

    def __init__(self, log_dir: str = "tensorboard") -> None:
        if Path(log_dir).is_absolute() or ".." in Path(log_dir).parts:
            raise ConfigError(f"logger.tensorboard.log_dir={log_dir}: a folder in the run dir")
        self.log_dir = log_dir
        needs("tensorboard")
        self.writer: Any = None

    def start(self, run_dir: RunDir, summary: dict, params: dict, resume_step: int | None) -> None:
        from torch.utils.tensorboard import SummaryWriter

        # a resumed run purges the events an earlier session wrote after its checkpoint
        purge = resume_step + 1 if resume_step is not None else None
        self.writer = SummaryWriter(str(run_dir.file(self.log_dir)), purge_step=purge)
        self.params = params

    def log(self, row: dict[str, Any], step: int) -> None:
        for key, value in numbers(row).items():
            self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def layers(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            for stat, value in numbers({s: row.get(s) for s in records.LAYER_STATS}).items():
                self.writer.add_scalar(f"layers/{row['layer']}/{stat}", value, row["step"])

    def finish(self, summary: dict, run_dir: RunDir) -> None:
        final = numbers(summary.get("final") or {})
        hparams = {k: v for k, v in self.params.items() if isinstance(v, int | float | str | bool)}
        self.writer.add_hparams(hparams, {f"final/{k}": v for k, v in final.items()}, run_name=".")
        self.writer.close()


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


class Trackers:
    """The trackers a run picked, each isolated: the first error of one warns once and turns
    that one off; the run and its CSV/JSON record go on."""

    def __init__(self, trackers: list[Any]) -> None:
        self.trackers = list(trackers)

    def _each(self, method: str, *args: Any) -> dict[str, Any]:
        out = {}
        for tracker in list(self.trackers):
            try:
                result = getattr(tracker, method)(*args)
            except Exception as err:  # a tracker never fails a run
                self.trackers.remove(tracker)
                print(
                    f"dltricks: warning: logger {tracker.name} failed ({type(err).__name__}: "
                    f"{str(err)[:200]}); it is off for the rest of the run, whose "
                    "metrics.csv and summary.json lose nothing",
                    file=sys.stderr,
                    flush=True,
                )
                continue
            if result is not None:
                out[tracker.name] = result
        return out

    def start(self, run_dir: RunDir, summary: dict, params: dict, resume_step: int | None) -> dict:
        return self._each("start", run_dir, summary, params, resume_step)

    def log(self, row: dict[str, Any], step: int) -> None:
        self._each("log", row, step)

    def layers(self, rows: list[dict[str, Any]]) -> None:
        self._each("layers", rows)

    def finish(self, summary: dict, run_dir: RunDir) -> None:
        self._each("finish", summary, run_dir)
