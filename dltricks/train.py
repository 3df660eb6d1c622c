"""run(cfg, job) -> summary: the one training loop, top to bottom.

The config is read here and nowhere else: the top of `run` turns it into plain objects (data
on the device, model, optimizer, schedule, regularizers); the loop below uses only those.
"""

from __future__ import annotations

import logging
import math
import os
import platform
import random
import socket
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import nn

from dltricks import __version__, console, optim, records
from dltricks import data as datasets
from dltricks.config import ConfigError, instantiate
from dltricks.data import Split
from dltricks.data.order import SCORES, EpochOrder
from dltricks.models import transfer
from dltricks.optim import schedules
from dltricks.regularize import Regularization

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
    # ------------------------------------------------------------ set up from the config
    seed_everything(cfg.seed)
    if t.threads:
        torch.set_num_threads(t.threads)
    device = pick_device(t.device)
    data = datasets.build(
        instantiate(cfg.data.load),
        name=cfg.data.name,
        preprocess=cfg.data.preprocess,
        val_fraction=cfg.data.val_fraction,
        split_seed=cfg.data.split_seed,
        device=device,
    )
    reg = Regularization([instantiate(node) for node in cfg.regularization.values()])
    dropout, input_dropout = reg.dropout()
    activation = instantiate(cfg.activation)
    try:
        model = instantiate(cfg.model)(
            in_shape=data.shape,
            classes=data.classes,
            activation=activation,
            norm=instantiate(cfg.norm),
            dropout=dropout,
        )
    except ValueError as err:  # a model that does not fit the data (e.g. rnn on images)
        raise ConfigError(
            f"model={job.choices.get('model')} with data={data.name}: {err}"
        ) from None
    model = nn.Sequential(input_dropout(), model) if input_dropout is not nn.Identity else model
    instantiate(cfg.init)(model, activation=activation)
    transfer = transfer_weights(model, cfg.model.init_from, cfg.model.freeze)
    model.to(device, memory_format=memory_format(device, data.shape))
    criterion = instantiate(cfg.loss)()
    lookahead = cfg.optimizer.lookahead
    optimizer = optim.build(instantiate(cfg.optimizer), model, lookahead.k, lookahead.alpha)
    weights, _ = optim.decayed(model)
    params = [p for p in model.parameters() if p.requires_grad]
    reg.bind(model, criterion, weights)
    batch_size = batch_size_of(t.batch_size, len(data.train))
    order = epoch_order(t, data, cfg.seed)
    total_steps = sum(math.ceil(order.size(e) / batch_size) for e in range(1, t.epochs + 1))
    schedule = schedules.with_warmup(instantiate(cfg.schedule.curve), cfg.schedule.warmup_steps)
    autocast = autocast_for(device, t.precision)
    scaler = torch.amp.GradScaler(device.type, enabled=t.precision == "fp16")
    forward = torch.compile(model) if t.compile else model

    summary = new_summary(cfg, job, model, device)
    summary["transfer"] = transfer
    summary_path = job.run_dir / records.SUMMARY
    records.write_json_atomic(summary_path, summary)
    print(
        f"dltricks: {data.name} ({len(data.train)}/{len(data.val)}/{len(data.test)}), "
        f"{summary['params']:,} parameters, {device}, {total_steps} steps -> {job.run_dir}",
        flush=True,
    )

    # ------------------------------------------------------------ train
    step, epoch, status, last, best = 0, 0, "completed", None, None
    seen, train_seconds = 0, 0.0  # training examples and seconds, for samples/s
    extra = list(optim.stats(optimizer))  # e.g. SWATS' switch step: more metrics columns
    metrics = records.MetricsWriter(job.run_dir / records.METRICS, records.METRIC_COLUMNS + extra)
    try:
        batches = math.ceil(len(data.train) / batch_size)
        with metrics, console.Progress(t.epochs, batches) as progress:
            for epoch in range(1, t.epochs + 1):
                epoch_start = time.perf_counter()
                progress.epoch_start()
                model.train()
                visit = order(epoch).to(device)  # shuffled; the easy part only in a curriculum
                xs, ys = data.train.x[visit], data.train.y[visit]
                loss_sum = torch.zeros((), device=device)  # summed on the device: no sync
                for i in range(0, len(ys), batch_size):
                    x, y = reg.perturb(xs[i : i + batch_size], ys[i : i + batch_size])
                    lr = optim.set_lr(optimizer, schedule(step, total_steps))
                    with autocast:
                        loss = criterion(forward(x), y) + reg.penalty(weights)
                    optimizer.zero_grad(set_to_none=True)
                    scaler.scale(loss).backward()  # fp16: scaled; otherwise loss.backward()
                    scaler.unscale_(optimizer)  # true gradients for clipping and noise
                    reg.on_gradients(params, step)
                    scaler.step(optimizer)
                    scaler.update()
                    reg.after_step(weights, lr)
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
                    "grad_norm": grad_norm(params),
                    "train_loss_running": (loss_sum / math.ceil(len(ys) / batch_size)).item(),
                    "epoch_s": time.perf_counter() - epoch_start,
                    "samples_per_s": seen / max(train_seconds, 1e-9),
                    **optim.stats(optimizer),
                }
                metrics.write(row)
                metrics.sync()
                progress.evaluation(row)
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
    except KeyboardInterrupt:
        status, final = "interrupted", last
        raise
    except Exception as err:
        status, final = "failed", last
        summary["error"] = f"{type(err).__name__}: {err}"
        raise
    finally:
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


# ---------------------------------------------------------------- set-up helpers


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"trainer.device={name}: CUDA is not available here; use cpu or auto")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("trainer.device=mps: MPS is not available here; use cpu or auto")
    return torch.device(name)


def batch_size_of(value: int | str, n: int) -> int:
    if value == "full":
        return n
    if value > n:
        raise ConfigError(
            f"trainer.batch_size={value}: larger than the training set ({n} examples); "
            "use a smaller size or `full`"
        )
    return int(value)


def epoch_order(t: DictConfig, data: datasets.Data, seed: int) -> EpochOrder:
    c = t.curriculum
    difficulty = SCORES[c.score](data.train.x, data.train.y) if c.epochs else None
    return EpochOrder(
        len(data.train),
        shuffle=t.shuffle,
        seed=seed,
        difficulty=difficulty,
        start=c.start,
        epochs=c.epochs,
    )


def transfer_weights(model: nn.Module, init_from: str | None, freeze: int) -> dict | None:
    """Transfer learning: load a finished run's matching weights, freeze the first layers."""
    if not init_from and not freeze:
        return None
    result = None
    if init_from:
        state = records.load_checkpoint(Path(init_from).expanduser() / records.CHECKPOINT)
        result = transfer.load_matching(model, state["model"])
    return transfer.summary(init_from, result, transfer.freeze_first(model, freeze))


def memory_format(device: torch.device, shape: tuple[int, ...]) -> torch.memory_format:
    """channels_last for images on CUDA (faster convolutions with tensor cores)."""
    if device.type == "cuda" and len(shape) == 3:
        return torch.channels_last
    return torch.preserve_format


def autocast_for(device: torch.device, precision: str) -> Any:
    if precision == "fp32":
        return nullcontext()
    if device.type != "cuda":
        raise ConfigError(f"trainer.precision={precision}: mixed precision needs CUDA; use fp32")
    return torch.autocast("cuda", dtype=torch.bfloat16 if precision == "bf16" else torch.float16)


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
