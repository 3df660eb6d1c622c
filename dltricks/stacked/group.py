"""A stacked group's training: K members of one architecture, each a run of its own (its run
dir, RunRecord, optimizer, schedule, regularizers, epoch order, random streams, checkpoint),
trained by one stacked model (layers.py). The loop is train.run's, over members: each update
takes every member's minibatch through one forward and one backward pass, then each member's
gradient hooks and optimizer step; each evaluation is the member's own (train.epoch_row,
train.ends_run), and a member that diverges, stops early or is pruned ends alone while the
others go on. Ctrl-C or SIGTERM checkpoints every member."""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from dltricks import checkpoint, console, optim, train
from dltricks.build import Parts
from dltricks.position import Position
from dltricks.run_record import Job, RunRecord
from dltricks.signals import Interrupted, StopRequest
from dltricks.stacked import layers
from dltricks.stacked.streams import Streams


@dataclass
class Member:
    """A job of the group, built as its own run would be (train.begin), its random states
    captured where its own run would start training."""

    job: Job
    p: Parts
    at: Position
    checks: dict[str, Any]
    start: float
    states: dict[str, Any]
    record: RunRecord | None = None
    progress: Any = None
    losses: list[torch.Tensor] = field(default_factory=list)


class Group:
    """The members still training: their stacked model, whose gradients the members'
    parameters view (so that each member's hooks and optimizer read its own), their random
    streams, and one optimizer step for all when their optimizers are of one class."""

    def __init__(self, members: list[Member]) -> None:
        self.members = members
        self.streams = Streams([m.states for m in members])
        self.template = copy.deepcopy(members[0].p.model)  # the architecture, for restacking
        self.restack()

    def restack(self) -> None:
        models = [m.p.model for m in self.members]
        self.model = layers.stack(self.template, models, self.streams)
        self.pairs = layers.alias(self.model, models)
        home = {id(mine): (stacked, k) for mine, stacked, k in self.pairs}
        self.weights = [  # each member's penalized weights, as slices of the stacked ones
            [home[id(w)] for w in m.p.weights] for m in self.members
        ]
        self.step = optimizer_step([m.p for m in self.members])

    def backward(self, objective: torch.Tensor) -> None:
        """The members' gradients: one backward pass into the stacked weights' gradients,
        which each member's parameters then view (its slice)."""
        self.model.zero_grad(set_to_none=True)
        objective.sum().backward()
        for mine, stacked, k in self.pairs:
            mine.grad = stacked.grad[k] if stacked.grad is not None else None

    def keep(self, kept: list[int]) -> None:
        """Only these members go on: the stack is rebuilt from their weights as they are."""
        self.members = [self.members[k] for k in kept]
        self.streams.keep(kept)
        if self.members:
            self.restack()


def optimizer_step(parts: list[Parts]) -> Any:
    """Every member's optimizer step. Optimizers of one class (not wrapped: Lookahead) step as
    one optimizer whose parameter groups and states are the members' own (the same dicts):
    each group keeps its member's hyperparameters, the states stay each member's (its
    checkpoint's), and the class's own step runs once over them all."""
    from collections import defaultdict

    from dltricks import torch_compat

    optimizers = [p.optimizer for p in parts]
    if len({type(o) for o in optimizers}) > 1 or any(hasattr(o, "base") for o in optimizers):
        steps = [p.step for p in parts]
        return lambda: [s() for s in steps]
    merged = copy.copy(optimizers[0])
    merged.state = defaultdict(dict)
    for o in optimizers:
        for group in o.param_groups:
            for param in group["params"]:
                merged.state[param] = o.state[param]  # one dict, the member's
    own = [g for o in optimizers for g in o.param_groups]
    merged.param_groups = own
    return torch_compat.eager_step(merged)


def train_group(members: list[Member], stop: StopRequest) -> None:
    """Train every member to its end (see the module docstring); each member's summary,
    metrics and checkpoint are written through its own RunRecord, as its own run's are."""
    named = {"members": len(members), "group": members[0].job.run_dir.name}  # its first's dir
    for m in members:
        cols = train.columns(m.p)
        m.record = RunRecord(m.job, m.p, m.at, m.start, cols, **m.checks, stacked=named)
        m.progress = console.Progress(m.p.loop.epochs, m.p.batches, live=False)
        m.record.__enter__()
    group, quiet = Group(members), logging.getLogger("dltricks")
    quiet.propagate = False  # Hydra's last job's train.log is no member's log
    try:
        loop = members[0].p.loop
        for epoch in range(members[0].at.epoch, loop.epochs + 1):
            epoch_start = time.perf_counter()
            running = train_epoch(group, stop)
            if epoch % loop.eval_every == 0 or epoch == loop.epochs:
                ended = evaluate(group, epoch, running, epoch_start)
                for m in ended:
                    finish(group, m)
                group.keep([i for i, m in enumerate(group.members) if m not in ended])
            else:
                for m in group.members:
                    m.at.next_epoch()
            if not group.members:
                return
            if loop.checkpoint_every and epoch % loop.checkpoint_every == 0 and epoch < loop.epochs:
                for i, m in enumerate(group.members):
                    with group.streams.of(i, everything=True):
                        checkpoint.save(m.p, m.at, m.job.dir)
        for m in list(group.members):
            finish(group, m)
    except BaseException as err:
        for m in group.members:
            m.record.__exit__(type(err), err, err.__traceback__)
        raise
    finally:
        quiet.propagate = True


