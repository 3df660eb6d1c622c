"""What a config may instantiate, and instantiating it. A config file must not be a way to run
arbitrary code: every `_target_` must lie under ALLOWED_TARGETS (a bare "torch." would admit
torch.load; Hydra's own blocklist lets builtins.open through), exist, and accept the keys the
node gives it."""

from __future__ import annotations

import functools
import importlib
import inspect
from typing import Any

from omegaconf import DictConfig, ListConfig

from dltricks.errors import ConfigError

ALLOWED_TARGETS = ("torch.nn.", "torch.optim.", "dltricks.")
HYDRA_KEYS = ("_target_", "_partial_", "_args_", "_recursive_", "_convert_")
# What Hydra itself may instantiate (hydra.launcher, .sweeper, .callbacks...): its own core
# plugins and the installed launcher/sweeper plugins, Optuna's samplers, dltricks' own.
HYDRA_TARGETS = (
    "hydra._internal.core_plugins.",
    "hydra_plugins.",
    "hydra.experimental.callbacks.",
    "optuna.samplers.",
    "dltricks.",
)  # + installed plugins' (plugins.py)
# The factories a logging config (hydra.job_logging, hydra.hydra_logging) may name
LOGGING_FACTORIES = ("logging.", "colorlog.")


def hydra_targets() -> tuple[str, ...]:
    from dltricks import plugins

    return (*HYDRA_TARGETS, *plugins.allowed_prefixes())


def check_hydra(node: Any, where: str = "hydra") -> None:
    """Hydra's own config (a plain container): every _target_ under HYDRA_TARGETS, every
    logging `class` or `()` under LOGGING_FACTORIES; no interpolation in either."""
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{where}.{key}"
            allowed = {"_target_": hydra_targets(), "class": LOGGING_FACTORIES}
            allowed["()"] = LOGGING_FACTORIES
            if key in allowed and (
                not isinstance(value, str) or "$" in value or not value.startswith(allowed[key])
            ):
                raise ConfigError(
                    f"{here}={value}: refused; Hydra may instantiate only names under "
                    f"{', '.join(allowed[key])} (a launcher, sweeper or callback of its own)"
                )
            check_hydra(value, here)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            check_hydra(item, f"{where}.{i}")


def check_targets(cfg: Any, prefix: str = "") -> None:
    """Every `_target_` must lie under ALLOWED_TARGETS, exist, and accept the keys given."""
    if isinstance(cfg, DictConfig):
        target = cfg.get("_target_")
        if target is not None:
            _check_target(str(target), cfg, prefix.rstrip(".") or "config")
        for key in cfg:
            check_targets(cfg._get_node(key), f"{prefix}{key}.")
    elif isinstance(cfg, ListConfig):
        for i, item in enumerate(cfg):
            check_targets(item, f"{prefix}{i}.")


def _check_target(target: str, node: DictConfig, where: str) -> None:
    from dltricks import plugins

    allowed = (*ALLOWED_TARGETS, *plugins.allowed_prefixes())
    if not target.startswith(allowed):
        raise ConfigError(
            f"{where}._target_={target}: refused; only names under {', '.join(allowed)} may "
            "be instantiated. Your own code joins them as an installed plugin (entry point "
            "dltricks.plugins; README: Bring your own)"
        )
    factory = locate(target, where)
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return
    if not node.get("_partial_", False):  # called as it is: every required argument given
        needed = [
            n
            for n, p in params.items()
            if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        ]
        missing = [n for n in needed if n not in node]
        if missing:
            raise ConfigError(f"{where}: {target} needs {', '.join(missing)}; add the key(s)")
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    for key in node:
        if key not in HYDRA_KEYS and key not in params:
            valid = [n for n, p in params.items() if p.kind is not p.VAR_POSITIONAL]
            raise ConfigError(
                f"{where}.{key}: unknown key for {target}. Valid keys: {', '.join(valid)}"
            )


def locate(target: str, where: str = "_target_") -> Any:
    """Import `package.module.name` (the allow-list is checked by the caller)."""
    module_name, _, attr = target.rpartition(".")
    while module_name:
        try:
            obj: Any = importlib.import_module(module_name)
            break
        except ModuleNotFoundError:
            module_name, _, parent = module_name.rpartition(".")
            attr = f"{parent}.{attr}"
    else:
        raise ConfigError(f"{where}._target_={target}: no such module")
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"{where}._target_={target}: not found")
        obj = getattr(obj, part)
    return obj


def instantiate(node: DictConfig, *args: Any, **kwargs: Any) -> Any:
    """Hydra's instantiate, after the allow-list check (nested targets included)."""
    from hydra.utils import instantiate as hydra_instantiate

    check_targets(node)
    made = hydra_instantiate(node, *args, **kwargs)
    if isinstance(made, functools.partial):
        # Hydra >= 1.3.3 wraps partials in a class that re-authorizes its target on every
        # call (a schedule is called every step); the target passed our allow-list above.
        made = functools.partial(made.func, *made.args, **made.keywords)
    return made
