"""run(cfg, job) -> summary: the one training loop, top to bottom.

build() turns the config into plain objects; the loop below uses only those: set the lr,
forward, backward, clip, step, evaluate, write a row.
"""

from __future__ import annotations

import logging
import math
import os
import platform
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import nn

from dltricks import __version__, console, optim, probes, records
from dltricks import data as datasets
from dltricks.build import build
from dltricks.data import Split

log = logging.getLogger("dltricks")


@dataclass
class Job:
    """Where a run writes, and how it was asked for (from Hydra's runtime config)."""

    run_dir: Path
    choices: dict[str, Any] = field(default_factory=dict)
    overrides: list[str] = field(default_factory=list)


def run(cfg: DictConfig, job: Job) -> dict[str, Any]:
    """Train one model as `cfg` says; write metrics.csv and summary.json to job.run_dir."""
    start = time.perf_counter()
    t = cfg.trainer
    p = build(cfg, job.run_dir, job.choices.get("model", "model"))
    data, model, optimizer, reg, probe = p.data, p.model, p.optimizer, p.reg, p.probes
    summary = new_summary(cfg, job, model, p.device)
    summary["transfer"] = p.transfer
    summary["sanity"] = check_sanity(p, t.sanity_tolerance)
    summary_path = job.run_dir / records.SUMMARY
    records.write_json_atomic(summary_path, summary)
    print(
        f"dltricks: {data.name} ({len(data.train)}/{len(data.val)}/{len(data.test)}), "
        f"{summary['params']:,} parameters, {p.device}, {p.total_steps} steps -> {job.run_dir}",
        flush=True,
    )

    step, epoch, status, last, best = 0, 0, "completed", None, None
    seen, train_seconds = 0, 0.0  # training examples and seconds, for samples/s
    extra = list(optim.stats(optimizer))  # e.g. SWATS' switch step: more metrics columns
    metrics = records.MetricsWriter(job.run_dir / records.METRICS, records.METRIC_COLUMNS + extra)
    try:
        if probe.due(0):
            probe.measure(0, 0)  # the network at initialization (cs231n's init table)
        batches = math.ceil(len(data.train) / p.batch_size)
        with metrics, console.Progress(t.epochs, batches) as progress:
            for epoch in range(1, t.epochs + 1):
                epoch_start = time.perf_counter()
                progress.epoch_start()
                model.train()
                visit = p.order(epoch).to(p.device)  # shuffled; the easy part in a curriculum
                xs, ys = data.train.x[visit], data.train.y[visit]
                loss_sum = torch.zeros((), device=p.device)  # summed on the device: no sync
                for i in range(0, len(ys), p.batch_size):
                    x, y = reg.perturb(xs[i : i + p.batch_size], ys[i : i + p.batch_size])
                    lr = optim.set_lr(optimizer, p.schedule(step, p.total_steps))
                    with p.autocast:
                        loss = p.criterion(p.forward(x), y) + reg.penalty(p.weights)
                    optimizer.zero_grad(set_to_none=True)
                    p.scaler.scale(loss).backward()  # fp16: scaled; otherwise loss.backward()
                    p.scaler.unscale_(optimizer)  # true gradients for clipping and noise
                    reg.on_gradients(p.params, step)
                    probe.before_step(i + p.batch_size >= len(ys))  # w before the last update
                    p.scaler.step(optimizer)
                    p.scaler.update()
                    reg.after_step(p.weights, lr)
                    loss_sum += loss.detach()
                    step, seen = step + 1, seen + len(y)
                    progress.batch()
                train_seconds += time.perf_counter() - epoch_start
                if epoch % t.eval_every and epoch != t.epochs:
                    continue
                row = {
                    "epoch": epoch,
                    "step": step,
                    "lr": lr,
                    **evaluate_splits(model, data),
                    "grad_norm": grad_norm(p.params),
                    "train_loss_running": (loss_sum / math.ceil(len(ys) / p.batch_size)).item(),
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
        kept = reg.finish(model)
        records.save_checkpoint(
            job.run_dir / records.CHECKPOINT,
            {"model": model.state_dict(), "epoch": epoch, "step": step},
        )
        final = evaluate_splits(model, data) if kept and status != "diverged" else last
        summary.update(regularization=kept, optimizer_stats=optim.stats(optimizer) or None)
        if t.overfit_subset:
            summary["overfit"] = overfit_verdict(t.overfit_subset, final, t.overfit_loss)
    except KeyboardInterrupt:
        status, final = "interrupted", last
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
            wall_s=time.perf_counter() - start,
            samples_per_s=seen / max(train_seconds, 1e-9),
        )
        records.write_json_atomic(summary_path, summary)
    print(console.result_line(summary, job.run_dir), flush=True)
    return summary


def check_sanity(p: Any, tolerance: float) -> dict[str, Any]:
    """The initial loss against ln C, and the penalty; a warning line when they are off."""
    x, y = p.data.train.x[:2048], p.data.train.y[:2048]
    result = probes.sanity(p.model, x, y, p.data.classes, p.reg.penalty(p.weights), tolerance)
    line = (
        f"sanity: initial loss {result['initial_loss']:.4f}, ln({p.data.classes}) = "
        f"{result['expected_loss']:.4f}"
    )
    if not result["initial_loss_ok"]:
        line = (
            f"warning: {line}: more than {tolerance} apart; the outputs are not diffuse at "
            "initialization (check the init scale)"
        )
    if result["penalty_raises_loss"]:
        line += f"; the penalty adds {result['penalty']:.4g}"
    print(line, flush=True)
    log.info(line)
    return result


def overfit_verdict(n: int, final: dict | None, threshold: float) -> dict[str, Any]:
    """The seeds' debugging step: a model that cannot overfit n examples has a bug or too
    little capacity."""
    loss = final["train_loss"] if final else math.nan
    reached = bool(loss <= threshold)
    word = "reached" if reached else "did NOT reach"
    print(f"overfit_subset={n}: train loss {loss:.4g} {word} <= {threshold}", flush=True)
    return {"n": n, "train_loss": loss, "threshold": threshold, "reached": reached}


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
