"""run(cfg, job) -> summary: the one training loop, top to bottom.

build() turns the config into plain objects; the loop below uses only those: set the lr,
forward, backward, clip, step, evaluate, write a row. Where the loop is, is a Position; the
bookkeeping lives elsewhere: the run's summary.json in run_record.py, what a checkpoint holds
in checkpoint.py, the run dir's files in rundir, signals in signals.py.
"""

from __future__ import annotations

import functools
import math
import time
from contextlib import nullcontext
from typing import Any

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import nn

from dltricks import checkpoint, console, optim, records, sanity
from dltricks import data as datasets
from dltricks.build import Parts, build
from dltricks.data import Split
from dltricks.errors import ConfigError
from dltricks.position import Position
from dltricks.run_record import Job, RunRecord
from dltricks.rundir import RunDir
from dltricks.signals import NEVER, Interrupted, StopRequest

NO_AUTOCAST = nullcontext()  # fp32: evaluation as it is


def run(cfg: DictConfig, job: Job, stop: StopRequest = NEVER) -> dict[str, Any]:
    """Train one model as `cfg` says; write metrics.csv and summary.json to job.run_dir.
    With trainer.resume=RUN_DIR, continue that run from its checkpoint, bit for bit. `stop`
    is set by SIGINT/SIGTERM when the caller owns the process (the command line's job)."""
    start = time.perf_counter()
    p, at, checks = begin(cfg, job)  # built; at its start, or resumed from its checkpoint
    loop, run_dir = p.loop, job.dir
    with (
        RunRecord(job, p, at, start, columns(p), **checks) as record,
        p.probes,
        console.Progress(loop.epochs, p.batches) as progress,
    ):
        if not loop.resume and p.probes.due(0):  # the network at initialization (cs231n)
            record.layers(p.probes.measure(0, 0))
        for epoch in range(at.epoch, loop.epochs + 1):
            epoch_start = time.perf_counter()
            running_loss = train_epoch(p, at, stop, progress, run_dir)
            at.next_epoch()
            if epoch % loop.eval_every == 0 or epoch == loop.epochs:
                row = epoch_row(p, at, epoch, running_loss, epoch_start)
                record.write(row)  # metrics.csv, and the trackers (logger=...)
                progress.evaluation(row)
                if p.probes.due(epoch):
                    record.layers(p.probes.measure(epoch, at.step))
                if ends_run(p, record, row, at, job.trial):  # diverged, stopped early, pruned
                    break
            if loop.checkpoint_every and epoch % loop.checkpoint_every == 0 and epoch < loop.epochs:
                checkpoint.save(p, at, run_dir)
        record.end(**results(p, record.status, at))
        checkpoint.save(p, at, run_dir)  # `dltricks resume RUN_DIR trainer.epochs=MORE` goes on
    return record.summary


def begin(cfg: DictConfig, job: Job) -> tuple[Parts, Position, dict[str, Any]]:
    """The run's parts as built, where it starts (resumed from its checkpoint with
    trainer.resume), and the seeds' sanity checks of a fresh run (in a fork of the random
    state: they change none of the run's numbers)."""
    job.run_dir.mkdir(parents=True, exist_ok=True)  # Hydra made it, unless a library call
    p = build(cfg, job.dir)
    at = resumed(p, job.dir) if p.loop.resume else Position()
    checks = {} if p.loop.resume else {"sanity": sanity.before_training(p)}
    return p, at, checks


def columns(p: Parts) -> list[str]:
    """metrics.csv's columns: the registry's, and the optimizer's own (SWATS' switch step)."""
    return records.METRIC_COLUMNS + list(optim.stats(p.optimizer))


