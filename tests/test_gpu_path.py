"""The GPU path exercised where it can run without one: bf16 autocast on the CPU, a
channels_last model and inputs (the layout CUDA gets by default) through training, the
gradient check and the probes, the random-stream forks and the deterministic settings;
what only CUDA can show is in the tests marked gpu (skipped without it; `make gpu-check`)."""

from __future__ import annotations

import math
import os

import pytest
import torch
from conftest import EXACT, dltricks, read_metrics, read_summary, train_run

from dltricks import build, checkpoint, config, device, probes
from dltricks.rundir import RunDir

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
CONV = ["model=convnet", "model.depth=8", "trainer.threads=1"]


def test_bf16_autocast_trains_on_the_cpu_and_evaluates_in_bf16(tmp_path):
    train_run(tmp_path, "trainer.precision=bf16", "trainer.device=cpu", "trainer.epochs=3")
    metrics, summary = read_metrics(tmp_path), read_summary(tmp_path)
    assert summary["status"] == "completed" and summary["device"] == "cpu"
    assert metrics["val_err"].iloc[-1] < 0.3  # it learns
    # evaluation runs under the same autocast: bf16 logits differ from fp32 ones
    fp32 = tmp_path / "fp32"
    train_run(fp32, "trainer.device=cpu", "trainer.epochs=3")
    assert not metrics["train_loss"].equals(read_metrics(fp32)["train_loss"])


def test_fp16_on_the_cpu_is_refused_before_any_data_is_loaded(tmp_path):
    empty = tmp_path / "no-data"
    empty.mkdir()
    proc = dltricks(
        "train",
        f"hydra.run.dir={tmp_path / 'run'}",
        "data=mnist",  # would fail on its missing files if they were read first
        f"data.root={empty}",
        "trainer.precision=fp16",
        "trainer.device=cpu",
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "trainer.precision=fp16" in proc.stderr and "bf16" in proc.stderr
    assert "mnist" not in proc.stderr.split("trainer.precision")[1]
    assert list(empty.iterdir()) == []


def test_channels_last_puts_the_model_and_every_split_in_that_layout(tmp_path):
    cfg = config.load([*CONV, "trainer.channels_last=true", "trainer.device=cpu"])
    p = build.build(cfg, RunDir(tmp_path))
    convs = [m.weight for m in p.model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
    assert any(not w.is_contiguous() for w in convs)  # a real channels_last, not 1 channel
    for split in (p.data.train, p.data.val, p.data.test):
        assert split.x.is_contiguous(memory_format=torch.channels_last)
    off = build.build(config.load([*CONV, "trainer.channels_last=false"]), RunDir(tmp_path))
    convs = [m.weight for m in off.model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(w.is_contiguous() for w in convs)  # auto on the CPU is the same


def test_a_channels_last_convnet_trains_probes_and_passes_the_gradient_check(tmp_path):
    last = [*CONV, "trainer.channels_last=true", "trainer.epochs=2", "trainer.probes=true"]
    train_run(tmp_path / "last", *last)
    train_run(tmp_path / "plain", *CONV, "trainer.epochs=2", "trainer.probes=true")
    got, want = read_metrics(tmp_path / "last"), read_metrics(tmp_path / "plain")
    assert (got["val_err"] - want["val_err"]).abs().max() < 0.02  # the same net, laid out
    assert (tmp_path / "last" / "layers.csv").read_text().count("\n") > 3
    check = dltricks("check", *CONV, "trainer.channels_last=true")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "WRONG" not in check.stdout and "conv" in check.stdout.lower()


def test_forks_of_the_random_stream_cover_the_runs_cuda_device(monkeypatch):
    assert device.rng_devices(torch.device("cpu")) == []
    assert device.rng_devices(torch.device("cuda:1")) == [1]
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    assert device.rng_devices(torch.device("cuda")) == [0]
    seen = []
    monkeypatch.setattr(device, "rng_devices", lambda d: seen.append(d) or [])
    model = torch.nn.Linear(2, 2)
    with probes.side_effect_free(model):
        pass
    assert seen == [torch.device("cpu")]  # the probes and sanity checks fork the model's


def test_deterministic_sets_cudas_kernels_and_off_lets_cudnn_autotune(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
    )
    try:
        device.set_determinism(torch.device("cuda"), True)
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
        device.set_determinism(torch.device("cuda"), False)
        assert not torch.are_deterministic_algorithms_enabled()
        assert torch.backends.cudnn.benchmark and not torch.backends.cudnn.deterministic
        device.set_determinism(torch.device("cpu"), False)  # the CPU: nothing to set
        assert torch.backends.cudnn.benchmark
    finally:
        torch.use_deterministic_algorithms(saved[0])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[1:]


def test_a_checkpoint_from_more_gpus_resumes_on_fewer(monkeypatch):
    states = checkpoint.random_states(torch.Generator())
    states["cuda"] = [torch.zeros(16, dtype=torch.uint8), torch.ones(16, dtype=torch.uint8)]
    restored = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda s, i: restored.append(i))
    checkpoint.set_random_states(states, torch.Generator())
    assert restored == [0]


def test_bad_layout_and_determinism_values_name_the_key():
    for override, key in (
        ("trainer.channels_last=auto", "trainer.channels_last"),
        ("trainer.deterministic=2", "trainer.deterministic"),
    ):
        with pytest.raises(config.ConfigError, match=key.replace(".", r"\.")):
            config.load([override])


# ---- CUDA only (make gpu-check)


@cuda
@pytest.mark.gpu
def test_cuda_resume_is_bit_for_bit_with_deterministic_kernels(tmp_path):
    run = [*CONV, "trainer.device=cuda", "regularization=[dropout]", "trainer.epochs=4"]
    train_run(tmp_path / "whole", *run)
    train_run(tmp_path / "split", *run[:-1], "trainer.epochs=2")
    proc = dltricks("resume", str(tmp_path / "split"), "trainer.epochs=4")
    assert proc.returncode == 0, proc.stderr
    assert read_metrics(tmp_path / "split")[EXACT].equals(read_metrics(tmp_path / "whole")[EXACT])


@cuda
@pytest.mark.gpu
def test_cuda_probes_do_not_change_the_runs_numbers(tmp_path):
    run = [*CONV, "trainer.device=cuda", "regularization=[dropout]", "trainer.epochs=2"]
    train_run(tmp_path / "plain", *run)
    train_run(tmp_path / "probed", *run, "trainer.probes=true")
    plain, probed = read_metrics(tmp_path / "plain"), read_metrics(tmp_path / "probed")
    assert probed[EXACT].equals(plain[EXACT])


@cuda
@pytest.mark.gpu
def test_cuda_check_on_a_channels_last_convnet(tmp_path):
    proc = dltricks("check", *CONV, "trainer.device=cuda")
    assert proc.returncode == 0 and "WRONG" not in proc.stdout, proc.stdout + proc.stderr


@cuda
@pytest.mark.gpu
def test_cuda_bf16_loss_is_finite(tmp_path):
    train_run(tmp_path, *CONV, "trainer.device=cuda", "trainer.precision=bf16")
    assert math.isfinite(read_summary(tmp_path)["final"]["train_loss"])
