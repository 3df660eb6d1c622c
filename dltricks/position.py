"""The training loop's position: the epoch in progress, the next batch in it and that epoch's
order, and what the run has accumulated (steps, examples seen, the best and last
evaluations). A checkpoint saves it as plain values; `Position.saved` checks a saved one
field by field, since a checkpoint may come from anyone."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import torch

from dltricks import records
from dltricks.errors import BadFile
from dltricks.records import is_int, is_number


@dataclass
class Position:
    """Where the loop is: the epoch in progress, the next batch in it, and what the run has
    accumulated so far."""

    epoch: int = 1  # the epoch in progress (1-based); epochs completed = epoch - 1
    batch: int = 0  # index of its next example in `visit`
    visit: torch.Tensor | None = None  # this epoch's order, drawn at its start
    step: int = 0
    seen: int = 0
    train_seconds: float = 0.0
    losses: torch.Tensor | None = None  # this epoch's minibatch losses so far
    best: dict | None = None  # the evaluation row with the lowest val_err
    last: dict | None = None  # the last evaluation row

    @classmethod
    def saved(cls, saved: dict[str, Any], n: int, where: str) -> Position:
        """The position a checkpoint holds, each field checked (someone else may have written
        it): epoch >= 1, a batch inside the epoch's order, that order a 1-D index into the
        `n` training examples, counts >= 0, the evaluation rows holding their metrics."""

        def need(ok: bool, field: str, what: str) -> None:
            if not ok:
                raise BadFile(f"{where}: refused, position.{field} is not {what}")

        unknown = set(saved) - {f.name for f in fields(cls)}
        need(not unknown, ", ".join(sorted(unknown)), "a field of a position")
        at = cls(**saved)
        for field in ("epoch", "batch", "step", "seen"):
            value = getattr(at, field)
            need(is_int(value) and 0 <= value < 2**62, field, "an integer >= 0")
        need(at.epoch >= 1, "epoch", "an integer >= 1")
        need(is_number(at.train_seconds, finite=True), "train_seconds", "a number")
        visit = at.visit
        need(
            visit is None
            or (
                isinstance(visit, torch.Tensor)
                and visit.dtype == torch.int64
                and visit.ndim == 1
                and 0 < len(visit) <= n
                and 0 <= int(visit.min()) <= int(visit.max()) < n
            ),
            "visit",
            f"an order of the {n} training examples",
        )
        need(at.batch <= (len(visit) if visit is not None else 0), "batch", "inside the epoch")
        losses = at.losses
        need(
            losses is None
            or (
                isinstance(losses, torch.Tensor) and losses.is_floating_point() and losses.ndim == 1
            ),
            "losses",
            "a 1-D tensor of losses",
        )
        for field, keys in (("best", records.BEST), ("last", records.EVALUATED)):
            row = getattr(at, field)
            need(
                row is None or (isinstance(row, dict) and all(is_number(row.get(k)) for k in keys)),
                field,
                f"an evaluation row with {', '.join(keys)}",
            )
        return at

    def next_epoch(self) -> None:
        self.epoch, self.batch, self.visit, self.losses = self.epoch + 1, 0, None, None

    def remember(self, row: dict[str, Any]) -> None:
        """An evaluation: the last one, and the best so far by val_err."""
        self.last = row
        if self.best is None or row["val_err"] < self.best["val_err"]:
            self.best = row
