"""run(cfg, job) -> summary: the one training loop, top to bottom.

build() turns the config into plain objects; the loop below uses only those: set the lr,
forward, backward, clip, step, evaluate, write a row.
"""

from __future__ import annotations

import logging
import math
import os
import platform
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf
from torch import nn

from dltricks import __version__, checkpoint, console, errors, optim, probes, records
from dltricks import data as datasets
from dltricks.build import build
from dltricks.checkpoint import Position
from dltricks.data import Split

log = logging.getLogger("dltricks")


@dataclass
class Job:
    """Where a run writes, and how it was asked for (from Hydra's runtime config)."""

    run_dir: Path
    choices: dict[str, Any] = field(default_factory=dict)
    overrides: list[str] = field(default_factory=list)


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived: the run saved a checkpoint and stops (exit 128 + signal)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def run(cfg: DictConfig, job: Job) -> dict[str, Any]:
    """Train one model as `cfg` says; write metrics.csv and summary.json to job.run_dir.
    With trainer.resume=RUN_DIR, continue that run from its checkpoint, bit for bit."""
    start = time.perf_counter()
    t = cfg.trainer
    p = build(cfg, job.run_dir, job.choices.get("model", "model"))
    data, model, optimizer, reg, probe = p.data, p.model, p.optimizer, p.reg, p.probes
    config_yaml = OmegaConf.to_yaml(cfg)
    summary_path = job.run_dir / records.SUMMARY
    if t.resume:
        pos, summary = checkpoint.resume(p, cfg, job, config_yaml)
    else:
        pos, summary = Position(), new_summary(cfg, job, model, p.device)
        summary.update(transfer=p.transfer, sanity=check_sanity(p, t.sanity_tolerance))
    wall_before = summary.get("wall_s") or 0.0  # a resumed run's earlier sessions
    records.write_json_atomic(summary_path, summary)
    print(
        f"dltricks: {data.name} ({len(data.train)}/{len(data.val)}/{len(data.test)}), "
        f"{summary['params']:,} parameters, {p.device}, {p.total_steps} steps -> {job.run_dir}",
        flush=True,
    )
    step, seen, train_seconds, best, last = (
        pos.step,
        pos.seen,
        pos.train_seconds,
        pos.best,
        pos.last,
    )
    epoch, status = pos.epoch - 1, "completed"
    summary["setup_s"] = time.perf_counter() - start  # data, model, checks: before step 1

    def save(epoch: int, batch: int = 0, visit: Any = None, losses: Any = None) -> None:
        """A checkpoint of the loop about to train `batch` of `epoch`."""
        here = Position(epoch, batch, visit, step, seen, train_seconds, losses, best, last)
        records.save_checkpoint(
            job.run_dir / records.CHECKPOINT, checkpoint.capture(p, here, config_yaml)
        )

    extra = list(optim.stats(optimizer))  # e.g. SWATS' switch step: more metrics columns
    metrics = records.MetricsWriter(job.run_dir / records.METRICS, records.METRIC_COLUMNS + extra)
    stop = StopRequest()  # SIGINT/SIGTERM: checkpoint at the next batch, then exit
    try:
        if probe.due(0) and not t.resume:
            probe.measure(0, 0)  # the network at initialization (cs231n's init table)
        batches = math.ceil(len(data.train) / p.batch_size)
        with stop, metrics, console.Progress(t.epochs, batches) as progress:
            for epoch in range(pos.epoch, t.epochs + 1):
                epoch_start = time.perf_counter()
                progress.epoch_start()
                model.train()
                # this epoch's order: shuffled, the easy part in a curriculum (or as saved)
                visit = p.order(epoch).to(p.device) if pos.visit is None else pos.visit
                xs, ys = data.train.x[visit], data.train.y[visit]
                # minibatch losses stay on the device (no sync per step), summed per epoch
                losses = [] if pos.losses is None else list(pos.losses.to(p.device).unbind())
                for i in range(pos.batch, len(ys), p.batch_size):
                    if stop.signum:
                        train_seconds += time.perf_counter() - epoch_start
                        save(epoch, i, visit, torch.stack(losses) if losses else None)
                        raise Interrupted(stop.signum)
                    x, y = reg.perturb(xs[i : i + p.batch_size], ys[i : i + p.batch_size])
                    lr = optim.set_lr(optimizer, p.schedule(step, p.total_steps))
                    with p.autocast:
                        loss = reg.add_penalty(p.criterion(p.forward(x), y), p.weights)
                    optimizer.zero_grad(set_to_none=True)
                    p.scaler.scale(loss).backward()  # fp16: scaled; otherwise loss.backward()
                    p.scaler.unscale_(optimizer)  # true gradients for clipping and noise
                    reg.on_gradients(p.params, step)
                    probe.before_step(i + p.batch_size >= len(ys))  # w before the last update
                    p.scaler.step(optimizer)
                    p.scaler.update()
                    reg.after_step(p.weights, lr)
                    losses.append(loss.detach())
                    step, seen = step + 1, seen + len(y)
                    progress.batch()
                pos = Position()  # only the first epoch after a resume starts mid-way
                train_seconds += time.perf_counter() - epoch_start
                if epoch % t.eval_every == 0 or epoch == t.epochs:
                    row = {
                        "epoch": epoch,
                        "step": step,
                        "lr": lr,
                        **evaluate_splits(model, data),
                        "grad_norm": grad_norm(p.params),
                        "train_loss_running": torch.stack(losses).sum().item()
                        / math.ceil(len(ys) / p.batch_size),
                        "epoch_s": time.perf_counter() - epoch_start,
                        "samples_per_s": seen / max(train_seconds, 1e-9),
                        **optim.stats(optimizer),
                    }
                    metrics.write(row)
                    metrics.sync()
                    progress.evaluation(row)
                    if probe.due(epoch):
                        probe.measure(epoch, step)
                    if not all(math.isfinite(row[k]) for k in ("train_loss", "train_loss_running")):
                        status, summary["diverged_at_step"] = "diverged", step
                        break
                    last = row
                    if best is None or row["val_err"] < best["val_err"]:
                        best = row
                    if reg.should_stop(row, model):
                        status = "early_stopped"
                        break
                if t.checkpoint_every and epoch % t.checkpoint_every == 0 and epoch < t.epochs:
                    save(epoch + 1)
        kept = reg.finish(model)
        save(epoch + 1)  # the end: `dltricks resume RUN_DIR trainer.epochs=MORE` goes on from here
        final = evaluate_splits(model, data) if kept and status != "diverged" else last
        summary.update(
            regularization=kept,
            optimizer_stats=optim.stats(optimizer) or None,
            sparsity=sparsity(p.weights),
        )
        if t.overfit_subset:
            frozen = len(p.transfer["frozen"]) if p.transfer else 0
            summary["overfit"] = overfit_verdict(t.overfit_subset, final, t.overfit_loss, frozen)
    except (Interrupted, KeyboardInterrupt):
        status, final, epoch = "interrupted", last, epoch - 1  # epochs completed
        raise
    except Exception as err:
        status, final = "failed", last
        summary["error"] = f"{type(err).__name__}: {err}"
        raise
    finally:
        probe.close()
        summary.update(
            status=status,
            epochs=epoch,
            steps=step,
            final=final and final_metrics(final),
            best=best and {k: best[k] for k in ("epoch", "val_err", "test_err")},
            wall_s=wall_before + time.perf_counter() - start,
            samples_per_s=seen / max(train_seconds, 1e-9),
        )
        write_summary_last(summary_path, summary)
    print(console.result_line(summary, job.run_dir), flush=True)
    return summary


