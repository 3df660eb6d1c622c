"""Attacks on the command line and on the files a run leaves (issue 19): each class refused at
its root, with one line and exit 2, nothing run and nothing already written lost."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, dltricks, read_metrics, read_summary, train_run

from dltricks import cli, records

TINY = ["trainer.epochs=1", "model.width=8", "trainer.threads=1"]
DLTRICKS = [sys.executable, "-m", "dltricks"]
SLOW = ["data=mnist1d", "trainer.epochs=4", "model.width=512", "trainer.threads=1"]
ABSURD = ["trainer.epochs=100000000000", "model.width=8", "trainer.threads=1"]


def run_cli(*args: str, capsys) -> tuple[int, str]:
    """The command line in this process (for paths that end before any training)."""
    code = cli.main(list(args))
    return code, capsys.readouterr().err


class Marker:
    """A pickle that, loaded, would create a file: evidence of code execution."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("finished") / "run"
    train_run(run, *TINY)
    return run


def tampered(finished: Path, tmp_path: Path, overrides) -> Path:
    """A copy of a finished run whose summary.json replays `overrides`."""
    run = tmp_path / "shared"
    subprocess.run(["cp", "-r", str(finished), str(run)], check=True)
    summary = read_summary(run)
    summary["overrides"] = overrides
    (run / "summary.json").write_text(json.dumps(summary))
    (run / ".hydra" / "state.pt").write_bytes(pickle.dumps(Marker(str(tmp_path / "pwned"))))
    return run


# ---------------------------------------------------------------- 1 no code through the files


@pytest.mark.parametrize(
    "replayed",
    [
        [
            "+hydra.callbacks.x._target_=torch.load",
            "+hydra.callbacks.x.f=${hydra.run.dir}/.hydra/state.pt",
            "+hydra.callbacks.x.weights_only=false",
        ],
        ["hydra.job.env_set.LD_PRELOAD=/tmp/evil.so"],
        ["hydra/launcher=joblib"],
        ["trainer.resume=/elsewhere"],
        ["name=${oc.env:HOME}"],
        5,
        ["seed=0", 7],
    ],
    ids=[
        "callback",
        "env_set",
        "launcher",
        "resume-elsewhere",
        "env-resolver",
        "not-a-list",
        "odd",
    ],
)
def test_resume_replays_only_the_runs_own_keys(finished, tmp_path, replayed, capsys):
    run = tampered(finished, tmp_path, replayed)
    code, err = run_cli("resume", str(run), "trainer.epochs=2", capsys=capsys)
    assert code == 2 and "summary.json" in err and "refused" in err, err
    assert not (tmp_path / "pwned").exists()
    assert read_summary(run)["epochs"] == 1  # the run is as it was


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("+hydra.callbacks.x._target_=torch.load", "hydra.callbacks.x._target_"),
        ("hydra.job_logging.handlers.file.class=os.system", "hydra.job_logging.handlers"),
        ("+hydra.job_logging.formatters.simple.()=os.system", "formatters.simple.()"),
        ("hydra/launcher=nope", "Valid options: basic, joblib"),
    ],
)
def test_what_hydra_instantiates_passes_an_allow_list_too(tmp_path, override, named, capsys):
    code, err = run_cli("train", override, f"hydra.run.dir={tmp_path}/r", *TINY, capsys=capsys)
    assert code == 2 and named in err, err
    assert not (tmp_path / "r" / "summary.json").exists()


def test_a_tampered_resume_through_the_real_command_runs_nothing(finished, tmp_path):
    run = tampered(finished, tmp_path, ["+hydra.callbacks.x._target_=torch.load"])
    proc = dltricks("resume", str(run), "trainer.epochs=2")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert not (tmp_path / "pwned").exists()


# ---------------------------------------------------------------- 2 one writer per dir


