"""Sweeps on real engines, started and stopped here (`make test-cluster`): a one-node SLURM
cluster from Debian's packages (cluster/slurm.sh), a local Ray cluster, and one Optuna study
in SQLite filled by two search processes at once."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import EXACT, ROOT, read_metrics, read_summary, train_run

from dltricks.rundir import RunDir

pytestmark = pytest.mark.cluster

TINY = ["trainer.epochs=2", "model.width=16", "trainer.threads=1"]
SLURM = ["hydra/launcher=slurm", "hydra.launcher.partition=local", "hydra.launcher.gpus_per_node=0"]
BIN = Path(sys.executable).parent


def sh(*args: str, check: bool = True, timeout: float = 60) -> str:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)}: {proc.stdout}{proc.stderr}")
    return proc.stdout


def sweep(*args: str, cwd: Path, env: dict | None = None) -> subprocess.Popen:
    """`dltricks train -m ARGS` as its own process (the launchers pickle and signal it)."""
    return subprocess.Popen(
        [str(BIN / "dltricks"), "train", "-m", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )


def finish(proc: subprocess.Popen, timeout: float = 300) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out + err
    return out


def wait_until(condition, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.3)


# ---------------------------------------------------------------- SLURM


@pytest.fixture(scope="module")
def slurm():
    """The one-node cluster of `make slurm-up`, started for these tests and stopped after
    (left running if it was up before)."""
    if os.geteuid() != 0:
        pytest.skip("cluster/slurm.sh starts system daemons: run the cluster tests as root")
    script = str(ROOT / "cluster" / "slurm.sh")
    was_up = shutil.which("scontrol") and subprocess.run(["scontrol", "ping"]).returncode == 0
    if not was_up:
        sh(script, "up", timeout=900)
    yield
    if not was_up:
        sh(script, "down", timeout=120)
        for daemon in ("slurmctld", "slurmd", "slurmdbd", "munged", "mariadbd"):
            assert subprocess.run(["pgrep", "-x", daemon]).returncode == 1, f"{daemon} runs"


def test_a_sweep_runs_as_slurm_jobs_and_sacct_lists_them(slurm, tmp_path):
    out = finish(sweep(*SLURM, "seed=0,1", *TINY, f"hydra.sweep.dir={tmp_path}", cwd=tmp_path))
    assert "sweep of 2 jobs: 2 completed" in out
    jobs = [read_summary(tmp_path / str(n))["slurm_job"] for n in (0, 1)]
    expected = sorted(f"{job}|COMPLETED" for job in jobs)

    def accounted() -> bool:  # slurmdbd records a job's end a moment after it ends
        states = sh("sacct", "-n", "-X", "-P", "-o", "JobID,State", "-j", ",".join(jobs))
        return sorted(states.split()) == expected

    wait_until(accounted, 60, "sacct to list both jobs COMPLETED")


def slurm_state(job: str) -> str:
    return sh("squeue", "-h", "-j", job, "-o", "%T", check=False).strip()


def test_a_requeued_job_saves_a_checkpoint_and_resumes_bit_for_bit(slurm, tmp_path):
    run = ["seed=0", "trainer.epochs=40", "regularization=[dropout]", "trainer.threads=1"]
    train_run(tmp_path / "unbroken", *run)
    one_cpu = ["hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1"]
    proc = sweep(*SLURM, *one_cpu, *run, f"hydra.sweep.dir={tmp_path / 'sweep'}", cwd=tmp_path)
    job_dir = tmp_path / "sweep" / "0"
    rows = lambda: len((job_dir / "metrics.csv").read_text().splitlines()) - 1  # noqa: E731
    wait_until(lambda: (job_dir / "metrics.csv").exists() and rows() >= 3, 120, "3 epochs")
    job = read_summary(job_dir)["slurm_job"]
    sh("scontrol", "requeue", job)  # SIGTERM to the job, then back into the queue
    wait_until(lambda: slurm_state(job) == "PENDING", 60, "the job to be requeued")
    interrupted = read_summary(job_dir)
    assert interrupted["status"] == "interrupted" and interrupted["epochs"] < 40
    # SLURM holds a requeued batch job for 120 s before it may start again: release it now
    sh("scontrol", "update", f"JobId={job}", "StartTime=now")
    finish(proc, timeout=300)
    summary = read_summary(job_dir)
    assert summary["status"] == "completed" and summary["slurm_job"] == job
    assert [r["step"] for r in summary["resumed"]] == [interrupted["steps"]]
    assert read_metrics(job_dir)[EXACT].equals(read_metrics(tmp_path / "unbroken")[EXACT])
    resumed, unbroken = (
        RunDir(d).load_checkpoint()["model"] for d in (job_dir, tmp_path / "unbroken")
    )
    assert resumed.keys() == unbroken.keys()
    assert all(torch.equal(resumed[k], unbroken[k]) for k in unbroken)


# ---------------------------------------------------------------- Ray


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray head node, as `make ray-up` starts it; stopped after."""
    ray = str(BIN / "ray")
    sh(ray, "start", "--head", "--node-ip-address=127.0.0.1", "--port=6380",
       "--include-dashboard=false", "--disable-usage-stats", timeout=180)  # fmt: skip
    yield "127.0.0.1:6380"
    sh(ray, "stop", "--force", timeout=120)


