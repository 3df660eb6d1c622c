"""Your own code without packaging it: modules you trust for one command.

A config may instantiate only names under dltricks' allow-list (targets.py) and installed
plugins. `--trust MODULE` (any command, repeatable) or `[tool.dltricks] trust = ["mynet"]`
in the pyproject.toml of the folder you run in adds MODULE for this command: with
`--config-dir myconf model=mynet` a YAML file's `_target_: mynet.build` then works from your
project folder, which joins the import path. Trust comes only from you, never from a run
dir: resuming such a run, or an ensemble of it, needs the same --trust again (the refusal
says so). The command's jobs (joblib, SLURM, Ray workers) get it through DLTRICKS_TRUST.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dltricks.errors import ConfigError

ENV = "DLTRICKS_TRUST"  # the trusted modules of the running command, comma separated
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
# What no one trusts by name: the allow-list governs these (dltricks' own modules, torch's,
# Hydra's), and the standard library would let a config run anything (os.system)
NEVER = ("dltricks", "torch", "hydra", "omegaconf", "hydra_plugins")


def take(args: list[str]) -> tuple[list[str], list[str]]:
    """(the arguments without `--trust MODULE` / `--trust=MODULE`, the modules named)."""
    rest, named = [], []
    it = iter(args)
    for arg in it:
        if arg == "--trust":
            value = next(it, None)
            if value is None:
                raise ConfigError("--trust needs a module name, e.g. --trust mynet")
            named.append(value)
        elif arg.startswith("--trust="):
            named.append(arg.split("=", 1)[1])
        else:
            rest.append(arg)
    return rest, named


def from_pyproject(folder: Path) -> list[str]:
    """[tool.dltricks] trust = [...] in folder/pyproject.toml ([] without one)."""
    path = folder / "pyproject.toml"
    if not path.is_file():
        return []
    try:
        import tomllib
    except ImportError:  # Python 3.10
        return []
    try:
        data = tomllib.loads(path.read_text()[:1_000_000])
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"{path}: unreadable ({err}); fix it or run elsewhere") from None
    trust = data.get("tool", {}).get("dltricks", {}).get("trust", [])
    if not isinstance(trust, list) or not all(isinstance(t, str) for t in trust):
        raise ConfigError(
            f'{path}: [tool.dltricks] trust must be a list of module names, e.g. ["mynet"]'
        )
    return trust


def check(name: str, where: str) -> str:
    if not NAME.fullmatch(name):
        raise ConfigError(f"{where} {name}: not a module name (e.g. mynet or mylab.models)")
    top = name.split(".")[0]
    if top in NEVER or top in sys.stdlib_module_names:
        raise ConfigError(
            f"{where} {name}: refused; trust names your own modules, not {top} "
            "(dltricks' allow-list already governs it, or it would let a config run any code)"
        )
    return name


@contextmanager
def trusted(named: list[str], folder: Path | None = None) -> Iterator[list[str]]:
    """For one command: the modules of --trust and of ./pyproject.toml trusted (DLTRICKS_TRUST
    set, for the jobs too), and the folder on the import path, so `mynet` imports from it."""
    folder = folder or Path.cwd()
    modules = [check(m, "--trust") for m in named]
    modules += [check(m, "[tool.dltricks] trust") for m in from_pyproject(folder)]
    if not modules:
        yield []
        return
    saved = {k: os.environ.get(k) for k in (ENV, "PYTHONPATH")}
    os.environ[ENV] = ",".join(dict.fromkeys(modules))
    paths = [p for p in (saved["PYTHONPATH"] or "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join([*paths, str(folder.resolve())])
    added = str(folder.resolve()) not in sys.path
    if added:
        sys.path.append(str(folder.resolve()))
    try:
        yield modules
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if added:
            sys.path.remove(str(folder.resolve()))


def prefixes() -> tuple[str, ...]:
    """The trusted modules as allow-list prefixes (`mynet.`), from DLTRICKS_TRUST."""
    named = [m for m in os.environ.get(ENV, "").split(",") if m and NAME.fullmatch(m)]
    top = {m: m.split(".")[0] for m in named}
    return tuple(
        f"{m}." for m, t in top.items() if t not in NEVER and t not in sys.stdlib_module_names
    )
