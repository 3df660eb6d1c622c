"""The Python API (dltricks/api.py): the command line's train, sweep and report as functions,
with its checks and files, leaving the caller's process as it was; and the example notebook,
executed in a real Jupyter kernel."""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path

import pytest
from conftest import ROOT, read_summary

from dltricks import api

QUICK = ["trainer.epochs=2", "trainer.threads=1", "model.width=16"]


def test_train_returns_the_summary_and_leaves_the_process_as_it_was(tmp_path):
    handlers, argv = signal.getsignal(signal.SIGINT), list(sys.argv)
    root_handlers = logging.getLogger().handlers[:]
    summary = api.train(["optimizer=adam", *QUICK], run_dir=tmp_path / "run")
    assert summary == read_summary(tmp_path / "run") and summary["status"] == "completed"
    assert summary["choices"]["optimizer"] == "adam"
    assert (tmp_path / "run" / "metrics.csv").exists() and (tmp_path / "run" / ".hydra").is_dir()
    assert signal.getsignal(signal.SIGINT) is handlers  # no handler installed
    assert sys.argv == argv and logging.getLogger().handlers == root_handlers


def test_bad_input_raises_the_command_lines_message(tmp_path):
    with pytest.raises(api.BadInput, match=r"optimizer=adamm.*Valid options"):
        api.train(["optimizer=adamm"], run_dir=tmp_path / "run")
    with pytest.raises(api.BadInput, match=r"trainer\.epochs"):
        api.sweep(["trainer.epochs=0,1"], sweep_dir=tmp_path / "sweep")
    assert not (tmp_path / "run" / "summary.json").exists()


def test_sweep_runs_metrics_and_report_as_dataframes(tmp_path):
    runs = api.sweep(["model.depth=3,4", "seed=0,1", *QUICK], sweep_dir=tmp_path / "s")
    assert len(runs) == 4 and set(runs["status"]) == {"completed"}
    assert sorted(runs["model.depth"]) == [3, 3, 4, 4] and runs["val_err"].notna().all()
    curves = api.metrics(runs["run"])
    assert len(curves) == 8 and {"run", "epoch", "val_err", "model.depth", "seed"} <= set(curves)
    report = api.report(tmp_path / "s", by="model.depth")
    assert list(report.table["n"]) == [2, 2]
    mean = runs.groupby("model.depth")["val_err"].mean()
    assert report.table.set_index("model.depth")["val_err_mean"].to_dict() == pytest.approx(
        mean.to_dict()
    )
    page = report._repr_html_()
    assert "<table" in page and "data:image/png;base64," in page and "model.depth" in page
    assert "dltricks report" in repr(report)
    assert all(p.suffix == ".png" for p in report.figures(tmp_path / "figs"))


def test_the_example_notebook_runs_in_a_real_kernel(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("DLTRICKS_NOTEBOOK_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    notebook = nbformat.read(ROOT / "examples" / "notebook.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError on any failing cell
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    rich = [o["data"] for o in outputs if "data" in o]
    assert any("data:image/png;base64" in d.get("text/html", "") for d in rich)  # the report
    printed = "".join(o.get("text", "") for o in outputs)
    assert "optimizer=adamm" in printed and "Valid options" in printed
    assert (tmp_path / "out" / "sweep" / "multirun.yaml").exists()
    assert not Path(tmp_path / "outputs").exists()  # everything went where it was told
