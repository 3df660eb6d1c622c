"""The options that need an extra of pyproject.toml: the module each imports and the extra
that installs it. A missing one is bad input (exit 2) that names the extra, before any job."""

from __future__ import annotations

import importlib.util

# GROUP/OPTION -> (the module it needs, the extra that installs it)
NEEDS = {
    "hydra/launcher/joblib": ("hydra_plugins.hydra_joblib_launcher", "sweep"),
    "hydra/launcher/submitit_local": ("hydra_plugins.hydra_submitit_launcher", "sweep"),
    "hydra/launcher/submitit_slurm": ("hydra_plugins.hydra_submitit_launcher", "sweep"),
    "hydra/launcher/slurm": ("hydra_plugins.hydra_submitit_launcher", "sweep"),
    "hydra/launcher/ray": ("hydra_plugins.hydra_ray_launcher", "ray"),
    "hydra/sweeper/search": ("optuna", "search"),
    "logger/tensorboard": ("tensorboard", "track"),
    "logger/mlflow": ("mlflow", "track"),
    "logger/wandb": ("wandb", "wandb"),
}


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing
        return False


def missing(group: str, option: str) -> str | None:
    """What to install for GROUP=OPTION, or None when it needs nothing that is missing."""
    module, extra = NEEDS.get(f"{group}/{option}", (None, None))
    if module is None or installed(module):
        return None
    return f"{group}={option} needs {module}: pip install 'dltricks[{extra}]' (make install does)"
