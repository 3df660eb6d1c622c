"""The checks of a composed config (config.load runs them before anything is built): every
interpolation resolves, every key exists in the defaults and keeps its type (an int where the
file has an int, but for the words rules.WORDS allows), the value ranges of rules.py, and
every `_target_` against targets.py's allow-list. A failure is a ConfigError naming the key."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from dltricks import extras, rules, targets
from dltricks.errors import ConfigError
from dltricks.records import SEARCH

_MISSING = object()
SEVERAL_VALUES = (
    "several values; to sweep over them, add --multirun (-m); for a list, write "
    "key=[value1,value2]; for a string, quote it"
)


def first_lines(err: BaseException, n: int = 3) -> str:
    """The first lines of an error's message (or of its cause's, when it has none); Hydra's
    list of a group's options on one line."""
    message = str(err).strip() or str(err.__cause__ or type(err).__name__)
    sweep = re.search(r"Ambiguous value for argument '([^']+)'", message)
    if sweep:  # a sweep without -m: keep Hydra's hint in one line
        return f"{sweep.group(1)}: {SEVERAL_VALUES}"
    missing = re.search(r"Could not find '(.+)/([^/']+)'\s+Available options in '\1':", message)
    if missing:
        group, name = missing.groups()
        needs = extras.missing(group, name)  # an option of an extra not installed
        if needs:
            return needs
        rest = message[missing.end() :].split("\n\n")[0]
        valid = re.findall(r"^\t(\S+)\s*$", rest, re.M)
        return f"{group}={name}: no such option in group '{group}'. Valid options: " + ", ".join(
            valid
        )
    lines = [line for line in message.strip().splitlines() if line.strip()]
    return "\n".join(lines[:n])


def unknown_key(
    base: DictConfig, key: str, value: str | None = None, groups: list[str] | None = None
) -> str:
    """The message for a key the config lacks: the close ones (`epochs`: did you mean
    trainer.epochs?; `optimzer=adam`: the group, did you mean optimizer=adam?), and the
    valid keys where it was looked for."""
    everything = [k for k, _ in leaves(base)]
    close = [k for k in everything if k.endswith(f".{key}")]  # epochs -> trainer.epochs
    group = difflib.get_close_matches(key, groups or [], n=1, cutoff=0.75) if "." not in key else []
    if group:  # a config group misspelt: GROUP=OPTION, not one of its keys
        close = [f"{group[0]}={value}" if value is not None else f"{group[0]}=OPTION"]
    close = close or difflib.get_close_matches(key, everything, n=3, cutoff=0.75)
    hint = f" Did you mean {' or '.join(close[:3])}?" if close else ""
    parent, _, _ = key.rpartition(".")
    known = OmegaConf.select(base, parent, default=None) if parent else base
    if not isinstance(known, DictConfig):
        return f"{key}: unknown key.{hint}"
    valid = ", ".join(k for k in known if k not in targets.HYDRA_KEYS)
    return f"{key}: unknown key.{hint} Valid keys under '{parent or 'the config'}': {valid}"


# ---------------------------------------------------------------- checks


def validate(cfg: DictConfig, base: DictConfig) -> None:
    """Check a composed config: keys and types against `base` (the same choices, no value
    overrides), the value ranges in RULES, and every `_target_` against ALLOWED_TARGETS."""
    resolve(cfg)
    for tracker in cfg.get("logger") or {}:  # installed, or the extra named up front
        needs = extras.missing("logger", str(tracker))
        if needs:
            raise ConfigError(needs)
    check_types(cfg, base)
    rules.check_values(cfg, leaves(cfg))
    targets.check_targets(cfg)


def resolve(cfg: DictConfig) -> None:
    """Every interpolation must resolve now (${oc.env:UNSET} or ${trainer.nope} would fail
    inside the job, after files are written)."""
    from omegaconf.errors import OmegaConfBaseException

    try:
        OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None)
        raise ConfigError(f"{key or 'the config'}: {first_lines(err, 1)}") from None


def leaves(node: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, value) for every leaf of a config, unresolved interpolations skipped, and
    the options' search spaces (the search checks those: dltricks.search)."""
    if isinstance(node, DictConfig):
        for key in node:
            if OmegaConf.is_missing(node, key) or key == SEARCH:
                continue
            child = node._get_node(key)
            if child is not None and child._is_interpolation():
                try:
                    value = node[key]
                except Exception:
                    continue
            else:
                value = node[key]
            yield from (
                leaves(value, f"{prefix}{key}.")
                if isinstance(value, DictConfig | ListConfig)
                else [(f"{prefix}{key}", value)]
            )
    elif isinstance(node, ListConfig):
        yield prefix.rstrip("."), list(node)


def check_types(cfg: DictConfig, base: DictConfig) -> None:
    """Every key must exist in `base` and keep its type (an int where the file has an int),
    but for the words rules.WORDS allows a key (trainer.batch_size=full)."""
    for key, value in leaves(cfg):
        if key.startswith("hydra."):
            continue
        expected = OmegaConf.select(base, key, default=_MISSING, throw_on_missing=False)
        if expected is _MISSING:
            raise ConfigError(unknown_key(base, key))
        if isinstance(value, list) and _holds_mapping(value):
            raise ConfigError(
                f"{key}: a list of values (numbers, strings, lists of them), never of mappings; "
                "a `_target_` is instantiated only where the option's own file has one"
            )
        if value in rules.WORDS.get(key, ()) or expected in rules.WORDS.get(key, ()):
            continue
        if not _same_type(value, expected):
            raise ConfigError(
                f"{key}={value!r}: expected {_type_name(expected)} (the default is {expected!r})"
            )


def _holds_mapping(values: list) -> bool:
    """A list (of lists) with a mapping in it: no key of conf/ holds one."""
    todo = list(values)
    while todo:
        item = todo.pop()
        if isinstance(item, DictConfig | dict):
            return True
        if isinstance(item, ListConfig | list):
            todo.extend(item)
    return False


def _same_type(value: Any, expected: Any) -> bool:
    if expected is None or value is None:
        return True  # null means "unset": any type may fill it
    if isinstance(expected, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(expected, bool)
    if isinstance(expected, float):
        return isinstance(value, int | float)
    if isinstance(expected, int):
        return isinstance(value, int)
    if isinstance(expected, str):
        return isinstance(value, str)
    if isinstance(expected, list):
        return isinstance(value, list)
    return True


def _type_name(value: Any) -> str:
    return {
        bool: "true or false",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
    }.get(type(value), type(value).__name__)
