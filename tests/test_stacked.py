"""hydra/launcher=stacked (issue 28): each member of a stacked group is its sequential twin,
the run the basic launcher makes of the same job: the same metrics.csv (measured here: bit
for bit on the CPU, MLPs and convnets; on a GPU the grouped convolution and batch norm sum in
another order), the same summary, checkpoint and status."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import EXACT, ROOT, dltricks, read_metrics, read_summary

STACKED = "hydra/launcher=stacked"
TINY = ["trainer.threads=1", "trainer.epochs=3"]


def sweep(tmp_path: Path, name: str, *args: str, launcher: str | None = None):
    extra = [launcher] if launcher else []
    proc = dltricks("train", "-m", *extra, *TINY, *args, f"hydra.sweep.dir={tmp_path / name}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def jobs(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))


def twins(tmp_path: Path, *args: str, force: bool = False) -> list[tuple[Path, Path]]:
    """The same sweep on the basic and on the stacked launcher: its job dirs, pairwise
    (`force`: stacked where it trains slower, convnets on the CPU)."""
    sweep(tmp_path, "basic", *args)
    forced = ["hydra.launcher.force=true"] if force else []
    out = sweep(tmp_path, "stacked", *args, *forced, launcher=STACKED).stdout
    assert "ran on their own" not in out, out  # every job stacked
    pairs = list(zip(jobs(tmp_path / "basic"), jobs(tmp_path / "stacked"), strict=True))
    assert pairs
    return pairs


def assert_twins(pairs, tolerance: float) -> None:
    for basic, stacked in pairs:
        a, b = read_metrics(basic), read_metrics(stacked)
        assert list(a["epoch"]) == list(b["epoch"])
        worst = (a[EXACT] - b[EXACT]).abs().max().max()
        assert worst <= tolerance, (basic.name, worst)
        sa, sb = read_summary(basic), read_summary(stacked)
        assert sb["stacked"]["members"] == len(pairs)
        for key in ("status", "epochs", "steps", "overrides", "choices", "seed", "params"):
            assert sa[key] == sb[key], key
        if sa["final"] is not None:
            for key in ("train_err", "val_err", "test_err"):
                assert sa["final"][key] == pytest.approx(sb["final"][key], abs=tolerance)


@pytest.mark.parametrize(
    "args",
    [
        ["seed=0,1,2", "optimizer=sgd"],
        ["seed=0,1", "optimizer=momentum", "optimizer.lr=0.02,0.05"],  # a per-member lr
        ["seed=0,1", "optimizer=adam", "regularization=[dropout,l2]", "norm=batch"],
        ["seed=0,1", "optimizer=adamw", "optimizer.weight_decay=0.0,0.1",
         "regularization=[dropout]", "regularization.dropout.mode=classic"],
    ],
    ids=["sgd-seeds", "momentum-lr", "adam-dropout-l2-bn", "adamw-decay-classic-dropout"],
)  # fmt: skip
def test_an_mlp_member_is_its_twin_bit_for_bit(tmp_path, args):
    assert_twins(twins(tmp_path, "model.width=32", *args), tolerance=0.0)


def test_a_1d_convnet_member_is_its_twin(tmp_path):
    args = ["data=mnist1d", "data.load.num_samples=600", "model=convnet", "model.depth=8",
            "model.width=4", "norm=batch", "seed=0,1", "optimizer=momentum,adam"]  # fmt: skip
    assert_twins(twins(tmp_path, *args, force=True), tolerance=0.0)


def test_a_2d_convnet_member_is_its_twin(tmp_path):
    args = ["data=mnist", "data.load.verify=false", "model=convnet", "model.depth=8",
            "model.width=4", "norm=batch",
            "seed=0,1", "trainer.batch_size=32", "trainer.epochs=2"]  # fmt: skip
    assert_twins(twins(tmp_path, *args, force=True), tolerance=0.0)


def test_a_member_that_diverges_ends_alone_and_the_others_go_on(tmp_path):
    pairs = twins(tmp_path, "model.width=32", "optimizer=sgd", "optimizer.lr=0.1,1000.0")
    statuses = [read_summary(s)["status"] for _, s in pairs]
    assert statuses == ["completed", "diverged"]
    assert_twins(pairs, tolerance=0.0)


def test_jobs_that_cannot_stack_run_on_their_own_in_the_same_sweep(tmp_path):
    out = sweep(tmp_path, "mixed", "model=mlp,rnn", "data=mnist1d", "data.load.num_samples=600",
                "seed=0,1", launcher=STACKED).stdout  # fmt: skip
    assert "ran on their own: jobs" in out and "does not stack" in out
    statuses = [read_summary(j)["status"] for j in jobs(tmp_path / "mixed")]
    assert statuses == ["completed"] * 4
    assert "sweep of 4 jobs: 4 completed" in out


def test_convnets_on_the_cpu_run_on_their_own_unless_forced(tmp_path):
    """Stacked, a convnet's convolutions run member by member on the CPU: slower than its
    jobs one by one (make bench), so they run one by one, the reason named once."""
    args = ["data=mnist1d", "data.load.num_samples=300", "model=convnet,mlp", "model.depth=8",
            "model.width=4", "seed=0,1", "trainer.epochs=1"]  # fmt: skip
    out = sweep(tmp_path, "cpu", *args, launcher=STACKED).stdout
    why = "jobs 0, 1 (model dltricks.models.convnet.ConvNet trains slower stacked on the CPU"
    assert f"ran on their own: {why}" in out and out.count("ConvNet") == 1, out
    stacked = ["stacked" in read_summary(j) for j in jobs(tmp_path / "cpu")]
    assert stacked == [False, False, True, True]  # the MLPs still stack


@pytest.mark.parametrize(
    "key, message",
    [
        ("max_members=abc", "hydra.launcher.max_members=abc: must be an integer >= 1"),
        ("max_members=0", "hydra.launcher.max_members=0: must be an integer >= 1"),
        ("force=maybe", "hydra.launcher.force=maybe: must be true or false"),
    ],
)
def test_a_bad_launcher_key_exits_2_before_any_run(tmp_path, key, message):
    where = tmp_path / "bad"
    proc = dltricks("train", "-m", STACKED, f"hydra.launcher.{key}", "seed=0,1",
                    f"hydra.sweep.dir={where}")  # fmt: skip
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
    assert not where.exists()


def test_the_report_of_a_stacked_sweep_is_the_basic_ones(tmp_path):
    twins(tmp_path, "model.width=16", "seed=0,1", "optimizer.lr=0.02,0.05")
    by = ["--by", "optimizer.lr", "--format", "csv"]
    a = dltricks("report", str(tmp_path / "basic"), *by).stdout
    b = dltricks("report", str(tmp_path / "stacked"), *by).stdout
    assert a == b


def test_a_stacked_group_checkpoints_every_member_on_sigint_and_resumes(tmp_path):
    args = [sys.executable, "-m", "dltricks", "train", "-m", STACKED, "trainer.threads=1",
            "data=mnist1d", "data.load.num_samples=3000", "model.width=128",
            "trainer.epochs=5", "seed=0,1,2",
            "regularization=[dropout]", f"hydra.sweep.dir={tmp_path / 'stacked'}"]  # fmt: skip
    proc = subprocess.Popen(
        args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    rows = lambda: min(  # noqa: E731
        (len((j / "metrics.csv").read_text().splitlines()) for j in jobs(tmp_path / "stacked")),
        default=0,
    )
    deadline = time.time() + 240
    while time.time() < deadline and not (
        (tmp_path / "stacked").exists()
        and len(jobs(tmp_path / "stacked")) == 3
        and _safe(rows) >= 3
    ):
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "every member's checkpoint saved" in err and "Traceback" not in err
    for j in jobs(tmp_path / "stacked"):
        assert read_summary(j)["status"] == "interrupted"
        assert (j / "checkpoint.pt").exists()
    again = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    unbroken = [*args[:5], *args[5:-1], f"hydra.sweep.dir={tmp_path / 'basic'}"]
    unbroken.remove(STACKED)
    assert subprocess.run(unbroken, cwd=ROOT, capture_output=True, timeout=600).returncode == 0
    for basic, stacked in zip(jobs(tmp_path / "basic"), jobs(tmp_path / "stacked"), strict=True):
        assert read_summary(stacked)["status"] == "completed"
        assert read_summary(stacked)["resumed"]
        assert read_metrics(stacked)[EXACT].equals(read_metrics(basic)[EXACT])  # bit for bit
        a = torch.load(basic / "checkpoint.pt", weights_only=True)["model"]
        b = torch.load(stacked / "checkpoint.pt", weights_only=True)["model"]
        assert all(torch.equal(a[k], b[k]) for k in a)


def _safe(rows) -> int:
    try:
        return rows()
    except OSError:
        return 0


def test_a_member_checkpoint_is_its_own_size(tmp_path):
    pairs = twins(tmp_path, "model.width=64", "seed=0,1,2,3", "trainer.epochs=1")
    for basic, stacked in pairs:  # no view of the group's storage saved whole
        assert (stacked / "checkpoint.pt").stat().st_size == (
            basic / "checkpoint.pt"
        ).stat().st_size


def test_the_layers_stack_every_option_of_the_groups_that_shape_a_model():
    from dltricks import config
    from dltricks.build import make_model
    from dltricks.models.dropout import Dropout
    from dltricks.stacked import layers
    from dltricks.targets import instantiate

    options = [("activation", o, "norm=batch") for o in config.options("activation")]
    options += [("norm", o, "activation=prelu") for o in config.options("norm")]
    for group, option, other in options:  # each activation with a norm, each norm with PReLU
        for model, shape in (("mlp", (12,)), ("convnet", (2, 16))):
            cfg = config.load([f"{group}={option}", other, f"model={model}", "model.depth=8",
                               "model.width=4"])  # fmt: skip
            act = instantiate(cfg.activation)
            net, _ = make_model(cfg, _Data(shape), act, Dropout(p=0.2))
            assert layers.unstackable(net) is None, (option, model)


class _Data:
    """What a model is built for: a shape, a class count (and where the data lives)."""

    def __init__(self, shape):
        self.shape, self.classes, self.name = shape, 10, "x"
        self.train = type("Split", (), {"x": torch.zeros(1)})()


def test_a_group_is_split_to_fit_the_free_memory(tmp_path, monkeypatch):
    from dltricks import device

    params = 16 * 65 + 16 * 17 * 2 + 17 * 10  # the 4-layer MLP of width 16 on digits
    monkeypatch.setattr(device, "free_bytes", lambda _: 2 * 32 * params + 1)  # two fit
    sweep(tmp_path, "split", "model.width=16", "seed=0,1,2,3", "trainer.epochs=1", launcher=STACKED)
    groups = [read_summary(j)["stacked"] for j in jobs(tmp_path / "split")]
    assert [g["members"] for g in groups] == [2, 2, 2, 2]
    assert len({g["group"] for g in groups}) == 2
