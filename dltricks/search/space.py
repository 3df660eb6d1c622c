"""A search's space: the dimensions it samples, from three places, a later one winning for a
key: the options' own `search:` nodes (conf/optimizer/adam.yaml's `search: {lr: ...}` is the
dimension optimizer.lr), `hydra.sweeper.params`, and the command line's sweep syntax. One
syntax for all three, Hydra's: `tag(log, interval(1e-5, 0.1))`, `interval(0, 0.5)`,
`choice(a, b)` or `a,b`, `range(0, 500, 100)`; a plain value fixes the key instead.

A dimension is checked before any trial: the key must be in the composed config (else the
option that adds it is named), a range must have low < high, a log range low > 0."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from dltricks.errors import ConfigError
from dltricks.records import SEARCH  # an option's node of dimensions


@dataclass(frozen=True)
class Dimension:
    """One key a search samples: a float or int range (log or linear), or a choice."""

    key: str
    where: str  # where it was declared: "optimizer=adam", "hydra.sweeper.params", ...
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    integer: bool = False
    choices: tuple[Any, ...] = ()
    step: int | None = None

    def distribution(self) -> Any:
        """Optuna's distribution of this dimension."""
        from optuna import distributions as d

        if self.choices:
            return d.CategoricalDistribution(self.choices)
        if self.integer:
            return d.IntDistribution(
                int(self.low), int(self.high), log=self.log, step=self.step or 1
            )
        return d.FloatDistribution(self.low, self.high, log=self.log)

    def ends(self) -> list[Any]:
        """The values at its edges: a config is checked with each before any trial."""
        if self.choices:
            return list(self.choices)
        if self.integer:
            return [int(self.low), int(self.high)]
        return [self.low, self.high]

    def grid(self, points: int) -> list[Any]:
        """`points` values spread over a range (log-spaced for a log range), or the choices:
        what the grid sampler visits."""
        if self.choices:
            return list(self.choices)
        if self.log:
            a, b = math.log(self.low), math.log(self.high)
            values = [math.exp(a + (b - a) * i / (points - 1)) for i in range(points)]
        else:
            values = [self.low + (self.high - self.low) * i / (points - 1) for i in range(points)]
        return sorted({round(v) for v in values}) if self.integer else values


def override(key: str, value: Any) -> str:
    """`key=value` as Hydra parses it back to `value` (floats exactly, lists bracketed)."""
    return f"{key}={_text(value)}"