def evaluate(group: Group, epoch: int, running: list[float], epoch_start: float) -> list[Member]:
    """Each member's evaluation: its row of metrics.csv, and the members whose run ends."""
    ended = []
    for m, loss in zip(group.members, running, strict=True):
        m.at.next_epoch()
        row = train.epoch_row(m.p, m.at, epoch, loss, epoch_start)
        m.record.write(row)
        m.progress.evaluation(row)
        if train.ends_run(m.p, m.record, row, m.at, m.job.trial):
            ended.append(m)
    return ended


def finish(group: Group, m: Member) -> None:
    """A member's end, as train.run ends: its final results, its checkpoint, its summary."""
    i = group.members.index(m)
    m.record.end(**train.results(m.p, m.record.status, m.at))
    with group.streams.of(i, everything=True):
        checkpoint.save(m.p, m.at, m.job.dir)
    m.record.__exit__(None, None, None)


def train_epoch(group: Group, stop: StopRequest) -> list[float]:
    """One pass of every member over its own epoch order, from the members' batch (a
    resumed group's may be mid-epoch); each member's mean minibatch objective."""
    start, members = time.perf_counter(), group.members
    group.model.train()
    orders, losses = [], []
    for m in members:
        m.p.model.train()  # its dropout layers, which the stacked model calls
        m.at.visit = m.p.order(m.at.epoch).to(m.p.device) if m.at.visit is None else m.at.visit
        orders.append((m.p.data.train.x[m.at.visit], m.p.data.train.y[m.at.visit]))
    if members[0].at.losses is not None:  # a resumed epoch's losses so far
        losses = list(torch.stack([m.at.losses.to(m.p.device) for m in members], 1).unbind())
    first, size = members[0], members[0].p.batch_size
    n = len(first.at.visit)
    for i in range(first.at.batch, n, size):
        if stop.signum:
            so_far = torch.stack(losses) if losses else None  # (steps, members)
            for j, m in enumerate(members):
                m.at.batch, m.at.losses = i, so_far[:, j] if so_far is not None else None
                m.at.train_seconds += time.perf_counter() - start
                with group.streams.of(j, everything=True):
                    checkpoint.save(m.p, m.at, m.job.dir)
            raise Interrupted(stop.signum)
        losses.append(step(group, [(xs[i : i + size], ys[i : i + size]) for xs, ys in orders]))
        for m in members:
            m.progress.batch()
    for m in members:
        m.at.train_seconds += time.perf_counter() - start
    rows = torch.stack(losses, 1)  # (members, steps): each member's row summed as train_epoch
    total = torch.stack([row.sum() for row in rows]).tolist()  # sums its own: one sync
    return [t / math.ceil(n / size) for t in total]


def step(group: Group, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """One update of every member: train.train_step's, with the forward and backward pass of
    all members in one, each member's random draws from its own streams; the members'
    minibatch objectives, on the device."""
    members, streams = group.members, group.streams
    xs, ys = [], []
    for i, (m, (x, y)) in enumerate(zip(members, batches, strict=True)):
        if m.p.reg.parts:
            with streams.of(i):  # augmentation, weight noise
                x, y = m.p.reg.perturb(x, y)
        xs.append(x)
        ys.append(y)
    lrs = [optim.set_lr(m.p.optimizer, m.p.schedule(m.at.step, m.p.total_steps)) for m in members]
    out = group.model(layers.cat_rows(xs))  # (K*B, classes): member i's rows i*B .. (i+1)*B
    logits = out.reshape(len(members), -1, out.shape[-1])
    losses = []
    for i, m in enumerate(members):
        loss = m.p.criterion(logits[i], ys[i])
        if m.p.reg.penalizers:  # on the member's slices of the stacked weights
            loss = m.p.reg.add_penalty(loss, [w[k] for w, k in group.weights[i]])
        losses.append(loss)
    objective = torch.stack(losses)
    group.backward(objective)
    for i, m in enumerate(members):
        if m.p.reg.parts:
            with streams.of(i):  # gradient noise
                m.p.reg.on_gradients(m.p.params, m.at.step)
    group.step()
    for m, lr, y in zip(members, lrs, ys, strict=True):
        m.p.reg.after_step(m.p.weights, lr)
        m.at.step, m.at.seen = m.at.step + 1, m.at.seen + len(y)
        m.p.average.update(m.p.model, m.at.step)
    return objective.detach()