def test_a_second_run_into_a_busy_dir_is_refused_naming_the_first(tmp_path):
    run = tmp_path / "same"
    first = subprocess.Popen(
        [
            *DLTRICKS,
            "train",
            f"hydra.run.dir={run}",
            "data=mnist1d",
            "trainer.epochs=4",
            "model.width=512",
            "trainer.threads=1",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while not (run / ".lock").exists() and time.time() < deadline:
        time.sleep(0.05)
    second = dltricks("train", f"hydra.run.dir={run}", "trainer.resume=x", *TINY)
    assert second.returncode == 2, second.stderr
    assert f"pid {first.pid}" in second.stderr and "another run" in second.stderr
    assert first.wait(timeout=300) == 0, first.stderr.read()
    assert read_metrics(run)["epoch"].tolist() == [1, 2, 3, 4]  # the first run's rows only
    assert read_summary(run)["status"] == "completed"


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / ".lock").write_text("pid 999999 on elsewhere since yesterday\n")
    train_run(run, *TINY)
    assert f"pid {read_summary(run)['pid']}" in (run / ".lock").read_text()


# ---------------------------------------------------------------- 3 a clean record on restart


def test_a_sweep_job_restarting_from_scratch_starts_a_clean_record(tmp_path):
    job = tmp_path / "0"
    proc = dltricks("train", "-m", *TINY, "seed=0", f"hydra.sweep.dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr
    # as after kill -9 before any checkpoint: running, a dead pid, two rows, no checkpoint
    summary = read_summary(job) | {"status": "running", "pid": 999999}
    (job / "summary.json").write_text(json.dumps(summary))
    (job / "checkpoint.pt").unlink()
    row = (job / "metrics.csv").read_text().splitlines()[1]
    with open(job / "metrics.csv", "a") as f:
        f.write(row + "\n")
    proc = dltricks("train", "-m", *TINY, "seed=0", f"hydra.sweep.dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr
    assert read_metrics(job)["epoch"].tolist() == [1]


# ---------------------------------------------------------------- 4 a search survives failures


# (failed trials recorded, the search going on: tests/test_sweeps.py's optuna test)


def test_a_search_space_out_of_range_is_refused_before_any_trial(tmp_path, capsys):
    code, err = run_cli(
        "train",
        "-m",
        "hydra/sweeper=search",
        "regularization=[l2]",
        "optimizer.lr=interval(-1.0, 1.0)",
        f"hydra.sweep.dir={tmp_path}/s",
        capsys=capsys,
    )
    assert code == 2 and "optimizer.lr=-1.0" in err, err
    assert not list((tmp_path / "s").glob("*/summary.json"))


# ---------------------------------------------------------------- 5 the report reads a schema


def test_the_report_lists_a_run_of_odd_types_and_shows_the_others(finished, tmp_path):
    odd = {
        "status": 7,
        "final": "abc",
        "best": {"val_err": "x"},
        "overrides": 5,
        "pid": "abc",
        "choices": {"model": 5},
        "sanity": {"initial_loss_ok": False, "initial_loss": "big"},
    }
    for i, (key, value) in enumerate(odd.items()):
        run = tmp_path / f"odd{i}"
        subprocess.run(["cp", "-r", str(finished), str(run)], check=True)
        (run / "summary.json").write_text(json.dumps(read_summary(finished) | {key: value}))
    (tmp_path / "list").mkdir()
    (tmp_path / "list" / "summary.json").write_text("[1, 2]")
    proc = dltricks("report", str(tmp_path), "--format", "csv")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stdout.count("\n") == len(odd) + 2  # header, every run (the odd ones too)
    notes = dltricks("report", str(tmp_path), "--format", "markdown").stdout
    for i, key in enumerate(odd):
        if key != "sanity":  # an odd sanity check is left unsaid, not a crash
            assert f"odd{i}: summary.json: ignored {key}" in notes, key
    assert "list: summary.json is not a JSON object" in notes


# ---------------------------------------------------------------- 6 caught before the job


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("seed=4294967296", "seed"),
        ("name=${oc.env:DLTRICKS_SURELY_UNSET}", "DLTRICKS_SURELY_UNSET"),
        ("name=${trainer.nope}", "trainer.nope"),
        ("data.load.num_samples=full", "data.load.num_samples"),
    ],
)
def test_values_that_would_fail_inside_the_job_are_refused_first(tmp_path, override, named, capsys):
    code, err = run_cli("train", override, f"hydra.run.dir={tmp_path}/r", capsys=capsys)
    assert code == 2 and named in err, err


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        (["-m", "seed=0,1", "hydra.sweep.subdir=${oops}"], "hydra.sweep.subdir=${oops}"),
        (["-m", "seed=0,1", "hydra.sweep.dir=${oops}"], "hydra.sweep.dir=${oops}"),
        (["hydra.run.dir=${oc.env:DLTRICKS_SURELY_UNSET}"], "DLTRICKS_SURELY_UNSET"),
        (["hydra.job.name=${trainer.nope}"], "hydra.job.name=${trainer.nope}"),
        (["-m", "hydra/sweeper=search", "optimizer=sgd", "hydra.sweeper.n_trials=${oops}"],
         "hydra.sweeper.n_trials"),
        (["-m", "hydra/launcher=stacked", "seed=0,1", "hydra.launcher.max_members=${oops}"],
         "hydra.launcher.max_members"),
    ],
)  # fmt: skip
def test_hydra_keys_that_would_not_resolve_are_refused_before_hydra_writes(
    tmp_path, overrides, named, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # a sweep dir of ${oops} would be made here
    where = [f"hydra.sweep.dir={tmp_path}/s"] if "hydra.sweep.dir=${oops}" not in overrides else []
    code, err = run_cli("train", *overrides, *where, capsys=capsys)
    assert code == 2 and named in err, err
    assert list(tmp_path.iterdir()) == []  # no multirun.yaml, no run dir


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        (["-m", "hydra.sweep.subdir=../escape"], "hydra.sweep.subdir=../escape: a job's dir"),
        (["-m", "hydra.sweep.subdir=${oc.env:DLTRICKS_ESCAPE}"], "must lie inside the sweep"),
        (["-m", "hydra.sweep.subdir=."], "hydra.sweep.subdir=.: a job's dir"),
        (["-m", "hydra.output_subdir=../escape"], "hydra.output_subdir=../escape: dltricks"),
        (["hydra.output_subdir=../escape"], "leave it as .hydra"),
        (["hydra.verbose=[1,2]"], "hydra.verbose=[1, 2]: must be"),
    ],
)
def test_hydra_keys_that_would_write_outside_a_run_are_refused(
    tmp_path, overrides, named, capsys, monkeypatch
):
    monkeypatch.setenv("DLTRICKS_ESCAPE", str(tmp_path / "escape"))
    args = ["seed=0,1"] if "-m" in overrides else []
    where = [f"hydra.sweep.dir={tmp_path}/s", f"hydra.run.dir={tmp_path}/s"]
    code, err = run_cli("train", *overrides, *args, *where, capsys=capsys)
    assert code == 2 and named in err, err
    assert list(tmp_path.iterdir()) == []  # neither the sweep dir nor ../escape


