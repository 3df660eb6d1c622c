"""The config unpacked into plain values, without torch: the keys the training loop itself
reads (`Loop`), and the learning-rate schedule, which training and `dltricks schedule` compose
with the same function, so the preview shows the rates a run uses."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from dltricks.optim import schedules
from dltricks.targets import instantiate


@dataclass(frozen=True)
class Loop:
    """trainer.* as the loop reads it (build turns the other trainer keys into the parts)."""

    epochs: int
    eval_every: int
    checkpoint_every: int
    resume: Path | None
    overfit_subset: int
    overfit_loss: float
    sanity_tolerance: float
    threads: int | None  # as asked: null lets device.cpu_threads pick (a resume keeps its pick)


def loop_settings(trainer: DictConfig) -> Loop:
    return Loop(
        epochs=trainer.epochs,
        eval_every=trainer.eval_every,
        checkpoint_every=trainer.checkpoint_every,
        resume=Path(trainer.resume).expanduser() if trainer.resume else None,
        overfit_subset=trainer.overfit_subset,
        overfit_loss=trainer.overfit_loss,
        sanity_tolerance=trainer.sanity_tolerance,
        threads=trainer.threads,
    )


def lr_schedule(cfg: DictConfig) -> schedules.Curve:
    """The multiplier of optimizer.lr at each step: the schedule's curve after its warm-up,
    times trainer.lr_scale."""
    curve = instantiate(cfg.schedule.curve)
    warmed = schedules.with_warmup(curve, cfg.schedule.warmup_steps)
    return schedules.scaled(warmed, cfg.trainer.lr_scale)
