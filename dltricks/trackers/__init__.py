"""Trackers (the `logger` group): the run's record mirrored where people watch runs, with each
tracker's own library: TensorBoard's SummaryWriter (tensorboard.py), MLflow's client
(mlflow.py), Weights & Biases' wandb (wandb.py). metrics.csv and
summary.json stay the source of truth: a tracker that fails (a store unreachable, a full
disk) warns once and is off for the rest of the run, which goes on.

A tracker gets the run as it starts (`start`, returning what summary.json keeps of it, e.g.
MLflow's run id, so that `dltricks resume` continues the same run), each metrics row at its
step, the probes' per-layer rows, and the run's end (`finish`: final metrics, status, files).
"""

from __future__ import annotations

import sys
from typing import Any

from dltricks.rundir import RunDir
from dltricks.trackers.common import needs, numbers


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


# the options' targets (conf/logger/*.yaml): dltricks.trackers.TensorBoard, .MLflow, .WandB
from dltricks.trackers.mlflow import MLflow  # noqa: E402
from dltricks.trackers.tensorboard import TensorBoard  # noqa: E402
from dltricks.trackers.wandb import WandB  # noqa: E402

__all__ = ["MLflow", "TensorBoard", "Trackers", "WandB", "needs", "numbers"]
