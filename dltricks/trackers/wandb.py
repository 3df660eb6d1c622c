"""logger=wandb: Weights & Biases with its own library, `wandb`.

One W&B run per dltricks run: the options as its config, each evaluation's metrics at their
step, the probes' per-layer statistics as layers/<layer>/<stat>, summary.json's final
metrics and status in its summary. The run's files live in RUN_DIR/wandb (offline runs too:
`wandb sync RUN_DIR/wandb/offline-run-*` uploads them later). `dltricks resume` continues
the same W&B run: its id is kept in summary.json (trackers.wandb.run_id).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dltricks import records
from dltricks.errors import ConfigError
from dltricks.rundir import RunDir
from dltricks.rundir.scan import walk
from dltricks.trackers.common import needs, numbers

MODES = ("online", "offline", "disabled")
ENDED_WELL = ("completed", "early_stopped", "diverged")  # a result: exit code 0 in W&B


class WandB:
    name = "wandb"

    def __init__(
        self,
        project: str = "dltricks",
        entity: str | None = None,
        mode: str | None = None,
        group: str | None = None,
        tags: list[str] | None = None,
    ) -> None:
        if mode is not None and mode not in MODES:
            raise ConfigError(
                f"logger.wandb.mode={mode}: must be one of {', '.join(MODES)} "
                "(or null: W&B's own setting, WANDB_MODE)"
            )
        needs("wandb")
        self.project, self.entity, self.mode = project, entity, mode
        self.group, self.tags = group, list(tags or [])
        self.run: Any = None
        self.last_step = -1

    def start(self, run_dir: RunDir, summary: dict, params: dict, resume_step: int | None) -> dict:
        import wandb

        earlier = ((summary.get("trackers") or {}).get("wandb") or {}).get("run_id")
        resuming = resume_step is not None and bool(earlier)
        folder = run_dir.file("wandb")
        folder.mkdir(exist_ok=True)
        self.run = wandb.init(
            project=self.project,
            entity=self.entity,
            mode=self.mode,
            group=self.group,
            tags=self.tags or None,
            name=summary.get("name"),
            dir=str(run_dir.path),
            config=params,
            id=earlier if resuming else None,
            resume="allow" if resuming else None,
            reinit="create_new",  # a sweep's jobs in one process: a run each
            settings=wandb.Settings(symlink=False),  # no latest-run link: a run dir holds none
        )
        self.last_step = resume_step if resuming else -1
        return {"run_id": self.run.id, "project": self.project, "mode": self.mode}

    def log(self, row: dict[str, Any], step: int) -> None:
        if step < self.last_step:  # W&B drops (and warns about) a step it has passed
            return
        self.run.log(numbers(row), step=step)
        self.last_step = step

    def layers(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            stats = numbers({s: row.get(s) for s in records.LAYER_STATS})
            if row["step"] >= self.last_step and stats:
                logged = {f"layers/{row['layer']}/{k}": v for k, v in stats.items()}
                self.run.log(logged, step=row["step"])
                self.last_step = row["step"]

    def finish(self, summary: dict, run_dir: RunDir) -> None:
        final = numbers(summary.get("final") or {})
        self.run.summary.update({f"final_{k}": v for k, v in final.items()})
        self.run.summary["status"] = summary.get("status")
        self.run.finish(exit_code=0 if summary.get("status") in ENDED_WELL else 1)
        drop_links(run_dir.file("wandb"))


def drop_links(folder: Path) -> None:
    """The symlinks wandb leaves in its folder (logs/debug-core.log -> ~/.cache/wandb/...):
    a run dir holds no link (dltricks resume refuses one), so they go once the run is over;
    the files they point to stay where wandb keeps them."""
    for here, _, files in walk(folder):  # never into a linked folder
        for name in files:  # a link to a folder is listed with the files
            path = here / name
            if path.is_symlink():
                path.unlink()