class StopRequest:
    """While active, SIGINT and SIGTERM set `signum` instead of killing the process, so the
    loop can save a checkpoint at the next batch; a second SIGINT stops at once."""

    def __init__(self) -> None:
        self.signum = 0
        self._old: dict[int, Any] = {}

    def _handler(self, signum: int, frame: Any) -> None:
        if self.signum == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                self._old[s] = signal.signal(s, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        for s, old in self._old.items():
            signal.signal(s, old)


def write_summary_last(path: Path, summary: dict) -> None:
    """The final summary; a full disk must not hide the error that ended the run."""
    try:
        records.write_json_atomic(path, summary)
    except OSError as err:
        errors.say(f"cannot write {path}: {err.strerror}")


@torch.no_grad()
def sparsity(weights: list[nn.Parameter], tol: float = 1e-3) -> float:
    """The fraction of weights with |w| < tol (L1 drives weights to zero, L2 only shrinks)."""
    total = sum(w.numel() for w in weights)
    small = sum(int((w.abs() < tol).sum()) for w in weights)
    return small / max(total, 1)


def check_sanity(p: Any, tolerance: float) -> dict[str, Any]:
    """The initial loss against ln C, and the penalty; a warning line when they are off."""
    x, y = p.data.train.x[:2048], p.data.train.y[:2048]
    result = probes.sanity(p.model, x, y, p.data.classes, p.reg.penalty(p.weights), tolerance)
    line = (
        f"sanity: initial loss {result['initial_loss']:.4f}, ln({p.data.classes}) = "
        f"{result['expected_loss']:.4f}"
    )
    if p.transfer and p.transfer["loaded"]:  # ln C is the loss of a fresh init only
        result["initial_loss_ok"] = None
        line += f" (not checked: {p.transfer['loaded']} tensors loaded from model.init_from)"
    elif not result["initial_loss_ok"]:
        line = (
            f"warning: {line}: more than {tolerance} apart; the outputs are not diffuse at "
            "initialization (check the init scale)"
        )
    if result["penalty_raises_loss"]:
        line += f"; the penalty adds {result['penalty']:.4g}"
    print(line, flush=True)
    log.info(line)
    return result


def overfit_verdict(
    n: int, final: dict | None, threshold: float, frozen: int = 0
) -> dict[str, Any]:
    """The seeds' debugging step: a model that cannot overfit n examples has a bug or too
    little capacity (which `frozen` layers take away on purpose: then it is no warning)."""
    loss = final["train_loss"] if final else math.nan
    reached = bool(loss <= threshold)
    word = "reached" if reached else "did NOT reach"
    why = f" ({frozen} modules frozen)" if frozen and not reached else ""
    print(f"overfit_subset={n}: train loss {loss:.4g} {word} <= {threshold}{why}", flush=True)
    return {
        "n": n,
        "train_loss": loss,
        "threshold": threshold,
        "reached": reached,
        "frozen": frozen,
    }


# ---------------------------------------------------------------- the pieces of the loop


@torch.inference_mode()
def evaluate(model: nn.Module, split: Split, batch: int = 4096) -> tuple[float, float]:
    """(mean cross-entropy, error fraction) over a split, in eval mode (dropout off, BN
    running statistics), in large batches."""
    model.eval()
    loss = torch.zeros((), device=split.x.device)
    wrong = torch.zeros((), device=split.x.device, dtype=torch.int64)
    for i in range(0, len(split), batch):
        logits = model(split.x[i : i + batch]).float()
        y = split.y[i : i + batch]
        loss += F.cross_entropy(logits, y, reduction="sum")
        wrong += (logits.argmax(1) != y).sum()
    n = max(len(split), 1)
    return loss.item() / n, wrong.item() / n


def evaluate_splits(model: nn.Module, data: datasets.Data) -> dict[str, float]:
    row: dict[str, float] = {}
    for name in ("train", "val", "test"):
        row[f"{name}_loss"], row[f"{name}_err"] = evaluate(model, getattr(data, name))
    return row


def final_metrics(row: dict[str, float]) -> dict[str, float]:
    return {f"{s}_{m}": row[f"{s}_{m}"] for s in ("train", "val", "test") for m in ("loss", "err")}


def grad_norm(params: list[nn.Parameter]) -> float:
    """The global L2 norm of the last update's gradients."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))).item()


def new_summary(cfg: DictConfig, job: Job, model: nn.Module, device: torch.device) -> dict:
    import hydra

    return {
        "status": "running",
        "epochs": 0,
        "steps": 0,
        "final": None,
        "best": None,
        "name": cfg.name or " ".join(job.overrides) or "default",
        "choices": job.choices,
        "overrides": job.overrides,
        "params": sum(p.numel() for p in model.parameters()),
        "seed": cfg.seed,
        "device": str(device),
        "wall_s": 0.0,
        "samples_per_s": None,
        "pid": os.getpid(),  # with host: lets the report tell a killed run from a live one
        "host": socket.gethostname(),
        "versions": {
            "dltricks": __version__,
            "torch": torch.__version__,
            "hydra": hydra.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
    }


def record_failure(job: Job, error: str, overwrite: bool = True) -> None:
    """A run that failed outside the loop: summary.json says so (the report lists it).
    overwrite=False keeps an error the loop already recorded."""
    path = job.run_dir / records.SUMMARY
    summary = (
        records.read_json(path)
        if path.exists()
        else {
            "epochs": 0,
            "steps": 0,
            "final": None,
            "best": None,
            "choices": job.choices,
            "overrides": job.overrides,
        }
    )
    if not overwrite and summary.get("status") == "failed":
        return
    summary.update(status="failed", error=error)
    job.run_dir.mkdir(parents=True, exist_ok=True)
    records.write_json_atomic(path, summary)
