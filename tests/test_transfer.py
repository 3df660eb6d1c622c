"""Transfer learning and the models/data of issue 5 through the real command."""

from __future__ import annotations

import io

import pandas as pd
import pytest
import torch
from conftest import dltricks, read_summary, train_run
from torch import nn

from dltricks.models import activations
from dltricks.models.mlp import MLP
from dltricks.models.transfer import freeze_first, load_matching


def test_load_matching_skips_layers_whose_shape_differs():
    source = MLP((20,), 10, depth=3, width=8, activation=activations.relu(), norm=nn.Identity)
    target = MLP((20,), 5, depth=3, width=8, activation=activations.relu(), norm=nn.Identity)
    head = target.head.weight.detach().clone()
    result = load_matching(target, source.state_dict(), keep_head=True)
    assert torch.equal(target.stem[0].weight, source.stem[0].weight)
    assert torch.equal(target.head.weight, head)  # 5 classes: re-initialized, not loaded
    assert set(result["skipped"]) == {"head.weight", "head.bias"}


def test_the_classifier_on_top_starts_anew_unless_kept():
    relu = activations.relu()
    source = MLP((20,), 10, depth=3, width=8, activation=relu, norm=nn.Identity)
    target = MLP((20,), 10, depth=3, width=8, activation=relu, norm=nn.Identity)
    fresh = target.head.weight.detach().clone()
    result = load_matching(target, source.state_dict())
    assert torch.equal(target.head.weight, fresh) and "head.weight" in result["skipped"]
    assert torch.equal(target.blocks[0][0].weight, source.blocks[0][0].weight)
    load_matching(target, source.state_dict(), keep_head=True)
    assert torch.equal(target.head.weight, source.head.weight)


def test_frozen_batchnorm_keeps_its_running_statistics_while_the_rest_trains():
    from dltricks.models.layers import batch_norm
    from dltricks.models.transfer import keep_in_eval

    model = MLP((4,), 3, depth=4, width=8, activation=activations.relu(), norm=batch_norm)
    keep_in_eval(model, freeze_first(model, 2))
    before = {k: v.clone() for k, v in model.state_dict().items() if "running" in k}
    model.train()
    model(torch.randn(32, 4) * 5 + 3)
    after = model.state_dict()
    frozen = [k for k in before if k.startswith(("stem.", "blocks.0.inner."))]
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)
    assert not torch.equal(
        before["blocks.0.norm.running_mean"], after["blocks.0.norm.running_mean"]
    )
    assert model.blocks[0].norm.training and not model.stem[1].training


def test_freeze_first_stops_gradients_to_the_first_layers():
    model = MLP((4,), 3, depth=4, width=8, activation=activations.relu(), norm=nn.LayerNorm)
    frozen = freeze_first(model, 2)
    weights = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [w.weight.requires_grad for w in weights] == [False, False, True, True]
    assert not model.stem[1].weight.requires_grad  # the norm after a frozen layer
    assert frozen[0] == "stem.0"


def test_fine_tune_from_a_finished_run(tmp_path):
    source = tmp_path / "pretrain"
    train_run(source, "data=teacher", "trainer.epochs=2", "model.width=16")
    assert (source / "checkpoint.pt").exists()
    train_run(
        tmp_path / "fine",
        "data=teacher",
        "data.load.classes=5",
        "data.load.seed=1",
        "trainer.epochs=2",
        "model.width=16",
        f"transfer.init_from={source}",
        "transfer.freeze=1",
        "trainer.overfit_subset=64",
        "trainer.overfit_loss=1e-9",  # out of reach: the frozen layer limits it on purpose
    )
    summary = read_summary(tmp_path / "fine")
    transfer = summary["transfer"]
    assert transfer["init_from"] == str(source) and transfer["loaded"] >= 4
    assert transfer["reinitialized"] == ["head.bias", "head.weight"]
    assert transfer["frozen"] == ["stem.0"]
    # trained weights need not start at ln C, and frozen layers need not overfit: no warnings
    assert summary["sanity"]["initial_loss_ok"] is None
    assert summary["overfit"] == {**summary["overfit"], "reached": False, "frozen": 1}
    report = dltricks("report", str(tmp_path / "fine"), "--format", "csv")
    assert pd.read_csv(io.StringIO(report.stdout))["warnings"].isna().all()


def test_init_from_a_dir_without_checkpoint_is_refused(tmp_path):
    proc = dltricks("train", f"hydra.run.dir={tmp_path}/run", f"transfer.init_from={tmp_path}")
    assert proc.returncode == 2 and "no checkpoint" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "overrides",
    [
        ["data=mnist1d", "model=convnet", "model.depth=20"],
        ["model=mlp", "model.depth=56"],
        ["data=mnist1d", "model=rnn", "regularization=[grad_clip]"],
        [
            "data=cifar10",
            "data.load.verify=false",
            "model=convnet",
            "model.depth=8",
            "regularization=[augment]",
            "regularization.augment.shift=4",
            "regularization.augment.flip=true",
        ],
    ],
    ids=["mnist1d-convnet20", "mlp56", "mnist1d-gru", "cifar10-fixture"],
)
def test_models_and_data_run_on_cpu(tmp_path, overrides):
    train_run(tmp_path, *overrides, "trainer.epochs=1")
    summary = read_summary(tmp_path)
    assert summary["status"] == "completed" and summary["params"] > 0


def test_the_parameter_count_is_printed_and_recorded(tmp_path):
    proc = train_run(tmp_path, "model=convnet", "model.depth=20", "trainer.epochs=1")
    params = read_summary(tmp_path)["params"]
    assert f"{params:,} parameters" in proc.stdout


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@cuda
@pytest.mark.gpu
@pytest.mark.parametrize(
    "extra", [["trainer.precision=bf16"], ["trainer.precision=fp16"], ["trainer.compile=true"]]
)
def test_gpu_paths(tmp_path, extra):
    train_run(
        tmp_path,
        "data=cifar10",
        "data.load.verify=false",
        "model=convnet",
        "model.depth=20",
        "trainer.device=cuda",
        "trainer.epochs=2",
        *extra,
    )
    summary = read_summary(tmp_path)
    assert summary["status"] == "completed" and summary["device"].startswith("cuda")


def test_fp16_without_cuda_is_refused(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("CUDA is here")
    proc = dltricks("train", f"hydra.run.dir={tmp_path}", "trainer.precision=fp16")
    assert proc.returncode == 2 and "trainer.precision" in proc.stderr
