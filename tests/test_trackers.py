"""logger=tensorboard|mlflow (wandb: test_wandb.py): what the trackers hold, read back with
their own readers, equals the run's record; a resumed run continues the same log without a
step twice; a failing tracker never fails the run."""

from __future__ import annotations

import pytest
from conftest import dltricks, read_metrics, read_summary, train_run

pytest.importorskip("tensorboard", reason="the track extra: pip install 'dltricks[track]'")
pytest.importorskip("mlflow", reason="the track extra: pip install 'dltricks[track]'")

TINY = ["model.width=16", "trainer.threads=1"]


def scalars(log_dir) -> dict[str, dict[int, float]]:
    """Every scalar of a TensorBoard log, by tag and step (TensorBoard's own reader, which
    applies a resumed writer's purge)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: {e.step: e.value for e in acc.Scalars(tag)} for tag in acc.Tags()["scalars"]}


def test_tensorboard_holds_every_metric_at_its_step_and_the_layers(tmp_path):
    run = tmp_path / "run"
    train_run(run, "logger=tensorboard", "trainer.epochs=3", "trainer.probes=true", *TINY)
    logged = scalars(run / "tensorboard")
    metrics = read_metrics(run)
    for column in ("train_err", "val_loss", "test_err", "lr", "grad_norm", "train_loss_running"):
        expected = dict(zip(metrics["step"], metrics[column], strict=True))
        assert logged[column] == pytest.approx(expected, rel=1e-6), column
    assert any(tag.startswith("layers/") and tag.endswith("/grad_norm") for tag in logged)
    hparams = (run / "tensorboard").glob("events.out.tfevents.*")
    assert any(b"hparams" in p.read_bytes() for p in hparams)  # the HParams view's data


def test_a_resumed_run_continues_the_same_tensorboard_log_and_mlflow_run(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    run = tmp_path / "run"
    loggers = ["logger=[tensorboard,mlflow]", f"logger.mlflow.tracking_uri={uri}"]
    train_run(run, *loggers, "trainer.epochs=2", *TINY)
    first = read_summary(run)["trackers"]["mlflow"]["run_id"]
    proc = dltricks("resume", str(run), "trainer.epochs=4")
    assert proc.returncode == 0, proc.stderr
    summary = read_summary(run)
    assert summary["trackers"]["mlflow"]["run_id"] == first
    steps = read_metrics(run)["step"].tolist()
    assert sorted(scalars(run / "tensorboard")["val_err"]) == steps  # 4 steps, none twice

    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("dltricks").experiment_id])
    assert [r.info.run_id for r in runs] == [first]  # one MLflow run across both sessions
    history = client.get_metric_history(first, "val_err")
    assert sorted(m.step for m in history) == steps
    final = client.get_run(first).data.metrics
    assert final["final_test_err"] == pytest.approx(summary["final"]["test_err"])
    assert client.get_run(first).info.status == "FINISHED"
    artifacts = {a.path for a in client.list_artifacts(first)}
    assert {"summary.json", "metrics.csv", ".hydra"} <= artifacts


def test_a_failing_tracker_warns_once_and_the_run_goes_on(tmp_path):
    run = tmp_path / "run"
    proc = train_run(
        run,
        "logger=mlflow",
        "logger.mlflow.tracking_uri=http://127.0.0.1:9",  # a server that is not there
        "trainer.epochs=2",
        *TINY,
        env={"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "2"},
    )
    assert proc.stderr.count("logger mlflow failed") == 1
    assert read_summary(run)["status"] == "completed" and len(read_metrics(run)) == 2


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("logger.mlflow.tracking_uri=nonsense", "logger.mlflow.tracking_uri"),
        ("logger=comet", "Valid options: mlflow, none, tensorboard, wandb"),
    ],
)
def test_bad_logger_values_are_refused_up_front(tmp_path, override, named):
    proc = dltricks("train", "logger=mlflow", override, f"hydra.run.dir={tmp_path}/r")
    assert proc.returncode == 2 and named in proc.stderr, proc.stderr
    assert not (tmp_path / "r" / "summary.json").exists()
