"""The command line as users and scripts meet it: the real `dltricks` in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import dltricks, read_metrics, read_summary, train_run

from dltricks.records import METRIC_COLUMNS

TINY = ["trainer.epochs=2", "model.width=32"]


def test_mission_example_writes_metrics_and_summary(tmp_path):
    proc = train_run(tmp_path / "run", "optimizer=adam", "activation=relu", *TINY)
    metrics = read_metrics(tmp_path / "run")
    assert list(metrics.columns[: len(METRIC_COLUMNS)]) == METRIC_COLUMNS
    assert len(metrics) == 2
    assert metrics["epoch"].tolist() == [1, 2]
    for col in ("train_err", "val_err", "test_err"):
        assert metrics[col].between(0, 1).all()
    summary = read_summary(tmp_path / "run")
    assert summary["status"] == "completed"
    assert summary["choices"]["optimizer"] == "adam"
    assert summary["choices"]["activation"] == "relu"
    assert summary["overrides"][:2] == ["optimizer=adam", "activation=relu"]
    assert set(summary["final"]) == {
        f"{s}_{m}" for s in ("train", "val", "test") for m in ("loss", "err")
    }
    assert summary["params"] > 0 and summary["epochs"] == 2
    assert (tmp_path / "run" / ".hydra" / "config.yaml").exists()
    assert "completed:" in proc.stdout  # the one-line result


def test_same_seed_same_metrics(tmp_path):
    for name in ("a", "b"):
        train_run(tmp_path / name, "regularization=[dropout]", "seed=3", *TINY)
    a, b = read_metrics(tmp_path / "a"), read_metrics(tmp_path / "b")
    cols = [c for c in METRIC_COLUMNS if c.endswith(("_loss", "_err"))]
    assert a[cols].equals(b[cols])


def test_other_seed_other_metrics(tmp_path):
    for seed in (0, 1):
        train_run(tmp_path / str(seed), f"seed={seed}", *TINY)
    assert not read_metrics(tmp_path / "0")["train_loss"].equals(
        read_metrics(tmp_path / "1")["train_loss"]
    )


def test_divergence_is_a_result_not_a_crash(tmp_path):
    proc = train_run(tmp_path / "run", "optimizer=sgd", "optimizer.lr=1e6", "trainer.epochs=3")
    summary = read_summary(tmp_path / "run")
    assert summary["status"] == "diverged", proc.stdout
    assert summary["diverged_at_step"] > 0


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("optimizer=adamm", "optimizer"),
        ("optimizer.lrr=1", "optimizer.lrr"),
        ("+optimizer.lrr=1", "optimizer.lrr"),
        ("optimizer.lr=-1", "optimizer.lr"),
        ("trainer.epochs=abc", "trainer.epochs"),
        ("model.depth=0", "model.depth"),
        ("regularization=[l2,foo]", "regularization"),
        ("trainer.batch_size=100000", "trainer.batch_size"),
        ("trainer.device=gpu", "trainer.device"),
        ("data.preprocess=zscore", "data.preprocess"),
        ("optimizer=adam optimizer.betas=[0.9,1.5]", "optimizer.betas"),
        ("seed=-1", "seed"),
    ],
)
def test_bad_input_exits_2_with_one_clear_message(tmp_path, override, named):
    proc = dltricks("train", f"hydra.run.dir={tmp_path}/run", *override.split())
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert named in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.stderr.startswith("dltricks: error:")


def test_unknown_group_option_lists_the_valid_ones(tmp_path):
    proc = dltricks("train", "optimizer=adamm", cwd=tmp_path)
    from dltricks import config

    assert "Valid options: " + ", ".join(config.options("optimizer")) in proc.stderr
    assert not (tmp_path / "outputs").exists()  # refused before Hydra made a run dir


def test_help_lists_subcommands_without_importing_torch():
    code = (
        "import sys; from dltricks.cli import main; main(['--help']); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "train" in proc.stdout and "report" in proc.stdout


def test_train_help_shows_groups_without_importing_torch():
    code = (
        "import sys; from dltricks.cli import main\n"
        "try:\n    main(['train', '--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "optimizer: adabound, adadelta" in proc.stdout and "swats" in proc.stdout


def test_cfg_job_prints_the_composed_config():
    proc = dltricks("train", "--cfg", "job", "optimizer=adam")
    assert proc.returncode == 0, proc.stderr
    assert "torch.optim.Adam" in proc.stdout


def test_flags_after_the_overrides_work_with_a_config_dir(tmp_path):
    """dltricks adds overrides of its own (here the --config-dir's search path) among the
    user's, never after a flag, where argparse would refuse them."""
    launcher = tmp_path / "conf" / "hydra" / "launcher"
    launcher.mkdir(parents=True)
    (launcher / "mycluster.yaml").write_text("defaults:\n  - slurm\n\npartition: long\n")
    args = ["hydra/launcher=mycluster", "seed=0", "--cfg", "hydra"]
    proc = dltricks("train", "--config-dir", str(tmp_path / "conf"), *args)
    assert proc.returncode == 0, proc.stderr
    assert "partition: long" in proc.stdout and "SlurmLauncher" in proc.stdout


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["-m", "--cfg", "job"], "--multirun (-m) and --cfg do not go together"),
        (["--resolve"], "--resolve goes with --cfg"),
    ],
)
def test_flags_that_do_not_go_together_exit_2(flags, said):
    proc = dltricks("train", *flags, "seed=0")
    assert proc.returncode == 2 and said in proc.stderr and "Traceback" not in proc.stderr


