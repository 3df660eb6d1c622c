"""The value ranges of the config, as a table (RULES), and the choices that are fine alone
but not together (COMBINATIONS). config.validate applies both to the composed config."""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Callable, Collection, Iterator
from typing import Any

from omegaconf import DictConfig

from dltricks.errors import ConfigError
from dltricks.records import int_at_least, is_number

# A rule: (key pattern, test, what the value must be). fnmatch patterns over dotted keys.
Rule = tuple[str, Callable[[Any], bool], str]


def _num(x: Any) -> bool:
    return is_number(x, finite=True)


def _positive(x: Any) -> bool:
    return _num(x) and x > 0


def _non_negative(x: Any) -> bool:
    return _num(x) and x >= 0


def _fraction(x: Any) -> bool:  # [0, 1)
    return _num(x) and 0 <= x < 1


def _unit(x: Any) -> bool:  # (0, 1]
    return _num(x) and 0 < x <= 1


# Words a key accepts beside values of its default's type.
WORDS: dict[str, tuple[str, ...]] = {
    "trainer.batch_size": ("full",),  # full-batch gradient descent
    "init.gain": ("auto",),  # the activation's gain (torch.nn.init.calculate_gain)
}

RULES: list[Rule] = [
    ("seed", lambda x: int_at_least(0)(x) and x < 2**32, "an integer in [0, 2**32 - 1]"),
    ("trainer.epochs", int_at_least(1), "an integer >= 1"),
    (
        "trainer.batch_size",
        lambda x: x == "full" or int_at_least(1)(x),
        "an integer >= 1 or `full`",
    ),
    ("trainer.eval_every", int_at_least(1), "an integer >= 1"),
    ("trainer.checkpoint_every", int_at_least(0), "an integer >= 0"),
    ("trainer.threads", lambda x: x is None or int_at_least(1)(x), "null or an integer >= 1"),
    (
        "trainer.device",
        lambda x: bool(re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", str(x))),
        "auto, cpu, mps, cuda or cuda:N",
    ),
    ("trainer.curriculum.epochs", int_at_least(0), "an integer >= 0"),
    ("trainer.probe_every", int_at_least(1), "an integer >= 1"),
    ("trainer.lr_scale", _positive, "a number > 0"),
    ("trainer.channels_last", lambda x: x is None or isinstance(x, bool), "null, true or false"),
    ("trainer.deterministic", lambda x: isinstance(x, bool), "true or false"),
    ("trainer.sanity_tolerance", _positive, "a number > 0"),
    ("trainer.overfit_subset", int_at_least(0), "an integer >= 0 (0: off)"),
    ("trainer.overfit_loss", _positive, "a number > 0"),
    ("trainer.curriculum.start", lambda x: _num(x) and 0 < x <= 1, "a fraction in (0, 1]"),
    ("model.depth", int_at_least(2), "an integer >= 2"),
    ("model.width", int_at_least(1), "an integer >= 1"),
    ("transfer.freeze", int_at_least(0), "an integer >= 0"),
    ("model.hidden", int_at_least(1), "an integer >= 1"),
    ("model.layers", int_at_least(1), "an integer >= 1"),
    ("data.val_fraction", _fraction, "a fraction in [0, 1)"),
    ("data.train_size", int_at_least(0), "an integer >= 0 (0: all)"),
    ("data.pca_dims", lambda x: x is None or int_at_least(1)(x), "null or an integer >= 1"),
    ("data.load.test_fraction", lambda x: _num(x) and 0 < x < 1, "a fraction in (0, 1)"),
    ("optimizer.lr", _positive, "a number > 0"),
    ("optimizer.momentum", _fraction, "a number in [0, 1)"),
    ("optimizer.weight_decay", _non_negative, "a number >= 0"),
    ("optimizer.eps", _positive, "a number > 0"),
    (
        "optimizer.betas",
        lambda b: len(b) == 2 and all(_fraction(x) for x in b),
        "two numbers in [0, 1), e.g. [0.9,0.999]",
    ),
    ("lookahead.k", lambda x: x is None or int_at_least(1)(x), "an integer >= 1 (null: off)"),
    ("average.start", lambda x: x is None or (_num(x) and 0 <= x < 1), "null or in [0, 1)"),
    ("average.ema", lambda x: x is None or (_num(x) and 0 < x < 1), "null or a decay in (0, 1)"),
    ("lookahead.alpha", lambda x: _num(x) and 0 < x <= 1, "a number in (0, 1]"),
    ("optimizer.final_lr", _positive, "a number > 0"),
    ("optimizer.gamma", lambda x: _num(x) and 0 < x < 1, "a number in (0, 1)"),
    ("optimizer.switch_eps", _positive, "a number > 0"),
    ("optimizer.rho", _fraction, "a number in [0, 1)"),
    ("optimizer.alpha", _fraction, "a number in [0, 1)"),
    ("optimizer.lr_decay", _non_negative, "a number >= 0"),
    ("optimizer.initial_accumulator_value", _non_negative, "a number >= 0"),
    ("optimizer.momentum_decay", _non_negative, "a number >= 0"),
    ("init.std", _positive, "a number > 0"),
    ("init.gain", lambda x: x == "auto" or _positive(x), "`auto` or a number > 0"),
    ("schedule.warmup_steps", int_at_least(0), "an integer >= 0"),
    ("activation.negative_slope", _num, "a number (0.01: leaky; -1: |x|, note 002)"),
    ("activation.alpha", _positive, "a number > 0"),
    ("activation.pieces", int_at_least(1), "an integer >= 1"),
    ("norm.eps", _positive, "a number > 0"),
    ("norm.momentum", lambda x: x is None or (_num(x) and 0 <= x <= 1), "a number in [0, 1]"),
    ("loss.label_smoothing", lambda x: _num(x) and 0 <= x < 1, "a number in [0, 1)"),
    ("regularization.l1.lambda", _non_negative, "a number >= 0"),
    ("regularization.l2.lambda", _non_negative, "a number >= 0"),
    ("regularization.weight_decay.weight_decay", _non_negative, "a number >= 0"),
    ("regularization.dropout.p", _fraction, "a probability in [0, 1)"),
    ("regularization.dropout.input_p", _fraction, "a probability in [0, 1)"),
    ("regularization.early_stopping.patience", int_at_least(1), "an integer >= 1"),
    ("regularization.early_stopping.min_delta", _non_negative, "a number >= 0"),
    ("regularization.grad_clip.max_norm", _positive, "a number > 0"),
    ("regularization.gradient_noise.eta", _non_negative, "a number >= 0"),
    ("regularization.gradient_noise.gamma", _non_negative, "a number >= 0"),
    ("regularization.augment.noise_std", _non_negative, "a number >= 0"),
    ("regularization.augment.shift", int_at_least(0), "an integer >= 0"),
    ("regularization.weight_noise.std", _non_negative, "a number >= 0"),
    ("regularization.adversarial.eps", _non_negative, "a number >= 0"),
    (
        "logger.mlflow.tracking_uri",
        lambda x: bool(re.match(r"(sqlite|file|https?|postgresql|mysql|mssql|databricks)[+:]", x)),
        "an MLflow store URI: sqlite:///path.db, file:///dir, http(s)://host, postgresql://...",
    ),
    (
        "logger.tensorboard.log_dir",
        lambda x: bool(x) and not x.startswith("/") and ".." not in x.split("/"),
        "a folder in the run dir (relative, no ..)",
    ),
    ("schedule.curve.final", lambda x: _num(x) and 0 <= x <= 1, "a number in [0, 1]"),
    ("schedule.curve.every", _unit, "a fraction of training in (0, 1]"),
    ("schedule.curve.gamma", _unit, "a factor in (0, 1]"),
    (
        "schedule.curve.milestones",
        lambda m: all(_unit(x) for x in m),
        "fractions of training in (0, 1], e.g. [0.5,0.75]",
    ),
    ("schedule.curve.low", _unit, "a factor in (0, 1]"),
    ("schedule.curve.period", _unit, "a fraction of training in (0, 1]"),
    ("schedule.curve.t0", _unit, "a fraction of training in (0, 1]"),
    ("schedule.curve.t_mult", lambda x: _num(x) and x >= 1, "a number >= 1"),
    ("schedule.curve.peak_at", lambda x: _num(x) and 0 < x <= 0.5, "a fraction in (0, 0.5]"),
]


def one_of(key: str, words: Collection[str]) -> Rule:
    """A key that takes one of `words` (the names a module defines: its single source)."""
    listed = list(words)
    names = ["null" if w is None else str(w) for w in listed]  # None: the key may be null
    text = " or ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else names[0]
    return key, lambda x: x in listed, text


@functools.cache
def word_rules() -> list[Rule]:
    """The keys whose words the module that reads them defines (imported when checked)."""
    from dltricks import device, early_stopping, optim
    from dltricks.data import order, preprocess
    from dltricks.models import dropout, init
    from dltricks.trackers import wandb

    return [
        one_of("trainer.precision", device.PRECISIONS),
        one_of("optimizer.form", optim.FORMS),
        one_of("trainer.curriculum.score", order.SCORES),
        one_of("data.preprocess", preprocess.SCHEMES),
        one_of("init.distribution", init.DISTRIBUTIONS),
        one_of("init.mode", init.FAN_MODES),
        one_of("regularization.dropout.mode", dropout.MODES),
        one_of("regularization.early_stopping.monitor", early_stopping.MONITORS),
        one_of("regularization.early_stopping.mode", early_stopping.MODES),
        one_of("logger.wandb.mode", (*wandb.MODES, None)),
    ]


def check_values(cfg: DictConfig, leaves: Iterator[tuple[str, Any]]) -> None:
    """Every (dotted key, value) leaf against RULES, then the COMBINATIONS of choices."""
    rules = [*RULES, *word_rules()]
    for key, value in leaves:
        for pattern, test, wanted in rules:
            if fnmatch.fnmatchcase(key, pattern) and not _safe(test, value):
                raise ConfigError(f"{key}={value}: must be {wanted}")
    for check in COMBINATIONS:
        check(cfg)


def _declared_rules(cfg: DictConfig) -> None:
    """The rules an option's factory declares (`check_args`, models/contract.py): the CIFAR
    ResNet's 6n+2 depths, a block kind, an RNN's cell; a tracker's store."""
    from dltricks import targets

    nodes = {"model": cfg.model, **{f"logger.{k}": v for k, v in (cfg.get("logger") or {}).items()}}
    for where, node in nodes.items():
        check = getattr(targets.factory_of(node, where), "check_args", None)
        if check is None:
            continue
        keys = {k: v for k, v in node.items() if k not in (*targets.HYDRA_KEYS, "search")}
        try:
            check(**keys)
        except ValueError as err:
            raise ConfigError(str(err)) from None


def _maxout_pre_activation(cfg: DictConfig) -> None:
    if "pieces" in cfg.activation and cfg.model.get("block") == "pre":
        raise ConfigError(
            "activation=maxout with model.block=pre: a pre-activation block applies the "
            "activation to its input, which maxout would shrink k-fold; use model.block=post"
        )


def _pca_dims(cfg: DictConfig) -> None:
    if cfg.data.preprocess == "pca" and not cfg.data.get("pca_dims"):
        raise ConfigError("data.preprocess=pca: set data.pca_dims, the dimensions to keep")


METRICS = ("val_err", "val_loss")  # what a problem's target is about


def _problem_target(cfg: DictConfig) -> None:
    """A problem's target its metric can reach: an error in [0, 1), a loss above 0."""
    problem = cfg.get("problem") or {}
    target, metric = problem.get("target"), problem.get("metric", "val_err")
    if metric not in METRICS:
        raise ConfigError(f"problem.metric={metric}: must be val_err or val_loss")
    if target is None:
        return
    ok = _num(target) and (0 <= target < 1 if metric == "val_err" else target > 0)
    if not ok:
        wanted = "an error in [0, 1)" if metric == "val_err" else "a loss above 0"
        raise ConfigError(f"problem.target={target}: {metric} can never reach it; give {wanted}")


def _average_and_early_stopping(cfg: DictConfig) -> None:
    if cfg.average.start is not None and "early_stopping" in cfg.regularization:
        raise ConfigError(
            "average.start with regularization=[early_stopping]: both pick the final weights "
            "(the average, or the best); use one"
        )


# Checks of choices that are fine alone but not together.
COMBINATIONS = [
    _declared_rules,
    _maxout_pre_activation,
    _pca_dims,
    _average_and_early_stopping,
    _problem_target,
]


def _safe(test: Callable[[Any], bool], value: Any) -> bool:
    try:
        return bool(test(value))
    except (TypeError, ValueError):
        return False
