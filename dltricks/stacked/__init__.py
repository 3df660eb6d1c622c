"""Many small runs as one (`hydra/launcher=stacked`): the jobs of a sweep that share an
architecture and differ only in what each member can have of its own (seed, optimizer and
its hyperparameters, learning-rate scale and schedule parameters, regularization strengths,
init, dropout p, early stopping) train together as one stacked model (layers.py) in one
process (group.py), each job still a run of its own: its run dir, metrics.csv, summary.json,
checkpoint and status as the basic launcher would write them. launch.py is the launcher;
`why_not` says why a job runs on its own, `group_key` which jobs go together."""

from __future__ import annotations

import json
from typing import Any

from omegaconf import DictConfig

from dltricks import records

# What a stacked group shares: everything that shapes the computation (the data, the model
# and its layers, the batch, the epochs and their order's size, the device and precision).
SHARED = ("data", "model", "activation", "norm", "loss", "transfer")
SHARED_TRAINER = (
    "epochs", "batch_size", "device", "precision", "compile", "eval_every",
    "checkpoint_every", "overfit_subset", "curriculum", "shuffle", "probes",
)  # fmt: skip
NOT_STACKED = {  # a run option -> why it runs on its own
    "trainer.probes": "probes (each layer's statistics of one model)",
    "trainer.compile": "trainer.compile",
    "trainer.detect_anomaly": "trainer.detect_anomaly",
}


PLUGIN = "hydra_plugins.dltricks_stacked."  # hydra.launcher._target_'s module, when it runs a sweep
OPTIONS = {  # hydra.launcher's keys (conf/hydra/launcher/stacked.yaml): what each must be
    "max_members": ("an integer >= 1", records.int_at_least(1)),
    "force": ("true or false", lambda v: isinstance(v, bool)),
}


def check(hydra: DictConfig) -> None:
    """The launcher's own keys, when the sweep runs on it: exit 2 naming the key."""
    from omegaconf import OmegaConf

    from dltricks.errors import ConfigError

    node = hydra.launcher
    if not str(node.get("_target_", "")).startswith(PLUGIN):
        return
    for key, value in OmegaConf.to_container(node, resolve=True).items():
        if key.startswith("_"):
            continue
        if key not in OPTIONS:
            raise ConfigError(
                f"hydra.launcher.{key}: unknown key. Valid keys: {', '.join(OPTIONS)}"
            )
        wanted, ok = OPTIONS[key]
        if not ok(value):
            raise ConfigError(f"hydra.launcher.{key}={value}: must be {wanted}")


def why_not(cfg: DictConfig, force: bool = False) -> str | None:
    """Why a job cannot join a stacked group (None: it can): a model that does not opt in
    (`stackable = True` on its factory), or one that trains slower stacked on the CPU
    (`stacks_on_cpu = False`, unless `force`), a precision other than fp32, probes,
    compiling, adversarial examples (a forward pass of its own model), frozen layers."""
    from dltricks import targets

    factory = targets.factory_of(cfg.model, "model")
    if not getattr(factory, "stackable", False):
        return f"model {cfg.model._target_} does not stack"
    if not (force or getattr(factory, "stacks_on_cpu", True)) and _on_cpu(cfg.trainer.device):
        return (
            f"model {cfg.model._target_} trains slower stacked on the CPU; "
            "hydra.launcher.force=true stacks it anyway"
        )
    for key, reason in NOT_STACKED.items():
        section, _, name = key.partition(".")
        if cfg[section][name]:
            return reason
    if cfg.trainer.precision != "fp32":
        return f"trainer.precision={cfg.trainer.precision}"
    if "adversarial" in cfg.regularization:
        return "regularization=[adversarial] (a forward pass of its own model)"
    if cfg.transfer.freeze:
        return "transfer.freeze"
    return None


def _on_cpu(name: str) -> bool:
    """Whether trainer.device names the CPU here (a device that is not there: not the CPU,
    the job says so itself when it runs)."""
    from dltricks import device
    from dltricks.errors import ConfigError

    try:
        return device.pick(str(name)).type == "cpu"
    except (ConfigError, RuntimeError):
        return False


def group_key(cfg: DictConfig) -> str:
    """What a stacked group's members share, as a string: equal for jobs that stack."""
    from dltricks import config

    plain = config.container(cfg)
    dropout = plain.get("regularization", {}).get("dropout") or {}
    shared: dict[str, Any] = {k: plain.get(k) for k in SHARED}
    shared["trainer"] = {k: plain["trainer"].get(k) for k in SHARED_TRAINER}
    shared["dropout"] = (bool(dropout.get("p")), bool(dropout.get("input_p")))  # its layers
    return json.dumps(shared, sort_keys=True, default=str)
