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


def test_hydra_probes_the_mode_with_get_mode_and_known_mode_answers_it():
    import inspect

    from hydra._internal.hydra import Hydra

    assert list(inspect.signature(Hydra.get_mode).parameters) == [
        "self",
        "config_name",
        "overrides",
    ]
    probe = Hydra.get_mode
    with hydra_compat.known_mode("MULTIRUN"):
        assert Hydra.get_mode(None, "config", []) == "MULTIRUN"
    assert Hydra.get_mode is probe  # put back: a later call in this process probes again


def test_a_run_composes_its_config_once_in_hydra(tmp_path, monkeypatch):
    from conftest import dltricks
    from hydra._internal.hydra import Hydra
    from hydra.types import RunMode

    composed = []
    compose = Hydra.compose_config

    def counted(self, *args, **kwargs):
        composed.append(kwargs.get("run_mode"))
        return compose(self, *args, **kwargs)

    monkeypatch.setattr(Hydra, "compose_config", counted)
    proc = dltricks("train", "trainer.epochs=1", "model.width=8", f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr
    # Hydra runs it (RUN; dltricks' own check may be cached), and get_mode's probe, which
    # composes for MULTIRUN, is spared
    assert RunMode.RUN in composed and RunMode.MULTIRUN not in composed, composed
    sweep = dltricks("train", "-m", "seed=0,1", "trainer.epochs=1", f"hydra.sweep.dir={tmp_path}/s")
    assert sweep.returncode == 0 and "sweep of 2 jobs: 2 completed" in sweep.stdout
