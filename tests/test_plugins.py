"""Plugins (issue 16): the example plugin installed for real (pip, into a folder on the path),
its options used like built-in ones; --config-dir files held to the same allow-list; broken
plugins named, and the built-in options still working."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, dltricks, read_summary

EXAMPLE = ["data=iris", "model=funnel", "activation=swish", "optimizer=lion"]
PIP_INSTALL = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation"]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """examples/plugin, pip-installed (a copy: the build leaves nothing in the checkout)."""
    tmp = tmp_path_factory.mktemp("plugin")
    shutil.copytree(
        ROOT / "examples" / "plugin",
        tmp / "src",
        ignore=shutil.ignore_patterns("build", "*.egg-info"),
    )
    subprocess.run(
        [*PIP_INSTALL, "--target", str(tmp / "site"), str(tmp / "src")],
        check=True,
        capture_output=True,
    )
    return tmp / "site"


def with_site(site: Path) -> dict[str, str]:
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}


def fake_plugin(tmp_path: Path, name: str, module: str, files: dict[str, str]) -> Path:
    """A plugin's metadata (entry point) and its module's files, in a folder for PYTHONPATH."""
    site = tmp_path / f"site-{name}"
    info = site / f"{name}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[dltricks.plugins]\n{name} = {module}\n")
    for rel, text in files.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text(text)
    return site


def test_a_plugin_models_own_rules_are_checked_before_anything_is_built(site, tmp_path):
    # the funnel declares check_args (models/contract.py): 8 units halved 6 times is none
    run = tmp_path / "run"
    proc = dltricks(
        "train", f"hydra.run.dir={run}", *EXAMPLE, "model.depth=8", "model.width=8",
        env=with_site(site),
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "model.width=8: a funnel of depth 8 halves it 6 times" in proc.stderr
    assert not (run / "summary.json").exists()


def test_the_example_plugins_options_train_with_the_built_in_tricks_on_top(site, tmp_path):
    run = tmp_path / "run"
    proc = dltricks(
        "train", f"hydra.run.dir={run}", *EXAMPLE, "init=he", "norm=batch",
        "trainer.epochs=3", "trainer.batch_size=16", env=with_site(site),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = read_summary(run)
    assert summary["choices"]["data"] == "iris" and summary["choices"]["optimizer"] == "lion"
    assert summary["tricks"] == {"weight_layers": 3, "activation": 2, "norm": 2, "dropout": None}
    assert summary["init"]["scheme"] == "he" and summary["init"]["layers"] == 3
    assert summary["final"]["train_err"] < 0.7  # it learns


def test_train_help_lists_the_plugins_options_and_where_they_come_from(site):
    proc = dltricks("train", "--help", env=with_site(site))
    assert proc.returncode == 0, proc.stderr
    assert "swish (plugin example)" in proc.stdout and "lion (plugin example)" in proc.stdout
    assert "data: cifar10, digits" in proc.stdout and "iris (plugin example)" in proc.stdout


def test_help_imports_nothing_of_a_plugin(site):
    code = (
        "import sys\nfrom dltricks.cli import main\nmain(['--help'])\nmain(['train', '--help'])\n"
        "assert not any(m.startswith('dltricks_example') for m in sys.modules)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=with_site(site) | _env()
    )
    assert proc.returncode == 0, proc.stderr


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def test_an_uninstalled_plugins_option_lists_the_valid_ones(tmp_path):
    proc = dltricks("train", "model=funnel", f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 2 and "Valid options: convnet, mlp, rnn" in proc.stderr


def test_config_dir_yaml_is_an_option_held_to_the_allow_list(tmp_path):
    conf = tmp_path / "conf"
    (conf / "model").mkdir(parents=True)
    (conf / "model" / "wide.yaml").write_text(
        "_target_: dltricks.models.mlp.MLP\n_partial_: true\ndepth: 3\nwidth: 256\n"
    )
    (conf / "model" / "evil.yaml").write_text(
        f"_target_: os.system\n_partial_: true\ncommand: touch {tmp_path}/pwned\n"
    )
    ok = dltricks("train", "--config-dir", str(conf), "model=wide", "trainer.epochs=1",
                  f"hydra.run.dir={tmp_path}/ok")  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert read_summary(tmp_path / "ok")["params"] == 64 * 256 + 256 + 256 * 256 + 256 + 2570
    evil = dltricks("train", "--config-dir", str(conf), "model=evil", f"hydra.run.dir={tmp_path}/e")
    assert evil.returncode == 2 and "model._target_=os.system: refused" in evil.stderr
    assert "plugin" in evil.stderr and not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    ("files", "said"),
    [
        pytest.param({}, "no module ghost", marks=pytest.mark.slow),  # make test-all
        pytest.param(
            {"ghost/__init__.py": "", "ghost/conf/widget/x.yaml": "a: 1\n"},
            "no config group 'widget'",
            marks=pytest.mark.slow,
        ),
        (
            {"ghost/__init__.py": "", "ghost/conf/activation/relu.yaml": "_target_: x\n"},
            "activation=relu already comes from dltricks",
        ),
    ],
    ids=["missing", "unknown-group", "clash"],
)
def test_a_broken_plugin_is_named_and_the_built_in_options_keep_working(tmp_path, files, said):
    site = fake_plugin(tmp_path, "ghost", "ghost", files)
    proc = dltricks("train", "trainer.epochs=1", f"hydra.run.dir={tmp_path}/r", env=with_site(site))
    assert proc.returncode == 0, proc.stderr
    warning = [line for line in proc.stderr.splitlines() if "plugin ghost" in line]
    assert len(warning) == 1 and said in warning[0], proc.stderr