def test_a_sweep_joins_a_running_ray_cluster(ray_cluster, tmp_path):
    """RAY_ADDRESS names the cluster; the sweep dir is relative to where the command runs,
    not to the Ray workers' own cwd."""
    env = {"RAY_ADDRESS": ray_cluster}
    args = ["hydra/launcher=ray", "seed=0,1", "trainer.epochs=2", "model.width=16"]
    out = finish(sweep(*args, cwd=tmp_path, env=env), 600)
    assert "sweep of 2 jobs: 2 completed" in out
    where = Path(re.search(r"sweep of 2 jobs: .* -> (.+)", out).group(1))
    assert (tmp_path / where).is_dir()
    summaries = [read_summary(tmp_path / where / str(n)) for n in (0, 1)]
    assert len({s["pid"] for s in summaries}) == 2  # two Ray workers
    assert [s["threads"] for s in summaries] == [1, 1]  # 1 CPU a task (Ray's OMP_NUM_THREADS)


# ---------------------------------------------------------------- a shared study


@pytest.fixture(scope="module")
def postgres():
    """A PostgreSQL server of Debian's (cluster/postgres.sh), for these tests; the URL of a
    server, on which each test makes fresh databases."""
    if os.geteuid() != 0:
        pytest.skip("cluster/postgres.sh installs a Debian package: run as root")
    script = str(ROOT / "cluster" / "postgres.sh")
    sh(script, "up", timeout=900)
    yield sh(script, "url").strip()
    sh(script, "down", timeout=120)


def fresh_storage(kind: str, where: Path, n: int, postgres_url: str | None) -> str:
    """A storage no study was ever made in (the race is making its tables)."""
    if kind == "sqlite":
        return f"sqlite:///{where}/study{n}.db"
    if kind == "journal":
        return f"journal:///{where}/study{n}.journal"
    assert postgres_url is not None
    base, _, _ = postgres_url.rpartition("/")
    name = f"fresh_{where.name.replace('-', '_')[-20:]}_{n}".lower()
    sh("psql", "-h", "127.0.0.1", "-p", base.rsplit(":", 1)[1], "-U", "postgres", "-qc",
       f"CREATE DATABASE {name} OWNER dltricks")  # fmt: skip
    return f"{base}/{name}"


@pytest.mark.parametrize("kind", ["sqlite", "journal", "postgresql"])
def test_four_workers_started_at_once_fill_one_study_with_distinct_trials(tmp_path, kind, request):
    postgres_url = request.getfixturevalue("postgres") if kind == "postgresql" else None
    for round_ in range(5):  # five passes in a row, each on a fresh storage
        storage = fresh_storage(kind, tmp_path, round_, postgres_url)
        study = [f"hydra.sweeper.storage={storage}", "hydra.sweeper.study_name=shared"]
        args = ["hydra/sweeper=search", "optimizer=sgd", "hydra.sweeper.n_trials=8", *study,
                "trainer.epochs=1", "model.width=16", "trainer.threads=1"]  # fmt: skip
        dirs = [tmp_path / f"r{round_}w{w}" for w in range(4)]
        workers = [sweep(*args, f"hydra.sweep.dir={d}", cwd=tmp_path) for d in dirs]
        outs = [finish(w) for w in workers]  # every worker succeeds
        # a worker that starts late may find the others have asked all 8 trials: it says so
        assert all("search of" in o or "no trial left" in o for o in outs), outs
        assert any("search of" in o for o in outs)
        from dltricks.search import study as studies

        trials = optuna_load("shared", studies.storage(storage, "shared")).trials
        assert len(trials) >= 8 and all(t.state.name == "COMPLETE" for t in trials), round_
        assert len({tuple(sorted(t.params.items())) for t in trials}) == len(trials)  # distinct
        jobs = sorted(str(j) for d in dirs for j in d.glob("[0-9]*"))
        assert sorted(t.user_attrs["run_dir"] for t in trials) == jobs  # each a worker's job


def optuna_load(name: str, storage):
    optuna = pytest.importorskip("optuna")
    return optuna.load_study(study_name=name, storage=storage)


def test_a_search_runs_its_trials_as_slurm_jobs_and_prunes_them(slurm, tmp_path):
    args = [*SLURM, "hydra/sweeper=search", "optimizer=sgd", "hydra.sweeper.n_trials=4",
            "hydra.sweeper.n_jobs=2", "hydra.sweeper.pruner=median", "trainer.epochs=3",
            "model.width=16", "trainer.threads=1", f"hydra.sweep.dir={tmp_path / 's'}"]  # fmt: skip
    out = finish(sweep(*args, cwd=tmp_path), timeout=600)
    assert "search of 4 trials" in out
    from dltricks.search import study as studies

    url = f"journal:///{tmp_path / 's' / 'search.journal'}"
    trials = optuna_load("dltricks-search", studies.storage(url, "dltricks-search")).trials
    assert len(trials) == 4 and all(t.intermediate_values for t in trials)  # reported from SLURM
    assert all(read_summary(Path(t.user_attrs["run_dir"])).get("slurm_job") for t in trials)
