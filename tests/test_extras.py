"""An option whose plugin is not installed (an extra of pyproject.toml) is bad input: exit 2
with the `pip install 'dltricks[EXTRA]'` that fixes it, before any job starts."""

from __future__ import annotations

import pytest
from conftest import dltricks

from dltricks import extras
from dltricks.config_checks import first_lines


@pytest.fixture
def nothing_installed(monkeypatch):
    monkeypatch.setattr(extras, "installed", lambda module: False)


def test_every_option_that_needs_an_extra_names_one_of_pyprojects_extras():
    from pathlib import Path

    import tomllib

    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    declared = set(pyproject["project"]["optional-dependencies"])
    assert {extra for _, extra in extras.NEEDS.values()} <= declared


def test_installed_options_need_nothing():
    assert extras.installed("hydra_plugins.hydra_joblib_launcher")
    assert extras.missing("hydra/launcher", "joblib") is None
    assert extras.missing("optimizer", "adam") is None  # not an extra's option
    assert not extras.installed("no_such_package.sub")


def test_a_missing_extra_is_named_with_its_install_command(nothing_installed):
    message = extras.missing("hydra/launcher", "ray")
    assert "hydra_plugins.hydra_ray_launcher" in message
    assert "pip install 'dltricks[ray]'" in message


@pytest.mark.parametrize(
    "args, extra",
    [
        (["-m", "hydra/launcher=ray", "seed=0,1"], "ray"),
        (["-m", "hydra/launcher=slurm", "seed=0,1"], "sweep"),
        (["-m", "hydra/sweeper=search"], "search"),
        (["logger=tensorboard"], "track"),
        (["logger=[tensorboard,mlflow]"], "track"),
    ],
)
def test_train_with_an_option_of_a_missing_extra_exits_2_naming_it(
    nothing_installed, tmp_path, args, extra
):
    flags, overrides = args[:1] if args[0] == "-m" else [], [a for a in args if a != "-m"]
    where = [f"hydra.run.dir={tmp_path}/run", f"hydra.sweep.dir={tmp_path}/sweep"]
    proc = dltricks("train", *flags, *where, *overrides)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"pip install 'dltricks[{extra}]'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not list(tmp_path.iterdir())  # no job started, nothing written


def test_hydras_could_not_find_of_a_plugins_option_names_the_extra(nothing_installed):
    # without the submitit plugin, Hydra cannot find the option our slurm.yaml extends
    err = RuntimeError(
        "In 'hydra/launcher/slurm': Could not find 'hydra/launcher/submitit_slurm'\n\n"
        "Available options in 'hydra/launcher':\n\tbasic\n\tslurm\n"
    )
    assert "pip install 'dltricks[sweep]'" in first_lines(err)


def test_hydras_could_not_find_of_an_unknown_option_lists_the_valid_ones():
    err = RuntimeError(
        "Could not find 'optimizer/adamm'\n\n"
        "Available options in 'optimizer':\n\tadam\n\tsgd\n\nConfig search path: ..."
    )
    assert first_lines(err) == (
        "optimizer=adamm: no such option in group 'optimizer'. Valid options: adam, sgd"
    )


@pytest.mark.parametrize(
    ("storage", "said"),
    [
        ("postgresql://user:pw@127.0.0.1:1/db", "pip install 'psycopg[binary]'"),
        ("sqlite:///{tmp}/a_file/study.db", "cannot make"),
        ("nosuchdb://host/db", "cannot open the study"),
    ],
)
def test_a_shared_study_that_cannot_be_opened_exits_2_naming_its_url(tmp_path, storage, said):
    pytest.importorskip("optuna")
    if "postgresql" in storage and extras.installed("psycopg"):
        pytest.skip("psycopg is installed here: the driver is not missing")
    (tmp_path / "a_file").write_text("not a folder")
    storage = storage.format(tmp=tmp_path)
    study = [f"hydra.sweeper.storage={storage}", "hydra.sweeper.study_name=s"]
    where = f"hydra.sweep.dir={tmp_path}/sweep"
    proc = dltricks("train", "-m", "hydra/sweeper=search", "regularization=[l2]", where, *study)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"hydra.sweeper.storage={storage}" in proc.stderr and said in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "sweep").exists()


def test_a_shared_sqlite_studys_folder_is_made_like_outputs(tmp_path):
    pytest.importorskip("optuna")
    db = tmp_path / "outputs" / "study.db"  # outputs/ not made yet
    args = ["-m", "hydra/sweeper=search", "regularization=[l2]", "hydra.sweeper.n_trials=1"]
    study = [f"hydra.sweeper.storage=sqlite:///{db}", "hydra.sweeper.study_name=s"]
    tiny = ["trainer.epochs=1", "model.width=16", f"hydra.sweep.dir={tmp_path}/sweep"]
    proc = dltricks("train", *args, *study, *tiny)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert db.is_file() and "search of 1 trials: 1 completed" in proc.stdout
