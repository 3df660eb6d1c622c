"""Hydra's private API, used in dltricks/hydra_compat.py only: these tests fail on a Hydra
upgrade that moves or changes it, before any user sees a traceback."""

from __future__ import annotations

from dltricks import hydra_compat


def test_hydra_is_the_supported_release():
    assert hydra_compat.version_supported(), "hydra_compat.py was written for hydra-core 1.3"


def test_parse_args_tells_multirun_cfg_and_overrides_apart():
    a = hydra_compat.parse_args(["-m", "seed=0,1", "--cfg", "job"])
    assert a.multirun and a.cfg == "job" and a.overrides == ["seed=0,1"]
    b = hydra_compat.parse_args(["--help"])
    assert b.help and not b.multirun


def test_sweep_jobs_expand_every_combination():
    jobs = hydra_compat.sweep_jobs(["model.depth=4,8", "seed=0,1,2", "name=x"])
    assert len(jobs) == 6
    assert ["model.depth=4", "seed=0", "name=x"] in jobs
    assert ["model.depth=8", "seed=2", "name=x"] in jobs