def _text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + ",".join(_text(v) for v in value) + "]"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def parse(key: str, text: str, where: str, default: Any = None) -> Dimension | None:
    """The dimension `text` declares for `key` (None for a plain value: no search); its
    integer-ness from the tag `int` or from the config's `default` being an int."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_override(f"{key}={text}")
    except HydraException as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"{where}: {key}={text}: not a search space ({first})") from None
    value = parsed.value()
    if isinstance(value, ChoiceSweep):
        return Dimension(key, where, choices=tuple(value.list))
    if isinstance(value, RangeSweep):
        values = tuple(range(int(value.start), int(value.stop), int(value.step or 1)))
        if not values:
            raise ConfigError(f"{where}: {key}={text}: an empty range")
        return Dimension(key, where, choices=values)
    if isinstance(value, IntervalSweep):
        tags = set(value.tags or ())
        integer = "int" in tags or (isinstance(default, int) and not isinstance(default, bool))
        dim = Dimension(key, where, float(value.start), float(value.end), "log" in tags, integer)
        if not dim.low < dim.high:
            raise ConfigError(f"{where}: {key}={text}: low must be below high")
        if dim.log and dim.low <= 0:
            raise ConfigError(f"{where}: {key}={text}: a log range needs low > 0")
        return dim
    if parsed.is_sweep_override():
        raise ConfigError(f"{where}: {key}={text}: use interval(...), choice(...) or range(...)")
    return None


PARAMS = "hydra.sweeper.params."


def quoted(argument: str) -> str:
    """hydra.sweeper.params.KEY=interval(...) as Hydra takes it into its own config: added
    or replaced (++: the params node starts empty), and a space quoted as a string (a sweep
    over Hydra's config is refused): the same space, typed as it is typed elsewhere."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    key, eq, text = argument.partition("=")
    if not (eq and key.lstrip("+").startswith(PARAMS)):
        return argument
    try:  # a space, or unparseable (then named by its key when the search reads it)
        spaced = OverridesParser.create().parse_override(argument).is_sweep_override()
    except Exception:
        spaced = True
    if spaced:
        text = "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return f"++{key.lstrip('+')}={text}"


def option_spaces(cfg: DictConfig) -> dict[str, tuple[str, str]]:
    """key -> (its declared space, the option that declares it), from every `search:` node
    of the composed config: at optimizer.search, the key lr is optimizer.lr."""
    found: dict[str, tuple[str, str]] = {}
    todo: list[tuple[str, Any]] = [("", cfg)]
    while todo:
        prefix, node = todo.pop()
        if not isinstance(node, DictConfig):
            continue
        for key in node:
            child = node._get_node(key)
            if key == SEARCH and isinstance(child, DictConfig):
                option = prefix.rstrip(".") or "the config"
                for k, v in flat(child).items():
                    found[f"{prefix}{k}"] = (str(v), f"{option}'s search space")
            elif isinstance(child, DictConfig):
                todo.append((f"{prefix}{key}.", child))
    return found


def flat(node: Any, prefix: str = "") -> dict[str, Any]:
    """A (nested) mapping of keys as dotted keys: hydra.sweeper.params.optimizer.lr=... on the
    command line nests, `optimizer.lr: ...` in a YAML file does not: both are optimizer.lr."""
    if isinstance(node, DictConfig):
        node = OmegaConf.to_container(node, resolve=False)
    if not isinstance(node, dict):
        return {prefix.rstrip("."): node}
    out: dict[str, Any] = {}
    for key, value in node.items():
        out.update(flat(value, f"{prefix}{key}."))
    return out


def _default(cfg: DictConfig, key: str) -> Any:
    value = OmegaConf.select(cfg, key, default=None)
    return list(value) if isinstance(value, ListConfig) else value


def dimensions(
    cfg: DictConfig, params: Any, arguments: list[str]
) -> tuple[list[Dimension], list[str]]:
    """The search's dimensions, and the overrides every trial shares: the command line's
    plain values, and the keys a space fixes with a plain value. `cfg` is the config composed
    with the command line's plain values (hydra.* left out), `params` hydra.sweeper.params."""
    from dltricks import config

    declared = dict(option_spaces(cfg))
    declared |= {k: (str(v), "hydra.sweeper.params") for k, v in flat(params or {}).items()}
    fixed: list[str] = []
    for argument in arguments:
        key, _, text = argument.partition("=")
        key = key.lstrip("+~")
        if config.is_swept(argument):
            declared[key] = (text, "the command line")
        else:
            declared.pop(key, None)  # a value given on the command line is not searched
            fixed.append(argument)
    dims = []
    for key, (text, where) in declared.items():
        if key not in config.groups() and _default(cfg, key) is None and not _has(cfg, key):
            raise ConfigError(f"{where}: {key}: the config has no such key{_adds(key)}")
        dim = parse(key, text, where, default=_default(cfg, key))
        if dim is None:
            fixed.append(f"{key}={text}")
        else:
            dims.append(dim)
    return dims, fixed


def _has(cfg: DictConfig, key: str) -> bool:
    missing = object()
    return OmegaConf.select(cfg, key, default=missing) is not missing


def _adds(key: str) -> str:
    from dltricks import config

    options = config.options_declaring(key)
    if not options:
        return ""
    return f"; {' or '.join(options)} adds it (put it on the command line)"
