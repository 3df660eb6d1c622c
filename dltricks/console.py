"""What a run shows while it trains: a rich progress bar on a terminal (epochs and batches),
one plain line per evaluation otherwise (logs, CI, sweeps), and a one-line result."""

from __future__ import annotations

import logging
import sys
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress

log = logging.getLogger("dltricks")


def format_row(row: dict, epochs: int) -> str:
    def num(key: str) -> str:
        value = row.get(key)
        return "-" if value is None else f"{value:.4f}"

    return (
        f"epoch {row['epoch']:>3}/{epochs}  lr {row['lr']:.3g}  "
        f"train loss {num('train_loss')} err {num('train_err')}  "
        f"val loss {num('val_loss')} err {num('val_err')}  "
        f"test err {num('test_err')}  {row['epoch_s']:.2f}s"
    )


class Progress:
    """Call batch() after every update and evaluation(row) after every evaluation."""

    def __init__(self, epochs: int, steps_per_epoch: int, live: bool | None = None) -> None:
        self.epochs, self.steps_per_epoch = epochs, steps_per_epoch
        self.live = sys.stdout.isatty() if live is None else live
        self._bar: RichProgress | None = None

    def __enter__(self) -> Progress:
        if self.live:
            self._bar = RichProgress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[status]}"),
                console=Console(),
                transient=True,
            )
            self._bar.start()
            self._epochs = self._bar.add_task("epochs ", total=self.epochs, status="")
            self._batches = self._bar.add_task("batches", total=self.steps_per_epoch, status="")
        return self

    def batch(self) -> None:
        if self._bar is not None:
            self._bar.advance(self._batches)

    def epoch_start(self) -> None:
        if self._bar is not None:
            self._bar.reset(self._batches)

    def evaluation(self, row: dict) -> None:
        line = format_row(row, self.epochs)
        log.info(line)
        if self._bar is not None:
            self._bar.update(
                self._epochs, completed=row["epoch"], status=f"val err {row['val_err']:.4f}"
            )
            self._bar.console.print(line, highlight=False)
        else:
            print(line, flush=True)

    def __exit__(
        self, kind: type | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.stop()


def result_line(summary: dict, run_dir: object) -> str:
    final, best = summary.get("final") or {}, summary.get("best") or {}

    def num(d: dict, key: str) -> str:
        value = d.get(key)
        return "-" if value is None else f"{value:.4f}"

    return (
        f"{summary['status']}: train err {num(final, 'train_err')}  "
        f"val err {num(final, 'val_err')}  test err {num(final, 'test_err')}  "
        f"(best val err {num(best, 'val_err')} at epoch {best.get('epoch', '-')}); "
        f"{summary['epochs']} epochs, {summary['steps']} steps in {summary['wall_s']:.1f}s "
        f"-> {run_dir}"
    )
