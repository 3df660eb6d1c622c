"""The config contract: compose, check and instantiate, before anything is built.

The YAML files in conf/ are the schema: a key exists if a file declares it, and its type is
the type of the value the file gives it. On top of that, RULES holds the value ranges. A bad
config raises ConfigError, whose message names the key and how to fix it (exit code 2).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from dltricks import config_checks as checks
from dltricks import extras, hydra_checks, plugins, targets
from dltricks.errors import ConfigError

CONFIG_MODULE = "dltricks.conf"  # conf/, packaged with the code
_MISSING = object()


# ---------------------------------------------------------------- the registry (conf/)


def groups() -> list[str]:
    """The config groups: the folders of conf/ (Hydra's own excluded)."""
    return sorted(g for g in plugins.groups_of(plugins.builtin_conf()) if "/" not in g)


def default_choices() -> dict[str, list[str]]:
    """Each group's default option(s), from the primary config's defaults list (a list group,
    regularization, may default to several or none; an optional group to none)."""
    import yaml

    primary = plugins.builtin_conf() / f"{plugins.PRIMARY}.yaml"
    found: dict[str, list[str]] = {}
    for entry in yaml.safe_load(primary.read_text()).get("defaults", []):
        if isinstance(entry, dict):
            for key, value in entry.items():
                group = str(key).removeprefix("optional ").removeprefix("override ")
                found[group] = [str(v) for v in value] if isinstance(value, list) else [str(value)]
    return found


def options(group: str) -> list[str]:
    """The options of a group: the YAML files in its folder, in dltricks' own conf/, the
    installed plugins' and the --config-dir folders."""
    return sorted({o for _, o in origins(group)})


def origins(group: str) -> list[tuple[str, str]]:
    """(where from, option) for each option of a group: "dltricks", "plugin NAME"..."""
    return [
        (s.name, o) for s in plugins.sources() for o in plugins.groups_of(s.conf).get(group, [])
    ]


def options_declaring(key: str) -> list[str]:
    """The options whose file declares a config key, as the command line picks them
    (`regularization=[l2]` for regularization.l2.lambda, `optimizer=momentum` for
    optimizer.momentum): what to add when a key is missing."""
    group, _, rest = key.partition(".")
    found = []
    for source in plugins.sources():
        for option in plugins.groups_of(source.conf).get(group, []):
            node = OmegaConf.load(source.conf / group / f"{option}.yaml")
            if OmegaConf.select(node, rest, default=None) is None:
                continue
            # a list group's option nests under its own name (regularization: l2: {...})
            nested = list(node) == [option] and isinstance(node[option], DictConfig)
            found.append(f"{group}=[{option}]" if nested else f"{group}={option}")
    return sorted(found)


_composed: dict[tuple, DictConfig] = {}  # composing is slow (~0.3 s): once per process


def compose(overrides: list[str], with_hydra: bool = False) -> DictConfig:
    """The composed config for these overrides, as `train` sees it (with_hydra: Hydra's own
    node too); a copy, the caller may change it."""
    key = (tuple(overrides), with_hydra, tuple(plugins.search_path()))
    if key not in _composed:
        _composed[key] = _hydra_compose(overrides, with_hydra)
    return copy.deepcopy(_composed[key])


def _hydra_compose(overrides: list[str], with_hydra: bool) -> DictConfig:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    overrides = [*overrides, *plugins.searchpath_override(overrides)]
    try:
        if GlobalHydra.instance().is_initialized():  # inside a Hydra job (a sweep's)
            return hydra_compose("config", overrides, return_hydra_config=with_hydra)
        with initialize_config_module(CONFIG_MODULE, version_base="1.3"):
            return hydra_compose("config", overrides, return_hydra_config=with_hydra)
    except (HydraException, OmegaConfBaseException) as err:
        raise ConfigError(checks.first_lines(err)) from None


def check_overrides(overrides: list[str]) -> None:
    """Name a misspelled group option or key before Hydra gives its longer message."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException as err:
        raise ConfigError(checks.first_lines(err)) from None
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


def container(cfg: DictConfig) -> dict[str, Any]:
    """The config as plain dicts and lists, interpolations unresolved (as a checkpoint keeps
    it: a data root read from the environment may differ between sessions)."""
    return OmegaConf.to_container(cfg, resolve=False)  # type: ignore[return-value]


def is_hydra(override: str) -> bool:
    """An override of Hydra's own config (hydra.*, hydra/launcher=...)."""
    return override.lstrip("+~").startswith(("hydra.", "hydra/"))


def is_swept(override: str) -> bool:
    """A sweep over values (a,b / range / interval / choice / glob), not one value."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        return OverridesParser.create().parse_override(override).is_sweep_override()
    except Exception:  # not an override at all: the config's checks name it
        return False


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
    choices = [o for o in overrides if _is_choice(o)]  # group options, Hydra's included
    composed = compose(choices, with_hydra=with_hydra)  # one compose: the rest is values
    base = _without_hydra(composed)
    for override in job:
        key = key_of(override)
        if key[0] in "+~" or key in groups():
            continue  # appended or deleted keys are checked on the composed config
        if OmegaConf.select(base, key, default=_MISSING) is _MISSING:
            value = override.split("=", 1)[1] if "=" in override else None
            raise ConfigError(checks.unknown_key(base, key, value, groups()))
    plain = not any(key_of(o)[0] in "+~" for o in overrides)
    cfg = with_values(composed, overrides) if plain else compose(overrides, with_hydra)
    hydra = cfg.hydra if with_hydra else None
    if hydra is not None:
        for group in ("hydra/launcher", "hydra/sweeper"):  # its plugin installed?
            needs = extras.missing(group, str(hydra.runtime.choices.get(group)))
            if needs:
                raise ConfigError(needs)
        hydra_checks.resolve_hydra(hydra)
        targets.check_hydra(OmegaConf.to_container(hydra, resolve=False))
        cfg = _without_hydra(cfg)
    checks.validate(cfg, base)
    return cfg, hydra


def _is_choice(override: str) -> bool:
    """A group option (optimizer=adam, hydra/launcher=joblib), not a value."""
    key = key_of(override)
    return key in groups() or (key.startswith("hydra/") and "." not in key)


def _without_hydra(cfg: DictConfig) -> DictConfig:
    if "hydra" not in cfg:
        return cfg
    cfg = copy.deepcopy(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


def with_values(base: DictConfig, overrides: list[str]) -> DictConfig:
    """`base` (composed with the group overrides) with the value overrides applied as Hydra
    applies them after composing (OmegaConf.update, merging): the same config, without
    composing again. tests/test_config.py compares the two."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf.errors import OmegaConfBaseException

    cfg = base
    for override in OverridesParser.create().parse_overrides(overrides):
        if override.is_sweep_override():
            raise ConfigError(f"{override.input_line}: {checks.SEVERAL_VALUES}")
        if _is_choice(override.input_line):
            continue
        try:
            OmegaConf.update(cfg, override.key_or_group, override.value(), merge=True)
        except OmegaConfBaseException as err:
            raise ConfigError(f"{override.input_line}: {checks.first_lines(err, 1)}") from None
    return cfg
