"""Plugins: a user's own data, models and tricks as an installed package. A package declares
itself with the entry-point group `dltricks.plugins` (`NAME = "module"`); the conf/ folder in
that module's package holds option files in dltricks' own layout (conf/model/mynet.yaml,
conf/activation/swish.yaml...), which join Hydra's search path, and the module's names join
the `_target_` allow-list: installing a package is the trust decision, as with pip.

Discovery reads the installed packages' metadata and finds the module without running it:
nothing of a plugin is imported until one of its options is instantiated. A plugin that cannot
be found, adds a group dltricks lacks, or an option that clashes with a built-in one is left
out with one warning line naming it and the file; the built-in options keep working. Folders
given with `--config-dir DIR` (Hydra's flag) join the search path too, but not the allow-list.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path

ENTRY_POINTS = "dltricks.plugins"
BUILTIN = "dltricks"
_config_dirs: list[Path] = []  # --config-dir folders of this command
PRIMARY = "config"  # the primary config, conf/config.yaml: Hydra's config_name
CONFIG_DIRS = "DLTRICKS_CONFIG_DIRS"  # ...as the command's jobs see them (another process)


@dataclass(frozen=True)
class Source:
    """A folder of option files: dltricks' own conf/, a plugin's, or a --config-dir."""

    name: str  # how help and errors name it: "dltricks", "plugin NAME", "--config-dir DIR"
    conf: Path
    prefix: str | None = None  # the names its options may instantiate (plugins only)


def builtin_conf() -> Path:
    from importlib import resources

    return Path(str(resources.files("dltricks.conf")))


def groups_of(conf: Path) -> dict[str, list[str]]:
    """{group: options} of a conf folder (nested groups like hydra/launcher included)."""
    found: dict[str, list[str]] = {}
    for path in sorted(conf.rglob("*.yaml")):
        group = path.parent.relative_to(conf).as_posix()
        if group != ".":
            found.setdefault(group, []).append(path.stem)
    return found


@functools.cache
def plugins() -> tuple[Source, ...]:
    """The installed plugins that can be used; a warning line for each that cannot."""
    builtin = groups_of(builtin_conf())
    taken = {(g, o): BUILTIN for g, opts in builtin.items() for o in opts}
    found = []
    for entry in sorted(importlib.metadata.entry_points(group=ENTRY_POINTS), key=_name):
        try:
            source = _source(entry)
            _check(source, builtin, taken)
        except PluginError as err:
            print(f"dltricks: warning: {err}; its options are left out", file=sys.stderr)
            continue
        taken |= {(g, o): source.name for g, opts in groups_of(source.conf).items() for o in opts}
        found.append(source)
    return tuple(found)


class PluginError(Exception):
    pass


def _name(entry: importlib.metadata.EntryPoint) -> str:
    return entry.name


def _source(entry: importlib.metadata.EntryPoint) -> Source:
    where = f"plugin {entry.name} ({entry.value}"
    dist = getattr(entry, "dist", None)
    where += f", from {dist.name})" if dist is not None else ")"
    try:
        spec = importlib.util.find_spec(entry.value)
    except (ImportError, ValueError) as err:
        raise PluginError(f"{where}: cannot be imported ({err})") from None
    if spec is None or spec.origin is None:
        raise PluginError(f"{where}: no module {entry.value}; install it again, or uninstall it")
    package = Path(spec.origin).parent  # a package's own folder, or a module's package
    conf = package / "conf"
    if not conf.is_dir():
        raise PluginError(f"{where}: {conf} is missing (a plugin's option files live there)")
    return Source(f"plugin {entry.name}", conf, prefix=f"{entry.value}.")


def _check(source: Source, builtin: dict[str, list[str]], taken: dict) -> None:
    for group, options in groups_of(source.conf).items():
        if group not in builtin:
            raise PluginError(
                f"{source.name}: {source.conf / group}: dltricks has no config group "
                f"'{group}' (its groups: {', '.join(g for g in builtin if '/' not in g)})"
            )
        for option in options:
            owner = taken.get((group, option))
            if owner is not None:
                raise PluginError(
                    f"{source.name}: {source.conf / group / option}.yaml: {group}={option} "
                    f"already comes from {owner}; rename the file"
                )


def add_config_dir(folder: Path) -> None:
    """`--config-dir DIR`: the user's own YAML files join the search path (not the
    allow-list: what they instantiate must be dltricks', torch's or a plugin's)."""
    from dltricks.errors import ConfigError

    folder = Path(folder).expanduser().resolve()
    if not folder.is_dir():
        raise ConfigError(f"--config-dir {folder}: no such folder")
    builtin = groups_of(builtin_conf())
    taken = {(g, o): s.name for s in (Source(BUILTIN, builtin_conf()), *plugins())
             for g, opts in groups_of(s.conf).items() for o in opts}  # fmt: skip
    try:
        _check(Source(f"--config-dir {folder}", folder), builtin, taken)
    except PluginError as err:
        raise ConfigError(str(err)) from None
    if folder not in _config_dirs:
        _config_dirs.append(folder)
    os.environ[CONFIG_DIRS] = os.pathsep.join(map(str, _config_dirs))  # for the jobs too


def forget_config_dirs() -> None:
    _config_dirs.clear()
    os.environ.pop(CONFIG_DIRS, None)


def config_dirs() -> list[Path]:
    """This command's --config-dir folders (in a sweep's worker process: the command's, from
    DLTRICKS_CONFIG_DIRS, which the command sets while it runs)."""
    if _config_dirs:
        return list(_config_dirs)
    named = [Path(d) for d in os.environ.get(CONFIG_DIRS, "").split(os.pathsep) if d]
    return [d for d in named if d.is_dir()]


def sources() -> list[Source]:
    """Where options come from, in Hydra's order: dltricks' own, the plugins, --config-dir."""
    dirs = [Source(f"--config-dir {d}", d) for d in config_dirs()]
    return [Source(BUILTIN, builtin_conf()), *plugins(), *dirs]


def search_path() -> list[str]:
    """hydra.searchpath entries for everything but dltricks' own conf/."""
    return [f"file://{s.conf}" for s in sources()[1:]]


def searchpath_override(overrides: list[str]) -> list[str]:
    """The hydra.searchpath override that adds the plugins' and --config-dir's folders, unless
    the overrides set one themselves ([] when there is nothing to add)."""
    extra = search_path()
    if not extra or any(o.startswith("hydra.searchpath=") for o in overrides):
        return []
    return [f"hydra.searchpath=[{','.join(extra)}]"]


def allowed_prefixes() -> tuple[str, ...]:
    return tuple(s.prefix for s in plugins() if s.prefix)
