"""The config contract: compose, check and instantiate, before anything is built.

The YAML files in conf/ are the schema: a key exists if a file declares it, and its type is
the type of the value the file gives it. On top of that, RULES holds the value ranges. A bad
config raises ConfigError, whose message names the key and how to fix it (exit code 2).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

from dltricks import plugins, rules, targets
from dltricks.errors import ConfigError

CONFIG_MODULE = "dltricks.conf"  # conf/, packaged with the code
_MISSING = object()


# ---------------------------------------------------------------- the registry (conf/)


def groups() -> list[str]:
    """The config groups: the folders of conf/ (Hydra's own excluded)."""
    return sorted(g for g in plugins.groups_of(plugins.builtin_conf()) if "/" not in g)


def options(group: str) -> list[str]:
    """The options of a group: the YAML files in its folder, in dltricks' own conf/, the
    installed plugins' and the --config-dir folders."""
    return sorted({o for _, o in origins(group)})


def origins(group: str) -> list[tuple[str, str]]:
    """(where from, option) for each option of a group: "dltricks", "plugin NAME"..."""
    return [
        (s.name, o) for s in plugins.sources() for o in plugins.groups_of(s.conf).get(group, [])
    ]


_composed: dict[tuple, DictConfig] = {}  # composing is slow (~0.3 s): once per process


def compose(overrides: list[str], with_hydra: bool = False) -> DictConfig:
    """The composed config for these overrides, as `train` sees it (with_hydra: Hydra's own
    node too); a copy, the caller may change it."""
    key = (tuple(overrides), with_hydra)
    if key not in _composed:
        _composed[key] = _hydra_compose(overrides, with_hydra)
    return copy.deepcopy(_composed[key])


def _hydra_compose(overrides: list[str], with_hydra: bool) -> DictConfig:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    extra = plugins.search_path()
    if extra and not any(o.startswith("hydra.searchpath=") for o in overrides):
        overrides = [*overrides, f"hydra.searchpath=[{','.join(extra)}]"]
    try:
        if GlobalHydra.instance().is_initialized():  # inside a Hydra job (a sweep's)
            return hydra_compose("config", overrides, return_hydra_config=with_hydra)
        with initialize_config_module(CONFIG_MODULE, version_base="1.3"):
            return hydra_compose("config", overrides, return_hydra_config=with_hydra)
    except (HydraException, OmegaConfBaseException) as err:
        raise ConfigError(_first_lines(err)) from None


def _first_lines(err: BaseException, n: int = 3) -> str:
    """The first lines of an error's message (or of its cause's, when it has none); Hydra's
    list of a group's options on one line."""
    message = str(err).strip() or str(err.__cause__ or type(err).__name__)
    missing = re.search(r"Could not find '(.+)/([^/']+)'\s+Available options in '\1':", message)
    if missing:
        group, name = missing.groups()
        rest = message[missing.end() :].split("\n\n")[0]
        valid = re.findall(r"^\t(\S+)\s*$", rest, re.M)
        return f"{group}={name}: no such option in group '{group}'. Valid options: " + ", ".join(
            valid
        )
    lines = [line for line in message.strip().splitlines() if line.strip()]
    return "\n".join(lines[:n])


def check_overrides(overrides: list[str]) -> None:
    """Name a misspelled group option or key before Hydra gives its longer message."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException as err:
        raise ConfigError(_first_lines(err)) from None
    for override in parsed:
        key = override.key_or_group
        if key in groups():
            valid = options(key)
            for choice in _choices(override):
                if choice not in valid:
                    raise ConfigError(
                        f"{key}={choice}: no such option in group '{key}'. "
                        f"Valid options: {', '.join(valid)}"
                    )


def _choices(override: Any) -> Iterator[str]:
    """The option names an override selects (a list for list groups, each sweep value)."""
    if override.is_sweep_override():
        values = list(override.sweep_string_iterator())
    else:
        values = [override.value()]
    for value in values:
        if isinstance(value, list | tuple):
            yield from (str(v) for v in value)
        elif value is not None:
            yield from _split_list_string(str(value))


def _split_list_string(value: str) -> list[str]:
    # a sweep over list values arrives as strings like "[dropout,l2]"
    value = value.strip()
    if value.startswith("[") and value.endswith("]"):
        return [v.strip() for v in value[1:-1].split(",") if v.strip()]
    return [value]


def is_hydra(override: str) -> bool:
    """An override of Hydra's own config (hydra.*, hydra/launcher=...)."""
    return override.lstrip("+~").startswith(("hydra.", "hydra/"))


def key_of(override: str) -> str:
    return override.split("=", 1)[0]


def load(overrides: list[str]) -> DictConfig:
    """Compose and check the config `dltricks train OVERRIDES` would run (hydra.* excluded).

    Raises ConfigError naming the first bad option, key, type, value or interpolation."""
    return _load([o for o in overrides if not is_hydra(o)], with_hydra=False)[0]


def load_with_hydra(overrides: list[str]) -> tuple[DictConfig, DictConfig]:
    """load(), and Hydra's own node too, checked: what Hydra instantiates (launcher, sweeper,
    callbacks, logging) must pass an allow-list like everything else."""
    return _load(overrides, with_hydra=True)


def _load(overrides: list[str], with_hydra: bool) -> tuple[DictConfig, Any]:
    job = [o for o in overrides if not is_hydra(o)]
    check_overrides(job)
    base = compose([o for o in job if key_of(o).lstrip("+~") in groups()])
    for override in job:
        key = key_of(override)
        if key[0] in "+~" or key in groups():
            continue  # appended or deleted keys are checked on the composed config
        if OmegaConf.select(base, key, default=_MISSING) is _MISSING:
            raise ConfigError(_unknown_key(base, key))
    plain = not with_hydra and not any(key_of(o)[0] in "+~" for o in job)
    cfg = with_values(base, job) if plain else compose(overrides, with_hydra=with_hydra)
    hydra = None
    if with_hydra:
        hydra = cfg.hydra
        targets.check_hydra(OmegaConf.to_container(hydra, resolve=False))
        with open_dict(cfg):
            del cfg["hydra"]
    validate(cfg, base)
    return cfg, hydra


def with_values(base: DictConfig, overrides: list[str]) -> DictConfig:
    """`base` (composed with the group overrides) with the value overrides applied as Hydra
    applies them after composing (OmegaConf.update, merging): the same config, without
    composing again. tests/test_config.py compares the two."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf.errors import OmegaConfBaseException

    cfg = base
    for override in OverridesParser.create().parse_overrides(overrides):
        if override.key_or_group in groups():
            continue
        try:
            OmegaConf.update(cfg, override.key_or_group, override.value(), merge=True)
        except OmegaConfBaseException as err:
            raise ConfigError(f"{override.input_line}: {_first_lines(err, 1)}") from None
    return cfg


def _unknown_key(base: DictConfig, key: str) -> str:
    parent, _, _ = key.rpartition(".")
    known = OmegaConf.select(base, parent, default=None) if parent else base
    if not isinstance(known, DictConfig):
        return f"{key}: unknown key"
    valid = ", ".join(k for k in known if k not in targets.HYDRA_KEYS)
    return f"{key}: unknown key. Valid keys under '{parent or 'the config'}': {valid}"


# ---------------------------------------------------------------- checks


def validate(cfg: DictConfig, base: DictConfig) -> None:
    """Check a composed config: keys and types against `base` (the same choices, no value
    overrides), the value ranges in RULES, and every `_target_` against ALLOWED_TARGETS."""
    resolve(cfg)
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
        raise ConfigError(f"{key or 'the config'}: {_first_lines(err, 1)}") from None


def leaves(node: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, value) for every leaf of a config, unresolved interpolations skipped."""
    if isinstance(node, DictConfig):
        for key in node:
            if OmegaConf.is_missing(node, key):
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
            raise ConfigError(_unknown_key(base, key))
        if value in rules.WORDS.get(key, ()) or expected in rules.WORDS.get(key, ()):
            continue
        if not _same_type(value, expected):
            raise ConfigError(
                f"{key}={value!r}: expected {_type_name(expected)} (the default is {expected!r})"
            )


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