def test_a_jobs_override_dirname_is_hydras_own():
    from hydra._internal.config_loader_impl import get_overrides_dirname
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    from dltricks.hydra_compat import override_dirname

    jobs = [["seed=1", "optimizer=adam", "+x.y=a/..,b", "~z", "name='a=b'"],
            ["model.depth=20", "trainer.threads=1", "optimizer.lr=0.1"], []]  # fmt: skip
    for kv, item, exclude in (("=", ",", []), (":", "__", ["seed", "trainer.threads", "x.y"])):
        settings = OmegaConf.create({"kv_sep": kv, "item_sep": item, "exclude_keys": exclude})
        for job in jobs:
            parsed = OverridesParser.create().parse_overrides(job)
            hydra = get_overrides_dirname(parsed, exclude, item, kv)
            assert override_dirname(job, settings) == hydra, job


def test_hydra_keys_set_as_each_job_starts_still_interpolate(tmp_path):
    """A job's dir may lie deeper in the sweep dir: the tally, the skip and the report find it."""
    args = ["train", "-m", "seed=0,1", *TINY, f"hydra.sweep.dir={tmp_path}",
            "hydra.sweep.subdir=job/${hydra.job.num}"]  # fmt: skip
    proc = dltricks(*args)
    assert proc.returncode == 0 and "sweep of 2 jobs: 2 completed" in proc.stdout, proc.stderr
    assert sorted(p.name for p in (tmp_path / "job").iterdir()) == ["0", "1"]
    again = dltricks(*args).stdout
    assert again.count("already completed: skipped") == 2 and "2 completed" in again
    assert "job/1" in dltricks("report", str(tmp_path), "--format", "csv").stdout


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        (["transfer.freeze=4"], "transfer.freeze=4: the model has 4 weight layers"),
        (["model.width=100000000"], "Use a smaller model.width"),
        (["data.root=/etc/passwd"], "data.root=/etc/passwd"),
    ],
)
def test_values_the_build_refuses_exit_2_with_one_line(tmp_path, overrides, named):
    proc = dltricks("train", f"hydra.run.dir={tmp_path}", "trainer.epochs=1", *overrides)
    assert proc.returncode == 2 and named in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr


def test_files_that_are_not_what_they_claim_exit_2_naming_them(finished, tmp_path):
    import torch

    from dltricks.rundir import CHECKPOINT_FORMAT

    keyless = tmp_path / "keyless"
    subprocess.run(["cp", "-r", str(finished), str(keyless)], check=True)
    torch.save({"format": CHECKPOINT_FORMAT}, keyless / "checkpoint.pt")
    proc = dltricks("resume", str(keyless), "trainer.epochs=2")
    assert proc.returncode == 2 and "refused, lacks model" in proc.stderr, proc.stderr
    proc = dltricks("train", f"hydra.run.dir={tmp_path}/t", f"transfer.init_from={keyless}", *TINY)
    assert proc.returncode == 2 and "no model weights" in proc.stderr, proc.stderr
    root = tmp_path / "data"
    (root / "digits").mkdir(parents=True)
    train_run(tmp_path / "ok", *TINY, env={"DLTRICKS_DATA": str(root)})
    cache = next((root / "digits").glob("*.npz"))
    cache.write_bytes(b"PK\x03\x04 not a zip")
    proc = dltricks("train", f"hydra.run.dir={tmp_path}/c", *TINY, env={"DLTRICKS_DATA": str(root)})
    assert proc.returncode == 2 and str(cache) in proc.stderr and "delete it" in proc.stderr


def test_a_short_idx_header_is_bad_input(tmp_path):
    import gzip

    from dltricks.data import idx
    from dltricks.errors import BadFile

    path = tmp_path / "short.gz"
    with gzip.open(path, "wb") as f:
        f.write(bytes([0, 0, 8, 3, 0, 0]))
    with pytest.raises(BadFile, match="cut short"):
        idx.read_idx(path)


