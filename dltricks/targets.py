"""What a config may instantiate, and instantiating it. A config file must not be a way to run
arbitrary code: every `_target_` must name an object defined in a module under
ALLOWED_TARGETS (a bare "torch." would admit torch.load; Hydra's own blocklist lets
builtins.open through), reached without passing through a module outside them (so
`dltricks.models.mlp.torch.save` is refused, not admitted by its spelling), exist, and accept
the keys the node gives it. dltricks' own modules allowed are those that hold options: a
config cannot call the code that writes run files."""

from __future__ import annotations

import functools
import importlib
import inspect
from types import ModuleType
from typing import Any

from omegaconf import DictConfig, ListConfig, open_dict

from dltricks.errors import ConfigError
from dltricks.records import SEARCH

OPTION_PACKAGES = ("data", "models", "optim", "regularize", "early_stopping", "losses", "trackers")
ALLOWED_TARGETS = ("torch.nn.", "torch.optim.", *(f"dltricks.{m}." for m in OPTION_PACKAGES))
HYDRA_KEYS = ("_target_", "_partial_", "_args_", "_recursive_", "_convert_")
# What Hydra itself may instantiate (hydra.launcher, .sweeper, .callbacks...): its own core
# plugins and the installed launcher/sweeper plugins, Optuna's samplers, dltricks' own.
HYDRA_TARGETS = (
    "hydra._internal.core_plugins.",
    "hydra_plugins.",
    "hydra.experimental.callbacks.",
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
                not isinstance(value, str) or "$" in value or not _under(value, allowed[key])
            ):
                raise ConfigError(
                    f"{here}={value}: refused; Hydra may instantiate only names under "
                    f"{', '.join(allowed[key])} (a launcher, sweeper or callback of its own)"
                )
            if key == "_target_":
                locate(value, here.rpartition(".")[0], allowed[key])
            check_hydra(value, here)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            check_hydra(item, f"{where}.{i}")


def check_targets(cfg: Any, prefix: str = "") -> None:
    """Every `_target_` must lie under ALLOWED_TARGETS, exist, and accept the keys given (an
    option's search space is no argument: it is the search's)."""
    if isinstance(cfg, DictConfig):
        target = cfg.get("_target_")
        if target is not None:
            _check_target(str(target), cfg, prefix.rstrip(".") or "config")
        for key in cfg:
            if key != SEARCH:
                check_targets(cfg._get_node(key), f"{prefix}{key}.")
    elif isinstance(cfg, ListConfig):
        for i, item in enumerate(cfg):
            check_targets(item, f"{prefix}{i}.")


def allowed_targets() -> tuple[str, ...]:
    """dltricks' allow-list, the installed plugins' packages, and this command's --trust."""
    from dltricks import plugins, trust

    return (*ALLOWED_TARGETS, *plugins.allowed_prefixes(), *trust.prefixes())


def factory_of(node: DictConfig, where: str) -> Any:
    """The object a node's `_target_` names, once the allow-list admits it (None: no target)."""
    target = node.get("_target_")
    return None if target is None else locate(str(target), where, allowed_targets())


def _check_target(target: str, node: DictConfig, where: str) -> None:
    factory = locate(target, where, allowed_targets())
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
        if key not in (*HYDRA_KEYS, SEARCH) and key not in params:
            valid = [n for n, p in params.items() if p.kind is not p.VAR_POSITIONAL]
            raise ConfigError(
                f"{where}.{key}: unknown key for {target}. Valid keys: {', '.join(valid)}"
            )


def _under(name: str, allowed: tuple[str, ...]) -> bool:
    """A dotted name inside one of the `allowed` prefixes ("torch.nn." admits torch.nn too)."""
    return f"{name}.".startswith(allowed)


def locate(target: str, where: str, allowed: tuple[str, ...]) -> Any:
    """The object `package.module.name` names, if it is allowed: every module on the way is
    under `allowed` (only those are imported), no attribute on the way is a module outside
    them, and the object itself is defined in an allowed module (its __module__)."""
    refused = ConfigError(
        f"{where}._target_={target}: refused; only names defined under {', '.join(allowed)} "
        "may be instantiated. Your own code joins them for one command with --trust MODULE "
        "(or [tool.dltricks] trust in ./pyproject.toml; a resume or an ensemble of such a run "
        "needs it again: trust is never read from a run dir), or for good as an installed "
        "plugin (entry point dltricks.plugins; README: Bring your own)"
    )
    if not isinstance(target, str) or not _under(target, allowed):
        raise refused
    module_name, _, attr = target.rpartition(".")
    while module_name:
        if not _under(module_name, allowed):
            raise refused
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
        if isinstance(obj, ModuleType) and not _under(obj.__name__, allowed):
            raise refused  # dltricks.models.mlp.torch: a module re-exported, not allowed
    home = getattr(obj, "__module__", None)
    if isinstance(obj, ModuleType) or not isinstance(home, str) or not _under(home, allowed):
        raise refused  # a name re-exported from elsewhere (os.open as dltricks.x.open)
    return obj


def instantiate(node: DictConfig, *args: Any, **kwargs: Any) -> Any:
    """Hydra's instantiate, after the allow-list check (nested targets included)."""
    from hydra.utils import instantiate as hydra_instantiate

    check_targets(node)
    if isinstance(node, DictConfig) and SEARCH in node:
        node = node.copy()
        with open_dict(node):
            del node[SEARCH]  # the search's, not the factory's
    made = hydra_instantiate(node, *args, **kwargs)
    if isinstance(made, functools.partial):
        # Hydra >= 1.3.3 wraps partials in a class that re-authorizes its target on every
        # call (a schedule is called every step); the target passed our allow-list above.
        made = functools.partial(made.func, *made.args, **made.keywords)
    return made
