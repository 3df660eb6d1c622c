"""build(cfg, run_dir) -> Parts: the composed config turned into the plain objects the loop
uses (data on the device, model, optimizer, schedule, regularizers, probes). The config is
read here, once; train.run and lr_find only see what this returns."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from omegaconf import DictConfig
from torch import nn

from dltricks import config as configs
from dltricks import data as datasets
from dltricks import device as devices
from dltricks import optim, probes, records, torch_compat
from dltricks.averaging import Averaging, NoAveraging, averaging
from dltricks.data import Split
from dltricks.data.order import SCORES, EpochOrder
from dltricks.early_stopping import EarlyStopping, NoEarlyStopping
from dltricks.errors import BadFile, ConfigError
from dltricks.models import transfer
from dltricks.models.activations import Activation
from dltricks.models.contract import ModelFactory, tricks_used
from dltricks.models.dropout import NO_DROPOUT, Dropout
from dltricks.models.init import initialize
from dltricks.optim import schedules
from dltricks.regularize import Regularization, Regularizer
from dltricks.rundir import RunDir
from dltricks.settings import Loop, loop_settings, lr_schedule
from dltricks.targets import instantiate
from dltricks.trackers import Trackers

PROBE_BATCH = 256  # training examples the probes and sanity checks look at


@dataclass
class Parts:
    loop: Loop  # the trainer keys the loop reads
    device: torch.device
    data: datasets.Data
    model: nn.Module
    forward: nn.Module  # the model, compiled when trainer.compile
    criterion: nn.Module
    optimizer: Any
    weights: list[nn.Parameter]  # decayed and penalized: Linear/Conv weights
    params: list[nn.Parameter]  # everything trained
    reg: Regularization
    early_stopping: EarlyStopping | NoEarlyStopping
    average: Averaging | NoAveraging  # average.start: the averaged weights become the model
    batch_size: int
    order: EpochOrder
    total_steps: int
    schedule: schedules.Curve
    autocast: Any
    scaler: torch.amp.GradScaler
    step: Any  # the optimizer's update (through the scaler for fp16; see torch_compat.py)
    probes: probes.Probes | probes.NoProbes
    trackers: Trackers  # logger=...: TensorBoard, MLflow
    facts: dict[str, Any]  # what summary.json records of the run as built
    config: dict[str, Any]  # the config as plain containers, unresolved (a checkpoint's)
    flat_config: dict[str, Any]  # ...flattened: model.depth -> 20 (trackers, resume)

    @property
    def batches(self) -> int:
        """Updates in a full epoch."""
        return math.ceil(len(self.data.train) / self.batch_size)


def build(cfg: DictConfig, run_dir: RunDir) -> Parts:
    t = cfg.trainer
    eager = not t.compile and t.precision != "fp16"  # no compiler, no grad scaler
    device = prepare_process(cfg, eager)
    data = load_data(cfg, device)
    options = [instantiate(node) for node in cfg.regularization.values()]
    dropout = _one(options, Dropout, NO_DROPOUT)  # a layer of the model
    reg = Regularization([o for o in options if isinstance(o, Regularizer)])
    activation: Activation = instantiate(cfg.activation)
    model, tricks = make_model(cfg, data, activation, dropout)
    init = initialize(model, instantiate(cfg.init), activation)
    moved = transfer_weights(model, cfg.transfer)
    layout = devices.memory_format(device, data.shape, t.channels_last)
    model.to(device, memory_format=layout)
    for split in (data.train, data.val, data.test):  # the batches as the convolutions want them
        split.x = devices.laid_out(split.x, layout)
    criterion = instantiate(cfg.loss)()
    optimizer = optim.build(instantiate(cfg.optimizer), model, cfg.lookahead.k, cfg.lookahead.alpha)
    weights, _ = optim.decayed(model)
    reg.bind(model, criterion, weights)
    batch_size = batch_size_of(t.batch_size, len(data.train))
    order = epoch_order(t, data, cfg.seed)
    total_steps = order.updates(t.epochs, batch_size)
    scaler = torch.amp.GradScaler(device.type, enabled=t.precision == "fp16")
    config = configs.container(cfg)
    return Parts(
        loop=loop_settings(t),
        device=device,
        data=data,
        model=model,
        forward=torch.compile(model) if t.compile else model,
        criterion=criterion,
        optimizer=optimizer,
        weights=weights,
        params=[p for p in model.parameters() if p.requires_grad],
        reg=reg,
        early_stopping=_one(options, EarlyStopping, NoEarlyStopping()),  # the loop's `break`
        average=averaging(model, cfg.average.start, total_steps, cfg.average.ema),
        batch_size=batch_size,
        order=order,
        total_steps=total_steps,
        schedule=lr_schedule(cfg),
        autocast=devices.autocast_for(device, t.precision),
        scaler=scaler,
        step=torch_compat.eager_step(optimizer) if eager else lambda: scaler.step(optimizer),
        probes=make_probes(t, model, data, criterion, activation, run_dir),
        trackers=Trackers([instantiate(node) for node in cfg.logger.values()]),
        facts=facts_of(cfg, model, device, init=init, tricks=tricks, transfer=moved),
        config=config,
        flat_config=records.flatten(config),
    )


def facts_of(cfg: DictConfig, model: nn.Module, device: torch.device, **built: Any) -> dict:
    """What summary.json records of the run as built (the init done, the tricks' layers, what
    transfer moved...)."""
    return {
        "name": cfg.name,
        "seed": cfg.seed,
        "params": sum(p.numel() for p in model.parameters()),
        "device": str(device),
        "threads": torch.get_num_threads(),
        **built,
    }


def prepare_process(cfg: DictConfig, eager: bool) -> torch.device:
    """The process set for the run: seeded, torch's threads, anomaly detection, the device,
    its precision checked and its kernels deterministic (trainer.deterministic)."""
    t = cfg.trainer
    if eager:
        torch_compat.skip_dynamo_wrappers()  # torch would import its compiler: ~2 s
    seed_everything(cfg.seed)
    torch.autograd.set_detect_anomaly(bool(t.detect_anomaly))
    torch.set_num_threads(devices.cpu_threads(t.threads))  # null: the free cores (device.py)
    device = devices.pick(t.device)
    devices.check_precision(device, t.precision)  # before any data is loaded
    devices.set_determinism(device, t.deterministic)
    return device


def make_probes(
    t: DictConfig,
    model: nn.Module,
    data: datasets.Data,
    criterion: nn.Module,
    activation: Activation,
    run_dir: RunDir,
) -> probes.Probes | probes.NoProbes:
    """trainer.probes: per-layer statistics on the first PROBE_BATCH training examples."""
    if not t.probes:
        return probes.NoProbes()
    x, y = data.train.x[:PROBE_BATCH], data.train.y[:PROBE_BATCH]
    writer = run_dir.layers_writer(fresh=not t.resume)  # appended to on a resume
    return probes.Probes(model, x, y, criterion, writer, activation, t.probe_every)


T = TypeVar("T")


def _one(options: list[Any], kind: type[T], default: T) -> T:
    """The option of this kind the regularization list picked, or the default."""
    return next((o for o in options if isinstance(o, kind)), default)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def load_data(cfg: DictConfig, device: torch.device) -> datasets.Data:
    """The dataset on the device, split and preprocessed; a small training set when asked."""
    try:
        data = datasets.build(
            instantiate(cfg.data.load),
            name=cfg.data.name,
            preprocess=cfg.data.preprocess,
            pca_dims=cfg.data.pca_dims,
            val_fraction=cfg.data.val_fraction,
            split_seed=cfg.data.split_seed,
            device=device,
        )
    except OSError as err:  # data.root is not a folder, cannot be read or written...
        where = f" {err.filename}" if err.filename else ""
        raise ConfigError(
            f"data={cfg.data.name}: cannot use{where} ({err.strerror or err}); "
            f"check data.root={cfg.data.root}"
        ) from None
    for key, n in (
        ("data.train_size", cfg.data.train_size),
        ("trainer.overfit_subset", cfg.trainer.overfit_subset),
    ):
        if n:  # a small training set; or the seeds' "overfit a few examples" check
            data.train = subset(data.train, n, cfg.data.split_seed, key)
    return data


def make_model(
    cfg: DictConfig, data: datasets.Data, activation: Activation, dropout: Dropout
) -> tuple[nn.Module, dict[str, int]]:
    """The model option's factory, given the data's shape and the tricks' factories. Built
    on the meta device first, so that a model too large for this machine is refused before
    any memory is allocated. Also how many layers of each trick it holds (a user's model may
    ignore some: the run records it)."""
    factory: ModelFactory = instantiate(cfg.model)
    norm = instantiate(cfg.norm)
    given = dict(
        in_shape=data.shape,
        classes=data.classes,
        activation=activation,
        norm=norm,
        dropout=dropout.hidden,
    )
    try:
        with torch.device("meta"):  # shapes only: no memory, no random numbers drawn
            params = sum(p.numel() for p in factory(**given).parameters())
    except ValueError as err:  # a model that does not fit the data (e.g. rnn on images)
        raise ConfigError(f"data={data.name}: {err}") from None
    devices.check_fits(params, data.train.x.device)
    model = factory(**given)
    inputs = dropout.inputs
    model = nn.Sequential(inputs(), model) if inputs is not nn.Identity else model
    return model, tricks_used(model, activation, norm, dropout.hidden)


def subset(split: Split, n: int, seed: int, key: str) -> Split:
    """n training examples, drawn with a fixed seed."""
    if n > len(split):
        raise ConfigError(f"{key}={n}: more than the {len(split)} training examples there are")
    pick = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))[:n]
    pick = pick.to(split.x.device)
    return Split(split.x[pick], split.y[pick])


def batch_size_of(value: int | str, n: int) -> int:
    if value == "full":
        return n
    if value > n:
        raise ConfigError(
            f"trainer.batch_size={value}: larger than the training set ({n} "
            "examples); use a smaller size or `full`"
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


def transfer_weights(model: nn.Module, cfg: DictConfig) -> dict | None:
    """Transfer learning: load a finished run's matching weights, freeze the first layers."""
    if not cfg.init_from and not cfg.freeze:
        return None
    layers = transfer.weight_layer_count(model)
    if cfg.freeze >= layers:
        raise ConfigError(
            f"transfer.freeze={cfg.freeze}: the model has {layers} weight layers; freeze "
            f"fewer (at most {layers - 1}), or nothing is left to train"
        )
    result = None
    if cfg.init_from:
        source = RunDir(Path(cfg.init_from).expanduser())
        weights = source.load_checkpoint().get("model")
        if not isinstance(weights, dict):
            raise BadFile(f"{source.checkpoint_path}: refused, holds no model weights")
        result = transfer.load_matching(model, weights, cfg.keep_head)
    frozen = transfer.freeze_first(model, cfg.freeze)
    transfer.keep_in_eval(model, frozen)
    return transfer.summary(cfg.init_from, result, frozen)
