"""metrics.csv and summary.json: whole rows, exact floats, atomic replacement."""

from __future__ import annotations

import json
import math

from conftest import read_csv_exact

from dltricks.records import METRIC_COLUMNS
from dltricks.rundir.files import write_json_atomic
from dltricks.rundir.tables import MetricsWriter


def test_rows_are_appended_whole_and_round_trip_exactly(tmp_path):
    path = tmp_path / "metrics.csv"
    value = 0.1 + 0.2  # not representable in few digits
    with MetricsWriter(path) as w:
        w.write({"epoch": 1, "train_loss": value})
    with MetricsWriter(path) as w:  # reopening appends, no second header
        w.write({"epoch": 2, "train_loss": 1 / 3})
    text = path.read_text()
    assert text.endswith("\n") and text.count("epoch,step") == 1
    df = read_csv_exact(path)
    assert list(df.columns) == METRIC_COLUMNS
    assert df["train_loss"].tolist() == [value, 1 / 3]
    assert math.isnan(df["val_err"][0])  # missing values are empty cells


def test_summary_is_strict_json_and_replaced_atomically(tmp_path):
    path = tmp_path / "summary.json"
    write_json_atomic(path, {"status": "running", "x": float("nan")})
    write_json_atomic(path, {"status": "completed", "inf": float("inf")})
    data = json.loads(path.read_text())
    assert data == {"status": "completed", "inf": None}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]  # no temp file left
