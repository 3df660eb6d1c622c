"""Hydra's own keys, checked before Hydra runs: Hydra reads most of them only as it starts
a job, after it has written the sweep's multirun.yaml and the job's .hydra/ record, and ends
in its traceback on what it cannot use. Each check names the key (exit 2)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

from dltricks import config_checks as checks
from dltricks.errors import ConfigError
from dltricks.rundir import is_record_dir


def resolve_hydra(node: Any, prefix: str = "hydra") -> None:
    """Every interpolation in Hydra's node must resolve before Hydra runs (`${nope}` in
    hydra.sweep.dir would end in Hydra's traceback, after multirun.yaml is written), but for
    the values Hydra sets only as each job starts (hydra.job.num, hydra.runtime.output_dir,
    and what the `${hydra:...}` resolver reads)."""
    from omegaconf.errors import (
        InterpolationToMissingValueError,
        MissingMandatoryValue,
        OmegaConfBaseException,
    )

    keys = range(len(node)) if isinstance(node, ListConfig) else list(node.keys())
    for key in keys:
        child = node._get_node(key)
        raw = child._value() if child is not None else None
        if isinstance(raw, str) and "${hydra:" in raw.replace(" ", ""):
            continue  # the job's own Hydra config: set as it starts
        if isinstance(child, DictConfig | ListConfig) and not child._is_interpolation():
            if not child._is_none() and not child._is_missing():
                resolve_hydra(child, f"{prefix}.{key}")
            continue
        try:
            node[key]
        except (MissingMandatoryValue, InterpolationToMissingValueError):
            continue  # a value Hydra fills in for each job
        except OmegaConfBaseException as err:
            raise ConfigError(f"{prefix}.{key}={raw}: {checks.first_lines(err, 1)}") from None


def check_keys(hydra: DictConfig) -> None:
    """`hydra.verbose`: true, false, a logger's name or a list of them; `hydra.output_subdir`,
    where Hydra writes a job's record: where dltricks reads it (.hydra/)."""
    verbose = hydra.verbose
    verbose = OmegaConf.to_container(verbose) if OmegaConf.is_config(verbose) else verbose
    names = verbose if isinstance(verbose, list) else [verbose]
    if not isinstance(verbose, bool) and not all(isinstance(n, str) and n for n in names):
        raise ConfigError(
            f"hydra.verbose={verbose}: must be true, false, a logger's name (dltricks) or a "
            "list of names"
        )
    if not is_record_dir(hydra.output_subdir):
        raise ConfigError(
            f"hydra.output_subdir={hydra.output_subdir}: dltricks reads a run's Hydra record "
            "from .hydra/ (resume, the tally, the report); leave it as .hydra"
        )


def check_subdirs(hydra: DictConfig, jobs: list[list[str]]) -> None:
    """Each job's `hydra.sweep.subdir`, as Hydra resolves it for that job (its number, its
    overrides as hydra.job.override_dirname), must lie inside the sweep dir: `/etc`, `../..`
    or a value with `..` in it, named in the subdir, would put a run where no run belongs."""
    from omegaconf.errors import OmegaConfBaseException

    from dltricks.hydra_compat import override_dirname

    raw = hydra.sweep._get_node("subdir")._value()
    job = copy.deepcopy(hydra._get_parent()).hydra  # Hydra's node, as a job sees it
    mark = "\0override_dirname\0"  # resolved once, each job's dirname put in its place
    try:
        with open_dict(job):
            job.job.num, job.job.id, job.job.override_dirname = 0, "0", mark
        template = str(job.sweep.subdir)
    except OmegaConfBaseException:  # resolved only as the job starts (${hydra:...})
        template = str(raw)
    names = job.job.config.override_dirname
    dirnames = {override_dirname(o, names) for o in jobs} if mark in template else {""}
    for dirname in sorted(dirnames):
        subdir = Path(template.replace(mark, dirname))
        if subdir.is_absolute() or ".." in subdir.parts or subdir == Path("."):
            raise ConfigError(
                f"hydra.sweep.subdir={raw}: a job's dir would be {subdir}; a job's dir must "
                "lie inside the sweep dir (a relative path without ..; the default "
                "${hydra.job.num} numbers the jobs)"
            )