def epoch_row(
    p: Parts, at: Position, epoch: int, running_loss: float, epoch_start: float
) -> dict[str, Any]:
    """The evaluation after epoch `epoch`: a row of metrics.csv."""
    return {
        "epoch": epoch,
        "step": at.step,
        "lr": p.optimizer.param_groups[0]["lr"],  # the epoch's last update's
        **evaluate_splits(p.forward, p.data, p.autocast),  # as trained: compiled, autocast
        "grad_norm": grad_norm(p.params),
        "train_loss_running": running_loss,
        "epoch_s": time.perf_counter() - epoch_start,
        "samples_per_s": at.seen / max(at.train_seconds, 1e-9),
        **optim.stats(p.optimizer),
    }


def ends_run(p: Parts, record: RunRecord, row: dict[str, Any], at: Position, trial: Any) -> bool:
    """After an evaluation: whether the run ends here, and how (record.status): a NaN or inf
    loss (diverged), early stopping, a search's pruner. Otherwise the row is remembered."""
    if not math.isfinite(row["train_loss"] + row["train_loss_running"]):
        record.status, record.summary["diverged_at_step"] = "diverged", at.step
        return True
    at.remember(row)
    if p.early_stopping.update(row, p.model):
        record.status = "early_stopped"
        return True
    if trial.pruned(row):  # a search's trial: its pruner stops it
        record.status = "pruned"
        return True
    return False


def resumed(p: Parts, run_dir: RunDir) -> Position:
    """Restore the run in `run_dir` (trainer.resume, which must be the run's own dir) from its
    checkpoint: the same config (but for the epoch budget), its rows of metrics.csv and
    layers.csv up to the checkpoint; the position to continue from."""
    assert p.loop.resume is not None
    if p.loop.resume.resolve() != run_dir.path.resolve():
        raise ConfigError(
            f"trainer.resume={p.loop.resume}: a run resumes in its own dir, not {run_dir}; "
            f"use `dltricks resume {p.loop.resume}`"
        )
    state = checkpoint.load_for_resume(run_dir)
    checkpoint.check(state, p, run_dir)  # every field, before anything is loaded
    checkpoint.check_same_config(state["config"], p.flat_config)
    at = Position.saved(state["position"], len(p.data.train), str(run_dir.checkpoint_path))
    if p.loop.threads is None and state.get("threads"):
        torch.set_num_threads(state["threads"])  # the count the run picked: bit for bit
    checkpoint.restore(p, state, run_dir)
    for note in run_dir.trim_after(at.epoch):  # rows written after the checkpoint go
        print(f"dltricks: warning: {note}", flush=True)
    print(f"dltricks: resuming {run_dir} at epoch {at.epoch}, step {at.step}")
    return at


def train_epoch(
    p: Parts, at: Position, stop: StopRequest, progress: console.Progress, run_dir: RunDir
) -> float:
    """One pass over epoch `at.epoch`'s order, from `at.batch` (mid-epoch after a resume);
    the mean of its minibatch objectives. On SIGINT/SIGTERM: a checkpoint, then Interrupted."""
    start = time.perf_counter()
    p.model.train()
    progress.epoch_start()
    # this epoch's order: shuffled, the easy part in a curriculum (or as saved)
    visit = at.visit = p.order(at.epoch).to(p.device) if at.visit is None else at.visit
    xs, ys = p.data.train.x[visit], p.data.train.y[visit]
    # minibatch losses stay on the device (no sync per step), summed once per epoch
    losses = [] if at.losses is None else list(at.losses.to(p.device).unbind())
    for i in range(at.batch, len(ys), p.batch_size):
        if stop.signum:
            at.batch, at.losses = i, torch.stack(losses) if losses else None
            at.train_seconds += time.perf_counter() - start
            checkpoint.save(p, at, run_dir)
            raise Interrupted(stop.signum)
        x, y = xs[i : i + p.batch_size], ys[i : i + p.batch_size]
        last = i + p.batch_size >= len(ys)  # the probes keep w before the epoch's last update
        losses.append(train_step(p, x, y, p.schedule(at.step, p.total_steps), at.step, last))
        at.step, at.seen = at.step + 1, at.seen + len(y)
        p.average.update(p.model, at.step)  # average.start: Polyak/SWA averaging
        progress.batch()
    at.train_seconds += time.perf_counter() - start
    return torch.stack(losses).sum().item() / math.ceil(len(ys) / p.batch_size)


