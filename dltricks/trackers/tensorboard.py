"""logger=tensorboard: TensorBoard's SummaryWriter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dltricks import records
from dltricks.errors import ConfigError
from dltricks.rundir import RunDir
from dltricks.trackers.common import needs, numbers


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
