"""logger=wandb, offline (WANDB_MODE=offline: no account, no network): the W&B run's records,
read back from its own transaction log with wandb's own record schema, hold the run's
config, every evaluation at its step, the final metrics and status; a resumed run continues
the same W&B run; a failing W&B warns once and the run goes on."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from conftest import dltricks, read_metrics, read_summary, train_run

pytest.importorskip("wandb", reason="the wandb extra: pip install 'dltricks[wandb]'")

TINY = ["model.width=16", "trainer.threads=1", "logger=wandb"]
BLOCK = 32 * 1024  # the transaction log's blocks (LevelDB's log format, as wandb writes it)


@pytest.fixture
def offline(tmp_path) -> dict:
    """W&B offline, its config, cache and data folders in tmp_path (never the user's)."""
    return {
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
        **{
            f"WANDB_{k}_DIR": str(tmp_path / "wandb-home" / k.lower())
            for k in ("CONFIG", "CACHE", "DATA")
        },
    }


def records(run_file: Path) -> list:
    """Every record of a .wandb transaction log, parsed with wandb's protobuf Record."""
    from wandb.proto import wandb_internal_pb2

    data = run_file.read_bytes()
    assert data[:4] == b":W&B"
    out, pending, at = [], b"", 7  # header: ':W&B', magic 0xBEE1, version
    while at + 7 <= len(data):
        room = BLOCK - at % BLOCK
        if room < 7:  # a block's tail too short for a header is padding
            at += room
            continue
        _, length, kind = struct.unpack("<IHB", data[at : at + 7])
        if kind == 0 and length == 0:
            at += room
            continue
        pending += data[at + 7 : at + 7 + length]
        at += 7 + length
        if kind in (1, 4):  # FULL, LAST: a whole record
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            out.append(record)
            pending = b""
    return out


def history(recs: list) -> dict[int, dict[str, float]]:
    rows: dict[int, dict[str, float]] = {}
    for r in recs:
        if r.WhichOneof("record_type") == "history":
            items = {i.key or "/".join(i.nested_key): i.value_json for i in r.history.item}
            step = int(r.history.step.num)
            rows.setdefault(step, {}).update({k: float(v) for k, v in items.items() if k[0] != "_"})
    return rows


def summary_of(recs: list) -> dict[str, str]:
    out: dict[str, str] = {}
    for r in recs:
        if r.WhichOneof("record_type") == "summary":
            out.update({i.key or "/".join(i.nested_key): i.value_json for i in r.summary.update})
    return out


def config_of(recs: list) -> dict[str, str]:
    out: dict[str, str] = {}
    for r in recs:
        if r.WhichOneof("record_type") in ("config", "run"):
            cfg = r.config if r.WhichOneof("record_type") == "config" else r.run.config
            out.update({i.key or "/".join(i.nested_key): i.value_json for i in cfg.update})
    return out


def run_files(run: Path) -> list[Path]:
    return sorted(run.glob("wandb/offline-run-*/run-*.wandb"))


def test_the_wandb_run_holds_config_metrics_at_their_steps_and_the_end(tmp_path, offline):
    run = tmp_path / "run"
    train_run(run, *TINY, "trainer.epochs=3", "trainer.probes=true", "optimizer=adam", env=offline)
    (log,) = run_files(run)
    recs = records(log)
    logged, metrics = history(recs), read_metrics(run)
    for column in ("train_err", "val_loss", "test_err", "lr"):
        expected = dict(zip(metrics["step"], metrics[column], strict=True))
        assert {s: row[column] for s, row in logged.items() if column in row} == pytest.approx(
            expected, rel=1e-9
        ), column
    assert any(k.startswith("layers/") for row in logged.values() for k in row)
    config = config_of(recs)
    assert '"adam"' in config.get("optimizer", "") or any("adam" in v for v in config.values())
    summary, ours = summary_of(recs), read_summary(run)
    assert float(summary["final_test_err"]) == pytest.approx(ours["final"]["test_err"])
    assert summary["status"] == '"completed"'
    assert ours["trackers"]["wandb"]["run_id"] in log.name
    assert not [p for p in run.rglob("*") if p.is_symlink()]  # a run dir holds no link


def test_a_resumed_run_continues_the_same_wandb_run(tmp_path, offline):
    run = tmp_path / "run"
    train_run(run, *TINY, "trainer.epochs=2", env=offline)
    first = read_summary(run)["trackers"]["wandb"]["run_id"]
    proc = dltricks("resume", str(run), "trainer.epochs=4", env=offline)
    assert proc.returncode == 0, proc.stderr
    assert read_summary(run)["trackers"]["wandb"]["run_id"] == first
    logs = run_files(run)
    assert len(logs) == 2 and all(first in p.name for p in logs)  # `wandb sync` joins them
    steps = [s for log in logs for s in sorted(history(records(log)))]
    assert steps == read_metrics(run)["step"].tolist()  # each evaluation once, in order


def test_a_failing_wandb_warns_once_and_the_run_goes_on(tmp_path, offline):
    run = tmp_path / "run"
    env = {**offline, "WANDB_MODE": "online", "WANDB_API_KEY": "x" * 40}
    env["WANDB_BASE_URL"] = "http://127.0.0.1:9"  # a server that is not there
    env["WANDB_INIT_TIMEOUT"] = "5"
    # a process of its own: wandb keeps the settings it started with (offline) per process
    proc = train_run(run, *TINY, "trainer.epochs=2", env=env, process=True)
    assert proc.stderr.count("logger wandb failed") == 1
    assert read_summary(run)["status"] == "completed" and len(read_metrics(run)) == 2


def test_a_bad_wandb_mode_is_refused_naming_the_key(tmp_path):
    proc = dltricks("train", *TINY, "logger.wandb.mode=sometimes", f"hydra.run.dir={tmp_path}/r")
    assert proc.returncode == 2 and "logger.wandb.mode" in proc.stderr
    assert not (tmp_path / "r" / "summary.json").exists()
