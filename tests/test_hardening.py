"""Attacks on the command line and on the files a run leaves (issue 19): each class refused at
its root, with one line and exit 2, nothing run and nothing already written lost."""

from __future__ import annotations

import json
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
