"""conf/ is the registry: every option composes, passes the checks and builds a run."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from dltricks import config, config_checks, targets, train
from dltricks.config import ConfigError
from dltricks.run_record import Job

ALL_OPTIONS = [(g, o) for g in config.groups() for o in config.options(g)]
# the presets run at reduced size in tests/test_experiments.py (make test-all); here too slow
COVERED_BY_EXPERIMENTS = {"experiment"}
# Small and fast: every option gets one short run on digits.
FAST = ["trainer.epochs=1", "trainer.batch_size=128"]


def test_registry_lists_the_groups_of_the_design():
    assert {
        "data",
        "model",
        "activation",
        "init",
        "norm",
        "regularization",
        "optimizer",
        "schedule",
    } <= set(config.groups())


# the fixture files stand in for the real datasets: their checksums differ
VERIFY_OFF = {"mnist", "fashion_mnist", "cifar10", "resnet_cifar10"}
MODEL_FOR = {"rnn": ["data=mnist1d"], "resnet_cifar10": ["model.depth=8", "model.width=4"]}


def overrides_for(group: str, option: str) -> list[str]:
    picked = [f"{group}=[{option}]" if group == "regularization" else f"{group}={option}"]
    picked += ["data.load.verify=false"] if option in VERIFY_OFF else []
    return picked + MODEL_FOR.get(option, [])


def smoke(group: str, option: str):
    slow = group in COVERED_BY_EXPERIMENTS and option != "resnet_cifar10"
    marks = [pytest.mark.slow] if slow else []
    return pytest.param(group, option, id=f"{group}={option}", marks=marks)


@pytest.mark.parametrize(("group", "option"), [smoke(g, o) for g, o in ALL_OPTIONS])
def test_every_option_composes_builds_and_trains(tmp_path, group, option, monkeypatch):
    overrides = FAST + overrides_for(group, option)
    if (group, option) == ("logger", "mlflow"):  # its store in tmp_path, not ./outputs
        overrides.append(f"logger.mlflow.tracking_uri=sqlite:///{tmp_path}/mlflow.db")
    if (group, option) == ("logger", "wandb"):  # offline, its folders in tmp_path
        monkeypatch.setenv("WANDB_MODE", "offline")
        for kind in ("CONFIG", "CACHE", "DATA"):
            monkeypatch.setenv(f"WANDB_{kind}_DIR", str(tmp_path / kind.lower()))
    cfg = config.load(overrides)  # composes and passes every check
    summary = train.run(cfg, Job(tmp_path, {group: option}, overrides))
    assert summary["status"] in ("completed", "early_stopped")
    assert (tmp_path / "metrics.csv").exists()


def test_regularizers_combine_in_one_list():
    cfg = config.load(["regularization=[dropout,l2,early_stopping]"])
    assert set(cfg.regularization) == {"dropout", "l2", "early_stopping"}


@pytest.mark.parametrize(
    "target", ["os.system", "builtins.open", "torch.load", "subprocess.run", "torch.save"]
)
def test_targets_outside_the_allow_list_are_refused(target):
    node = OmegaConf.create({"model": {"_target_": target, "_partial_": True}})
    with pytest.raises(ConfigError, match="refused"):
        targets.check_targets(node)
    with pytest.raises(ConfigError, match="refused"):
        targets.instantiate(node.model)


def test_a_key_the_target_does_not_take_is_named():
    node = OmegaConf.create({"_target_": "torch.optim.SGD", "_partial_": True, "lrr": 1})
    with pytest.raises(ConfigError, match=r"\.lrr: unknown key for torch.optim.SGD"):
        targets.check_targets(node)


def test_type_follows_the_default():
    base = config.compose([])
    bad = OmegaConf.merge(base, {"trainer": {"epochs": "abc"}})
    with pytest.raises(ConfigError, match=r"trainer\.epochs.*expected an integer"):
        config_checks.check_types(bad, base)
    ok = OmegaConf.merge(base, {"optimizer": {"lr": 1}})  # an int where a float is expected
    config_checks.check_types(ok, base)


def test_full_batch_is_a_valid_batch_size():
    cfg = config.load(["trainer.batch_size=full"])
    assert cfg.trainer.batch_size == "full"


TRICKS = [
    (g, o)
    for g in ("activation", "init", "norm", "loss", "regularization")
    for o in config.options(g)
]


@pytest.mark.parametrize(("group", "option"), TRICKS, ids=[f"convnet-{g}={o}" for g, o in TRICKS])
def test_every_trick_also_builds_and_trains_in_a_convnet(tmp_path, group, option):
    overrides = [
        *FAST,
        "model=convnet",
        "model.depth=8",
        "model.width=4",
        *overrides_for(group, option),
    ]
    summary = train.run(config.load(overrides), Job(tmp_path, {group: option}, overrides))
    assert summary["status"] in ("completed", "early_stopped")


@pytest.mark.parametrize(
    "overrides",
    [
        ["optimizer=adam", "seed=3"],
        ["seed=4", "model.depth=8", "optimizer.lr=0.3"],
        ["experiment=degradation", "model.depth=56", "seed=1"],
        ["regularization=[l2,dropout]", "regularization.l2.lambda=0.01", "optimizer=adam"],
        ["optimizer=adam", "optimizer.betas=[0.8,0.9]", "name=${model.depth}"],
        ["data=mnist1d", "data.load.num_samples=100", "trainer.batch_size=full"],
        ["schedule=multistep", "schedule.curve.milestones=[0.3]", "init.bias=0.1"],
    ],
)
def test_value_overrides_applied_without_composing_again_give_hydras_config(overrides):
    # config.load composes the group choices once and applies key=value overrides itself
    assert OmegaConf.to_yaml(config.load(overrides)) == OmegaConf.to_yaml(config.compose(overrides))