# ---------------------------------------------------------------- 7 no hang before a word


def test_an_absurd_epoch_count_starts_at_once(tmp_path):
    proc = subprocess.Popen(
        [
            *DLTRICKS,
            "train",
            f"hydra.run.dir={tmp_path}",
            "trainer.epochs=100000000000",
            "model.width=8",
            "trainer.threads=1",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        lines = [proc.stdout.readline() for _ in range(2)]
        assert "2,100,000,000,000 steps" in "".join(lines), lines
    finally:
        proc.kill()
        proc.wait()


def test_a_preview_of_a_hundred_billion_steps_computes_a_few(tmp_path, capsys):
    start = time.perf_counter()
    code, _ = run_cli("schedule", "sgdr", "--steps", "100000000000", capsys=capsys)
    assert code == 0 and time.perf_counter() - start < 20


# ---------------------------------------------------------------- 9 no escape codes, no HTML


def test_the_report_prints_no_terminal_codes_and_writes_no_html_from_a_run(finished, tmp_path):
    run = tmp_path / "evil"
    subprocess.run(["cp", "-r", str(finished), str(run)], check=True)
    summary = read_summary(run) | {
        "name": "\x1b[2J\x1b[Hall runs OK",
        "status": "failed",
        "error": "<img src=x onerror=alert(1)>",
        "overrides": ["name=\x1b]0;title\x07x"],
    }
    (run / "summary.json").write_text(json.dumps(summary))
    for fmt in ("table", "markdown", "csv"):
        proc = dltricks("report", str(tmp_path), "--format", fmt)
        assert proc.returncode == 0 and "\x1b" not in proc.stdout and "\x07" not in proc.stdout
    markdown = dltricks("report", str(tmp_path), "--format", "markdown").stdout
    assert "<img" not in markdown and "&lt;img" in markdown


# ---------------------------------------------------------------- 10 small ones


@pytest.mark.parametrize("out", ["/", "/no/such/dir/x.png", "curve"])
def test_schedule_out_must_be_a_png_in_an_existing_folder(out, capsys):
    code, err = run_cli("schedule", "cosine", "--out", out, capsys=capsys)
    assert code == 2 and f"--out {out}" in err, err


@pytest.mark.parametrize("args", [["--high-train-err", "nan"], ["--gap", "2"], ["--target", "x"]])
def test_report_thresholds_are_numbers_in_0_1(args, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["report", *args])
    assert exit_.value.code == 2 and args[0] in capsys.readouterr().err


def test_report_out_onto_a_file_exits_2(finished, tmp_path, capsys):
    target = tmp_path / "afile"
    target.write_text("keep me")
    code, err = run_cli("report", str(finished), "--out", str(target), capsys=capsys)
    assert code == 2 and "--out" in err and target.read_text() == "keep me"


def test_interrupted_runs_are_counted_apart_from_the_means(finished, tmp_path):
    for name, status, err in (
        ("a", "completed", 0.1),
        ("b", "completed", 0.3),
        ("c", "interrupted", 0.9),
    ):
        run = tmp_path / name
        subprocess.run(["cp", "-r", str(finished), str(run)], check=True)
        summary = read_summary(run)
        summary["status"] = status
        summary["final"] = {k: err for k in records.EVALUATED}
        (run / "summary.json").write_text(json.dumps(summary))
    proc = dltricks("report", str(tmp_path), "--by", "optimizer", "--format", "csv")
    line = proc.stdout.splitlines()[1]
    assert ",0.2," in line and ",2," in line and "(not in the means)" in line, proc.stdout


def test_a_garbage_metrics_csv_before_a_resume_is_moved_aside(finished, tmp_path):
    run = tmp_path / "run"
    subprocess.run(["cp", "-r", str(finished), str(run)], check=True)
    (run / "metrics.csv").write_text("garbage\x00\nmore garbage\n")
    proc = dltricks("resume", str(run), "trainer.epochs=2")
    assert proc.returncode == 0, proc.stderr
    assert (run / "metrics.csv.unreadable").read_text().startswith("garbage")
    assert read_metrics(run).columns[0] == "epoch"
    assert read_metrics(run)["epoch"].tolist() == [2]


def test_a_resume_leaves_out_summary_fields_of_the_wrong_type(finished, tmp_path):
    run = tmp_path / "run"
    subprocess.run(["cp", "-r", str(finished), str(run)], check=True)
    summary = json.loads((run / "summary.json").read_text())
    wrong = {"wall_s": "x", "resumed": {"a": 1}, "trackers": [1], "tricks": "many"}
    (run / "summary.json").write_text(json.dumps({**summary, **wrong}))
    proc = dltricks("resume", str(run), "trainer.epochs=2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "left out wall_s, tricks, trackers, resumed (not of its type)" in proc.stdout
    resumed = read_summary(run)
    assert resumed["status"] == "completed" and isinstance(resumed["wall_s"], float)
    assert resumed["resumed"] == [{"epoch": 2, "batch": 0, "step": resumed["steps"] // 2}]


def test_every_experiment_target_fails_with_its_sweep():
    makefile = (ROOT / "Makefile").read_text()
    assert "\t-$(DLT) train" not in makefile and "\t-$(BIN)/dltricks train" not in makefile


def test_a_sweep_with_a_failed_job_exits_1(tmp_path):
    proc = dltricks(
        "train", "-m", "model=mlp,rnn", "trainer.epochs=1", f"hydra.sweep.dir={tmp_path}"
    )
    assert proc.returncode == 1 and "1 completed, 1 failed" in proc.stdout, proc.stdout


def test_an_os_error_says_read_or_write_by_where_the_file_is(tmp_path):
    from dltricks.job import os_error

    run = tmp_path / "run"
    assert os_error(OSError(28, "No space left", str(run / "metrics.csv")), run).startswith(
        f"cannot write {run / 'metrics.csv'}"
    )
    assert os_error(OSError(13, "Permission denied", "/data/x.npz"), run).startswith(
        "cannot read /data/x.npz"
    )


# ================================================================ issue 27: hardening III
# Each class of attack on a shared run dir: exit 2 (or, for the report, a warning and the
# other runs listed), no traceback, nothing outside the run dir touched, nothing lost.


def copy_of(finished: Path, tmp_path: Path, name: str = "shared") -> Path:
    run = tmp_path / name
    subprocess.run(["cp", "-r", str(finished), str(run)], check=True)
    return run


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under a folder and its bytes (symlinks as their target's name), but for the
    lock, which any run that looks at a dir takes (and stamps)."""
    out = {}
    for path in sorted(p for p in folder.rglob("*") if p.name != ".lock"):
        if path.is_symlink():
            out[str(path.relative_to(folder))] = os.readlink(path).encode()
        elif path.is_file():
            out[str(path.relative_to(folder))] = path.read_bytes()
    return out


def refused(proc, *named: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    for word in named:
        assert word in proc.stderr, proc.stderr


# ---------------------------------------------------------------- 1 no code from a run dir


CODE = [
    "dltricks.optim.sgdw.torch.save",  # a module on the way that is not allowed
    "dltricks.data.digits.np.save",
    "dltricks.models.mlp.math.prod",
    "dltricks.rundir.files.write_json_atomic",  # dltricks', but no option's module
    "dltricks.build.Path",
    "torch.nn.modules.module.torch.save",
]


@pytest.mark.parametrize("target", CODE)
def test_a_target_is_allowed_by_the_object_it_names_not_its_spelling(tmp_path, target, capsys):
    code, err = run_cli(
        "train", f"optimizer._target_={target}", f"hydra.run.dir={tmp_path}/r", *TINY,
        capsys=capsys,
    )  # fmt: skip
    assert code == 2 and "refused" in err and target in err, err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "override",
    [
        "init.bias=[{_target_:dltricks.rundir.files.write_json_atomic,path:/tmp/x,data:{}}]",
        "optimizer.betas=[0.9,{_target_:torch.nn.Identity}]",
        "init.bias={_target_:torch.nn.Identity}",
    ],
    ids=["list-at-a-null-key", "list-of-numbers", "mapping-at-a-null-key"],
)
def test_a_value_key_never_takes_a_mapping_with_a_target(tmp_path, override, capsys):
    code, err = run_cli("train", override, f"hydra.run.dir={tmp_path}/r", *TINY, capsys=capsys)
    assert (code == 2 and "init" in err) or "optimizer" in err, err
    assert not (tmp_path / "r").exists()


def _replay(run: Path, overrides: list[str]) -> None:
    """A run dir edited so that its summary.json replays `overrides` and its checkpoint's
    config matches them (what an attacker with write access would do)."""
    import torch

    summary = read_summary(run)
    summary["overrides"] = overrides
    (run / "summary.json").write_text(json.dumps(summary))
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    config = state["config"].replace("torch.optim.SGD", "dltricks.optim.sgdw.torch.save")
    torch.save({**state, "config": config}, run / "checkpoint.pt")


@pytest.mark.parametrize("command", ["resume", "ensemble"])
def test_a_replayed_target_runs_nothing(finished, tmp_path, command, capsys):
    run = copy_of(finished, tmp_path)
    _replay(run, [*TINY, "optimizer._target_=dltricks.optim.sgdw.torch.save"])
    before = snapshot(run)
    args = [str(run), "trainer.epochs=2"] if command == "resume" else [str(run), str(finished)]
    code, err = run_cli(command, *args, capsys=capsys)
    assert code == 2 and "dltricks.optim.sgdw.torch.save: refused" in err, err
    assert snapshot(run) == before


# ---------------------------------------------------------------- 2 symlinks are refused


@pytest.mark.parametrize(
    "link", [".lock", "train.log", ".hydra/overrides.yaml", "tensorboard", "summary.json"]
)
def test_a_symlinked_run_file_is_refused_and_nothing_outside_is_written(finished, tmp_path, link):
    run = copy_of(finished, tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_text("keep me\n")
    target = outside if link == "tensorboard" else outside / "victim"
    if (run / link).exists():
        (run / link).unlink()
    (run / link).symlink_to(target)
    proc = dltricks("resume", str(run), "trainer.epochs=2")
    refused(proc, "symlink")
    assert snapshot(outside) == {"victim": b"keep me\n"}


@pytest.mark.parametrize("command", ["resume", "transfer", "ensemble"])
def test_a_checkpoint_pointing_elsewhere_is_refused(finished, tmp_path, command):
    run = copy_of(finished, tmp_path)
    (tmp_path / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (run / "checkpoint.pt").unlink()
    (run / "checkpoint.pt").symlink_to(tmp_path / "passwd")
    args = {
        "resume": ["resume", str(run), "trainer.epochs=2"],
        "transfer": ["train", f"hydra.run.dir={tmp_path}/t", f"transfer.init_from={run}", *TINY],
        "ensemble": ["ensemble", str(run), str(finished)],
    }[command]
    refused(dltricks(*args), "checkpoint.pt", "symlink")


def test_a_sweep_dir_with_a_symlinked_job_file_is_refused_before_hydra_writes(tmp_path):
    sweep = tmp_path / "sweep"
    proc = dltricks("train", "-m", *TINY, "seed=0,1", f"hydra.sweep.dir={sweep}")
    assert proc.returncode == 0, proc.stderr
    (tmp_path / "victim").write_text("keep me\n")
    (sweep / "0" / ".hydra" / "overrides.yaml").unlink()
    (sweep / "0" / ".hydra" / "overrides.yaml").symlink_to(tmp_path / "victim")
    proc = dltricks("train", "-m", *TINY, "seed=0,1", f"hydra.sweep.dir={sweep}")
    refused(proc, "overrides.yaml", "symlink")
    assert (tmp_path / "victim").read_text() == "keep me\n"


# ---------------------------------------------------------------- 3 nowhere a run does not belong


@pytest.mark.parametrize("multirun", [False, True], ids=["run", "sweep"])
def test_a_dir_of_other_files_is_no_run_dir(tmp_path, multirun):
    folder = tmp_path / "home"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine\n")
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    args = ["-m", "seed=0,1"] if multirun else []
    refused(dltricks("train", *args, f"{key}={folder}", *TINY), f"{key}={folder}", "not a dltricks")
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]


def test_the_root_of_the_file_system_is_no_run_dir(capsys):
    before = sorted(os.listdir("/"))
    code, err = run_cli("train", "hydra.run.dir=/", *TINY, capsys=capsys)
    assert code == 2 and "not a dltricks run" in err, err
    assert sorted(os.listdir("/")) == before


@pytest.mark.parametrize("scheme", ["file", "sqlite"])
def test_a_tracker_store_is_never_made_among_other_files(tmp_path, scheme, capsys):
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "passwd").write_text("root:x:0:0\n")
    uri = f"file://{folder}" if scheme == "file" else f"sqlite:///{folder}/passwd"
    code, err = run_cli(
        "train", "logger=mlflow", f"logger.mlflow.tracking_uri={uri}",
        f"hydra.run.dir={tmp_path}/r", *TINY, capsys=capsys,
    )  # fmt: skip
    assert code == 2 and "logger.mlflow.tracking_uri" in err, err
    assert snapshot(folder) == {"passwd": b"root:x:0:0\n"}
    assert not (tmp_path / "r").exists()


def test_a_replayed_tracking_uri_never_makes_a_store(finished, tmp_path):
    pytest.importorskip("mlflow")
    run = copy_of(finished, tmp_path)
    store = tmp_path / "elsewhere" / "mlruns"
    uri = f"file://{store}"
    summary = read_summary(run)
    summary["overrides"] = [
        *summary["overrides"],
        "logger=mlflow",
        f"logger.mlflow.tracking_uri={uri}",
    ]
    (run / "summary.json").write_text(json.dumps(summary))
    import torch

    state = torch.load(run / "checkpoint.pt", weights_only=True)
    config = state["config"].replace(
        "logger: {}", f"logger:\n  mlflow:\n    _target_: dltricks.trackers.MLflow\n"
        f"    tracking_uri: {uri}\n    experiment: null"
    )  # fmt: skip
    torch.save({**state, "config": config}, run / "checkpoint.pt")
    proc = dltricks("resume", str(run), "trainer.epochs=2")
    assert proc.returncode == 0 and "logger mlflow failed" in proc.stderr, proc.stderr
    assert not store.exists() and not store.parent.exists()


# ---------------------------------------------------------------- 4 a checkpoint read to a schema


def _edit_checkpoint(run: Path, edit) -> None:
    import torch

    state = torch.load(run / "checkpoint.pt", weights_only=True)
    edit(state)
    torch.save(state, run / "checkpoint.pt")


def _weights_as(dtype):
    def edit(state):
        state["model"] = {k: v.to(dtype) for k, v in state["model"].items()}

    return edit


CHECKPOINTS = {
    "position-a-list": (lambda s: s.update(position=[1, 2]), "position is not a dict"),
    "epoch-a-string": (lambda s: s["position"].update(epoch="abc"), "position.epoch"),
    "batch-beyond": (lambda s: s["position"].update(batch=10**9), "position.batch"),
    "unknown-field": (lambda s: s["position"].update(extra=1), "position.extra"),
    "best-not-a-row": (lambda s: s["position"].update(best={"val_err": "x"}), "position.best"),
    "numpy-state": (lambda s: s["random"].update(numpy=["MT19937", 5, 0, 0, 0.0]), "random.numpy"),
    "torch-state": (lambda s: s["random"].update(torch="abc"), "random.torch"),
    "python-state": (lambda s: s["random"].update(python=[3, [0] * 10, None]), "random.python"),
    "int64-weights": (_weights_as(__import__("torch").int64), "torch.int64"),
    "complex-weights": (_weights_as(__import__("torch").complex64), "torch.complex64"),
    "missing-weight": (lambda s: s["model"].popitem(), "model does not hold"),
}


@pytest.mark.parametrize("case", list(CHECKPOINTS), ids=list(CHECKPOINTS))
def test_a_checkpoint_field_that_does_not_fit_is_refused_and_the_run_kept(finished, tmp_path, case):
    edit, named = CHECKPOINTS[case]
    run = copy_of(finished, tmp_path)
    _edit_checkpoint(run, edit)
    before = snapshot(run)
    refused(dltricks("resume", str(run), "trainer.epochs=2"), named)
    assert snapshot(run) == before  # the summary still says completed, the metrics are whole


# ---------------------------------------------------------------- 5 extreme files


def _deep(n: int) -> str:
    return "[" * n + "]" * n


ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)  # "billion laughs": 9**9 strings from a few lines
EXTREME = {
    "nested": lambda run: (run / "summary.json").write_text(
        json.dumps(read_summary(run))[:-1] + f', "x": {_deep(1000)}}}'
    ),
    "huge-int": lambda run: (run / "summary.json").write_text(
        json.dumps(read_summary(run)).replace('"steps": ', '"steps": ' + "9" * 400 + ', "s": ')
    ),
    "long-field": lambda run: (run / "metrics.csv").write_text(
        (run / "metrics.csv").read_text() + "1," + "9" * 200_000 + "\n"
    ),
    "alias-bomb": lambda run: (run / ".hydra" / "config.yaml").write_text(ALIAS_BOMB),
    "fifo": lambda run: ((run / "summary.json").unlink(), os.mkfifo(run / "summary.json")),
    "a-folder": lambda run: ((run / "metrics.csv").unlink(), (run / "metrics.csv").mkdir()),
}


@pytest.mark.parametrize("case", list(EXTREME), ids=list(EXTREME))
def test_the_report_lists_an_extreme_run_with_a_warning_and_the_others(finished, tmp_path, case):
    copy_of(finished, tmp_path, "good")
    EXTREME[case](copy_of(finished, tmp_path, "odd"))
    start = time.perf_counter()
    proc = dltricks("report", str(tmp_path), "--format", "markdown", process=True, timeout=60)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert time.perf_counter() - start < 30
    assert "| good " in proc.stdout and "| odd " in proc.stdout, proc.stdout
    assert "odd: " in proc.stdout  # its warning


def test_a_folder_nested_a_thousand_deep_beside_a_run_is_no_recursion_error(finished, tmp_path):
    from dltricks import rundir

    good = copy_of(finished, tmp_path, "good")
    deep = tmp_path / "deep"
    deep.mkdir()
    try:
        nest(deep, 1200)
        assert [j.path for j in rundir.jobs(tmp_path)] == [good]  # the tally's walk
        proc = dltricks("report", str(tmp_path), "--format", "markdown", process=True)
        assert proc.returncode == 0 and "| good " in proc.stdout, proc.stderr
    finally:  # a level at a time (shutil.rmtree, pytest's too, would recurse as deep)
        while (deep / "d").exists():
            if (deep / "d" / "d").exists():
                os.rename(deep / "d" / "d", deep / "up")
            os.rmdir(deep / "d")
            if (deep / "up").exists():
                os.rename(deep / "up", deep / "d")


def nest(folder: Path, n: int) -> None:
    """`folder`/d/d/.../d, n deep, each made relative to its parent (no path that long)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        for _ in range(n):
            os.mkdir("d", dir_fd=fd)
            fd, parent = os.open("d", os.O_RDONLY, dir_fd=fd), fd
            os.close(parent)
    finally:
        os.close(fd)


@pytest.mark.parametrize("case", ["nested", "huge-int", "fifo"])
def test_a_resume_of_an_extreme_summary_exits_2(finished, tmp_path, case):
    run = copy_of(finished, tmp_path)
    EXTREME[case](run)
    proc = dltricks("resume", str(run), "trainer.epochs=2", process=True, timeout=60)
    refused(proc, "summary.json")


@pytest.mark.parametrize(
    ("name", "kind"),
    [(".hydra", "a file"), ("checkpoint.pt", "a folder"), ("train.log", "a folder"),
     (".hydra/overrides.yaml", "a folder")],
)  # fmt: skip
def test_a_resume_of_a_run_file_of_the_wrong_kind_exits_2_naming_it(finished, tmp_path, name, kind):
    import shutil

    run = copy_of(finished, tmp_path)
    target = run / name
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    target.write_text("x") if kind == "a file" else target.mkdir()
    before = (run / "summary.json").read_bytes()
    proc = dltricks("resume", str(run), "trainer.epochs=2", process=True, timeout=60)
    refused(proc, name)
    assert (run / "summary.json").read_bytes() == before  # nothing rewritten


@pytest.mark.parametrize(
    ("text", "code"),
    [("epoch,layer\n1,\x1b[31m\n", 2), ("x\n", 2), ("epoch,index,grad_norm\n0,0,1\n", 0)],
    ids=["no-stats", "no-columns", "some-stats"],
)
def test_a_layers_csv_that_lacks_columns_is_no_keyerror(finished, tmp_path, text, code):
    (tmp_path / "runs").mkdir()
    run = copy_of(finished, tmp_path / "runs", "odd")
    (run / "layers.csv").write_text(text)
    proc = dltricks("report", str(tmp_path / "runs"), "--layers", "--format", "markdown")
    assert proc.returncode == code and "Traceback" not in proc.stderr, proc.stderr
    if code:
        assert "--layers: no per-layer statistics (layers.csv)" in proc.stderr


def test_a_sweep_rerun_over_a_job_whose_record_is_a_file_exits_2(finished, tmp_path, capsys):
    import shutil

    (tmp_path / "sweep").mkdir()
    job = copy_of(finished, tmp_path / "sweep", "0")
    shutil.rmtree(job / ".hydra")
    (job / ".hydra").write_text("x")
    code, err = run_cli("train", "-m", "seed=0,1", f"hydra.sweep.dir={tmp_path / 'sweep'}",
                        capsys=capsys)  # fmt: skip
    assert code == 2 and f"{job / '.hydra'}: refused, not a folder" in err, err
    assert sorted(p.name for p in (tmp_path / "sweep").iterdir()) == ["0"]


def test_a_resume_moves_an_overlong_metrics_line_aside_and_keeps_its_rows(finished, tmp_path):
    run = copy_of(finished, tmp_path)
    EXTREME["long-field"](run)
    proc = dltricks("resume", str(run), "trainer.epochs=2")
    assert proc.returncode == 0, proc.stderr
    assert "9" * 200_000 in (run / "metrics.csv.unreadable").read_text()  # nothing lost
    assert read_metrics(run)["epoch"].tolist() == [1, 2]


def test_a_huge_metrics_file_is_read_a_column_at_a_time(tmp_path):
    from dltricks.records import METRIC_COLUMNS
    from dltricks.rundir import RunDir

    row = ",".join(["1"] * len(METRIC_COLUMNS)) + "\n"
    (tmp_path / "metrics.csv").write_text(",".join(METRIC_COLUMNS) + "\n" + row * 200_000)
    columns, warnings = RunDir(tmp_path).read_metrics(("step", "val_err"))
    assert set(columns) == {"step", "val_err"} and not warnings
    assert len(columns["step"]) == 200_000 and columns["step"].itemsize == 8  # 8 bytes a cell


@pytest.mark.slow
def test_a_million_row_metrics_file_is_reported_in_bounded_memory(tmp_path):

    from dltricks.records import METRIC_COLUMNS

    run = tmp_path / "run"
    run.mkdir()
    rest = ",".join(["0.5"] * (len(METRIC_COLUMNS) - 2))
    with open(run / "metrics.csv", "w") as f:
        f.write(",".join(METRIC_COLUMNS) + "\n")
        f.writelines(f"{i},{i},{rest}\n" for i in range(1, 1_000_001))
    # VmHWM, this process's own peak: ru_maxrss keeps the high-water mark of the process
    # that forked it (an xdist worker that has trained nets in-process) across exec
    code = (
        "import re, sys; from dltricks.cli import main; "
        f"rc = main(['report', '{run}', '--out', '{tmp_path}/out']); "
        "status = open('/proc/self/status').read(); "
        r"print(re.search(r'VmHWM:\s*(\d+)', status).group(1)); sys.exit(rc)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    peak_mb = int(proc.stdout.splitlines()[-1]) / 1024
    assert peak_mb < 600, peak_mb  # 2.1 GB before the columns were read one by one
    assert (tmp_path / "out" / "curves.png").exists()