def train_step(
    p: Parts, x: torch.Tensor, y: torch.Tensor, lr_factor: float, step: int, last: bool = False
) -> torch.Tensor:
    """One update on the minibatch (x, y) at optimizer.lr x `lr_factor`: the perturbed
    inputs, the penalized loss under autocast, backward through the grad scaler, the gradient
    hooks (clipping, noise), the step, the weights' own hooks (L1's proximal step); the
    minibatch's objective, on the device."""
    x, y = p.reg.perturb(x, y)
    lr = optim.set_lr(p.optimizer, lr_factor)
    with p.autocast:
        loss = p.reg.add_penalty(p.criterion(p.forward(x), y), p.weights)
    p.optimizer.zero_grad(set_to_none=True)
    p.scaler.scale(loss).backward()  # fp16: scaled; otherwise loss.backward()
    p.scaler.unscale_(p.optimizer)  # true gradients for clipping and noise
    p.reg.on_gradients(p.params, step)
    p.probes.before_step(last)
    p.step()  # the update (fp16: through the grad scaler)
    p.scaler.update()
    p.reg.after_step(p.weights, lr)
    return loss.detach()


def results(p: Parts, status: str, at: Position) -> dict[str, Any]:
    """After the last epoch: early stopping's best weights back, or the averaged weights in
    (their metrics are the final ones), the optimizer's own statistics, the weights'
    sparsity, the overfit verdict."""
    kept = p.early_stopping.finish(p.model)
    measure = functools.partial(evaluate_splits, autocast=p.autocast)
    final = measure(p.forward, p.data) if kept and status != "diverged" else at.last
    averaged = p.average.finish(p.model, p.data, measure) if status != "diverged" else None
    final = averaged["averaged"] if averaged else final
    out = {
        "final": final,
        "average": averaged,
        "regularization": kept and {"EarlyStopping": kept},
        "optimizer_stats": optim.stats(p.optimizer) or None,
        "sparsity": sanity.sparsity(p.weights, tol=1e-3),  # |w| <= 1e-3
        "zero_weights": sanity.sparsity(p.weights),  # w == 0
        "update_ratio": p.probes.ratio_check,  # trainer.probes: cs231n's ~1e-3 check
    }
    if p.loop.overfit_subset:
        frozen = len(p.facts["transfer"]["frozen"]) if p.facts["transfer"] else 0
        out["overfit"] = sanity.overfit_verdict(
            p.loop.overfit_subset, final, p.loop.overfit_loss, frozen
        )
    return out


# ---------------------------------------------------------------- evaluation


@torch.inference_mode()
def evaluate(
    model: nn.Module, split: Split, autocast: Any = NO_AUTOCAST, batch: int = 4096
) -> tuple[float, float]:
    """(mean cross-entropy, error fraction) over a split, in eval mode (dropout off, BN
    running statistics), in large batches, under the training's autocast (its precision)."""
    model.eval()
    loss = torch.zeros((), device=split.x.device)
    wrong = torch.zeros((), device=split.x.device, dtype=torch.int64)
    for i in range(0, len(split), batch):
        with autocast:
            logits = model(split.x[i : i + batch]).float()
        y = split.y[i : i + batch]
        loss += F.cross_entropy(logits, y, reduction="sum")
        wrong += (logits.argmax(1) != y).sum()
    n = max(len(split), 1)
    return loss.item() / n, wrong.item() / n


def evaluate_splits(
    model: nn.Module, data: datasets.Data, autocast: Any = NO_AUTOCAST
) -> dict[str, float]:
    """train/val/test loss and error: the EVALUATED metrics of records.py."""
    row: dict[str, float] = {}
    for name in records.SPLITS:
        row[f"{name}_loss"], row[f"{name}_err"] = evaluate(model, getattr(data, name), autocast)
    return row


def grad_norm(params: list[nn.Parameter]) -> float:
    """The global L2 norm of the last update's gradients."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))).item()