def test_unknown_command_exits_2():
    proc = dltricks("trian")
    assert proc.returncode == 2
    assert "unknown command 'trian'" in proc.stderr


def test_sweep_writes_one_run_dir_per_job(tmp_path):
    proc = dltricks(
        "train", "-m", "model.depth=2,3", "trainer.epochs=1", f"hydra.sweep.dir={tmp_path}/sweep"
    )
    assert proc.returncode == 0, proc.stderr
    for job in ("0", "1"):
        assert read_summary(tmp_path / "sweep" / job)["status"] == "completed"


def test_options_of_every_group_combine_in_one_sweep(tmp_path):
    proc = dltricks(
        "train",
        "-m",
        "regularization=[dropout,l2],[augment,early_stopping]",
        "activation=maxout,prelu",
        "norm=layer,batch",
        "loss=mse",
        "trainer.epochs=1",
        "model.width=8",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert proc.returncode == 0, proc.stderr
    jobs = sorted(p for p in tmp_path.iterdir() if p.is_dir())
    assert len(jobs) == 8
    assert {tuple(read_summary(j)["choices"]["regularization"]) for j in jobs} == {
        ("dropout", "l2"),
        ("augment", "early_stopping"),
    }
    report = dltricks("report", str(tmp_path), "--by", "regularization,activation")
    assert report.returncode == 0 and "dropout+l2" in report.stdout


def test_shell_completion_completes_commands_and_train_overrides(tmp_path):
    script = dltricks("train", "-sc", "install=bash").stdout
    assert "complete -o nospace -o default -F _dltricks_completion dltricks" in script
    (tmp_path / "comp.sh").write_text(script)
    probe = """source {script}
complete_line() {{
  COMP_LINE="$1"; COMP_POINT=${{#COMP_LINE}}; COMP_WORDS=($COMP_LINE)
  COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
  _dltricks_completion; echo "${{COMPREPLY[@]}}"
}}
complete_line "dltricks tr"
complete_line "dltricks train optimizer=ad"
complete_line "dltricks train trainer.ep"
""".format(script=tmp_path / "comp.sh")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    out = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, env=env).stdout
    commands, options, keys = out.splitlines()
    assert commands == "train"
    assert "optimizer=adam" in options.split() and "optimizer=adamw" in options.split()
    assert keys == "trainer.epochs="


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["epochs=3"], "Did you mean trainer.epochs"),
        (["optimizer.lrr=0.1"], "Did you mean optimizer.lr?"),
        (["model.depth=4,12"], "to sweep over them, add --multirun (-m)"),
    ],
)
def test_a_typo_or_a_forgotten_m_gets_a_hint(args, said, tmp_path):
    proc = dltricks("train", *args, f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 2 and said in proc.stderr, proc.stderr


def test_make_help_lists_every_target():
    import re

    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    documented = set(re.findall(r"^([a-z0-9_-]+):.*## ", makefile, re.M))
    shown = subprocess.run(["make", "-s", "help"], capture_output=True, text=True).stdout
    listed = {line.split()[1] for line in shown.splitlines() if line.strip()}
    assert {"vanishing_gradient", "init_stats", "mnist1d_table"} <= listed
    assert documented == listed
