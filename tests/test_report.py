"""`dltricks report` over a fixture tree of runs in every state a run can be left in."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import dltricks

from dltricks.records import LAYER_COLUMNS
from dltricks.report.diagnosis import Facts, Thresholds, diagnose
from dltricks.rundir.files import write_json_atomic
from dltricks.rundir.tables import MetricsWriter


def make_run(
    root: Path,
    name: str,
    *,
    depth: int,
    seed: int,
    train_err: list[float],
    val_err: list[float],
    status: str = "completed",
    extra: dict | None = None,
    layers: bool = False,
) -> Path:
    """A run dir in the real on-disk format (what `dltricks train` writes)."""
    run = root / name
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text(
        f"seed: {seed}\nmodel:\n  _target_: dltricks.models.mlp.MLP\n  depth: {depth}\n"
        "  width: 8\noptimizer:\n  lr: 0.1\n"
    )
    overrides = [f"model.depth={depth}", f"seed={seed}"]
    (run / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    with MetricsWriter(run / "metrics.csv") as w:
        for epoch, (tr, va) in enumerate(zip(train_err, val_err, strict=True), start=1):
            w.write(
                {
                    "epoch": epoch,
                    "step": 10 * epoch,
                    "lr": 0.1,
                    "train_loss": tr,
                    "train_err": tr,
                    "val_loss": va,
                    "val_err": va,
                    "test_loss": va,
                    "test_err": va + 0.01,
                }
            )
    if layers:
        with MetricsWriter(run / "layers.csv", LAYER_COLUMNS) as w:
            for epoch in (0, len(train_err)):
                for index in range(3):
                    w.write(
                        {
                            "epoch": epoch,
                            "step": 0,
                            "layer": f"l{index}",
                            "index": index,
                            "kind": "linear",
                            "grad_norm": 10.0 ** (index - 3),
                            "weight_norm": 1.0,
                        }
                    )
    final = {
        "train_err": train_err[-1],
        "val_err": val_err[-1],
        "test_err": val_err[-1] + 0.01,
        "train_loss": train_err[-1],
        "val_loss": val_err[-1],
        "test_loss": val_err[-1],
    }
    best = min(range(len(val_err)), key=val_err.__getitem__)
    write_json_atomic(
        run / "summary.json",
        {
            "status": status,
            "epochs": len(train_err),
            "steps": 10 * len(train_err),
            "final": None if status == "running" else final,
            "best": {"epoch": best + 1, "val_err": val_err[best], "test_err": val_err[best] + 0.01},
            "choices": {"model": "mlp", "optimizer": "momentum"},
            "overrides": overrides,
            "seed": seed,
            "wall_s": 1.0,
            "samples_per_s": 1000.0,
            **(extra or {}),
        },
    )
    return run


@pytest.fixture
def tree(tmp_path) -> Path:
    root = tmp_path / "sweep"
    # depth 20 trains well; depth 56 has high *train* error (the degradation problem)
    make_run(root, "0", depth=20, seed=0, train_err=[0.2, 0.02], val_err=[0.25, 0.04], layers=True)
    make_run(root, "1", depth=20, seed=1, train_err=[0.2, 0.04], val_err=[0.25, 0.06])
    # ...and it has stopped falling: an optimization problem, not a short run
    make_run(root, "2", depth=56, seed=0, train_err=[0.5, 0.29, 0.30], val_err=[0.5, 0.3, 0.32])
    make_run(root, "3", depth=56, seed=1, train_err=[0.5, 0.21, 0.20], val_err=[0.5, 0.2, 0.22])
    make_run(
        root,
        "4",
        depth=8,
        seed=0,
        train_err=[1.0, float("nan")],
        val_err=[1.0, 1.0],
        status="diverged",
        extra={"diverged_at_step": 20},
    )
    make_run(
        root,
        "5",
        depth=8,
        seed=1,
        train_err=[0.5],
        val_err=[0.5],
        status="failed",
        extra={"error": "RuntimeError: boom"},
    )
    # killed mid-write: half a summary.json and half a metrics row
    half = make_run(root, "6", depth=8, seed=2, train_err=[0.3, 0.2], val_err=[0.3, 0.2])
    (half / "summary.json").write_text('{"status": "runn')
    with open(half / "metrics.csv", "a") as f:
        f.write("3,30,0.1,0.12")
    # NUL-tailed metrics (a power cut after the file grew), still "running" by a dead pid
    dead = make_run(
        root,
        "7",
        depth=8,
        seed=3,
        train_err=[0.3],
        val_err=[0.3],
        status="running",
        extra={"pid": 2**22 + 12345, "host": _host()},
    )
    with open(dead / "metrics.csv", "ab") as f:
        f.write(b"\x00" * 64)
    # a job Hydra started that never wrote anything
    (root / "8" / ".hydra").mkdir(parents=True)
    (root / "8" / ".hydra" / "config.yaml").write_text("seed: 4\n")
    return root


def _host() -> str:
    import socket

    return socket.gethostname()


def report(*args: str) -> subprocess.CompletedProcess:
    proc = dltricks("report", *args, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc


def test_one_row_per_run_with_status_and_values(tree):
    proc = report(str(tree), "--format", "csv")
    df = pd.read_csv(io.StringIO(proc.stdout))
    assert len(df) == 9
    status = dict(zip(df["run"].astype(str), df["status"], strict=True))
    assert status == {
        "0": "completed",
        "1": "completed",
        "2": "completed",
        "3": "completed",
        "4": "diverged",
        "5": "failed",
        "6": "unknown",
        "7": "interrupted",
        "8": "crashed",
    }
    row = df[df["run"].astype(str) == "2"].iloc[0]
    assert row["train_err"] == pytest.approx(0.30) and row["best_val_err"] == pytest.approx(0.3)
    assert row["model.depth"] == 56
    # the half-written run falls back to its whole metrics rows: the last is epoch 2
    half = df[df["run"].astype(str) == "6"].iloc[0]
    assert half["train_err"] == pytest.approx(0.2)
    assert "unterminated" in half["warnings"]
    assert "NUL" in df[df["run"].astype(str) == "7"].iloc[0]["warnings"]


def test_grouping_aggregates_seeds_as_mean_std_and_n(tree):
    proc = report(str(tree), "--by", "model.depth", "--format", "json")
    groups = {str(g["model.depth"]): g for g in json.loads(proc.stdout)}
    assert groups["20"]["n"] == 2
    assert groups["20"]["train_err_mean"] == pytest.approx(0.03)
    assert groups["20"]["train_err_std"] == pytest.approx(pd.Series([0.02, 0.04]).std())
    assert groups["56"]["train_err_mean"] == pytest.approx(0.25)
    assert "1 diverged" in groups["8"]["statuses"]


def test_table_shows_mean_pm_std_and_the_diagnosis(tree):
    out = report(str(tree), "--by", "model.depth").stdout
    assert "0.0300 ± 0.0141" in out
    assert (
        "model.depth=56: train error 0.250 is high: an optimization problem, not "
        "overfitting" in out.replace("\n", " ")
    )
    assert "model.depth=8: the loss became NaN/inf" in out.replace("\n", " ")


def test_diagnosis_judges_train_error_first_then_the_gap():
    assert diagnose("completed", 0.30, 0.31).label == "optimization problem"
    over = diagnose("completed", 0.01, 0.20)
    assert over.label == "overfitting" and "early stopping" in over.advice
    assert diagnose("completed", 0.01, 0.03).label == "good fit"
    assert diagnose("completed", 0.01, 0.03, Thresholds(gap=0.01)).label == "overfitting"
    assert diagnose("diverged", None, None).label == "diverged"


def test_the_advice_names_only_the_tricks_the_run_does_not_use():
    plain = diagnose("completed", 0.3, 0.31, facts=Facts(activation="sigmoid", optimizer="sgd"))
    assert "relu" in plain.advice and "adam" in plain.advice and "batch norm" in plain.advice
    used = Facts(activation="relu", optimizer="adam", norm="batch", residual=True)
    advice = diagnose("completed", 0.3, 0.31, facts=used).advice
    assert not any(t in advice for t in ("relu", "adam", "momentum", "batch", "residual"))
    assert "wider or deeper model" in advice
    over = diagnose("completed", 0.0, 0.2, facts=Facts(regularization=["dropout"])).advice
    assert "early stopping" in over and "dropout" not in over


def test_the_diagnosis_reads_the_runs_status_curve_and_data():
    short = diagnose("completed", 0.4, 0.41, facts=Facts(still_falling=True))
    assert short.label == "not trained long enough"
    assert diagnose("interrupted", 0.4, 0.41).label == "not trained long enough"
    noisy = Facts(regularization=["dropout"], label_noise=0.3)
    assert diagnose("completed", 0.28, 0.34, facts=noisy).label == "fits the clean labels"
    strong = diagnose("completed", 0.2, 0.22, facts=Facts(regularization=["l2"]))
    assert strong.label == "regularized" and "l2" in strong.advice


def test_out_writes_the_table_and_readable_pngs(tree, tmp_path):
    out = tmp_path / "rep"
    report(str(tree), "--by", "model.depth", "--out", str(out))
    assert (out / "report.md").read_text().startswith("# dltricks report")
    import matplotlib.image

    for name in ("curves.png", "loss.png", "lr.png", "layer_gradients.png"):
        image = matplotlib.image.imread(out / name)
        assert image.shape[0] > 100 and image.shape[1] > 100


def test_sensitivity_draws_a_metric_against_one_key_a_line_per_other_group():
    from dltricks.report import plots

    numbers = pd.DataFrame(
        {
            "optimizer": ["sgd", "sgd", "sgd", "adam", "adam", "adam"],
            "trainer.lr_scale": ["3", "0.3", "1", "0.3", "1", "3"],
            "best_val_err_mean": [0.9, 0.2, 0.1, 0.05, 0.04, 0.06],
            "best_val_err_std": [0.0, 0.01, 0.02, 0.0, 0.0, 0.0],
        }
    )
    lines, (ticks, log, categorical) = plots.sensitivity_lines(
        numbers, ["optimizer", "trainer.lr_scale"], "trainer.lr_scale"
    )
    assert list(lines) == ["optimizer=sgd", "optimizer=adam"]
    assert lines["optimizer=sgd"]["_x"].tolist() == [0.3, 1.0, 3.0]  # sorted, numeric
    assert lines["optimizer=sgd"]["best_val_err_mean"].tolist() == [0.2, 0.1, 0.9]
    assert ticks == {0.3: "0.3", 1.0: "1", 3.0: "3"} and log is True  # spans 10x: log axis
    assert categorical is False
    _, (_, log, _) = plots.sensitivity_lines(
        numbers.replace("0.3", "0.5"), ["optimizer", "trainer.lr_scale"], "trainer.lr_scale"
    )
    assert log is False  # 0.5 to 3: a linear axis
    lines, (ticks, log, categorical) = plots.sensitivity_lines(
        numbers, ["trainer.lr_scale", "optimizer"], "optimizer"
    )
    assert ticks == {0: "sgd", 1: "adam"} and not log  # categories in order of appearance
    assert categorical is True
    assert lines["trainer.lr_scale=3"]["_x"].tolist() == [0, 1]


def test_x_writes_the_sensitivity_plot_and_needs_a_by_key_and_out(tree, tmp_path):
    out = report(str(tree), "--by", "model.depth", "--x", "model.depth", "--out", str(tmp_path))
    assert "sensitivity.png" in out.stdout and (tmp_path / "sensitivity.png").stat().st_size > 1000
    for args, named in (
        (["--by", "model.depth", "--x", "seed", "--out", str(tmp_path)], "--x seed"),
        (["--by", "model.depth", "--x", "model.depth"], "--out"),
    ):
        proc = dltricks("report", str(tree), *args)
        assert proc.returncode == 2 and named in proc.stderr and "Traceback" not in proc.stderr


def test_html_is_one_self_contained_page(tree, tmp_path):
    report(str(tree), "--by", "model.depth", "--format", "html", "--out", str(tmp_path))
    page = (tmp_path / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 5  # errors, losses, lr, gradients, activations
    assert "<table" in page and 'src="http' not in page
    assert page.count("<script") == 1 and page.index("<script>") > page.index("</table>")  # ours


def test_compare_puts_two_groups_side_by_side(tree):
    out = report(
        str(tree), "--compare", "model.depth=20", "model.depth=56", "--format", "csv"
    ).stdout
    df = pd.read_csv(io.StringIO(out))
    row = df[df["metric"] == "train_err"].iloc[0]
    assert float(row["B - A"]) == pytest.approx(0.22)


def test_compare_never_pools_runs_of_other_settings_as_seeds(tree):
    out = report(str(tree), "--compare", "seed=0", "seed=1", "--format", "csv").stdout
    df = pd.read_csv(io.StringIO(out))
    # depth 20 and 56 are compared within themselves (depth 8's runs did not both end)
    assert sorted(df["model.depth"].astype(str).unique()) == ["20", "56"]
    row = df[(df["metric"] == "train_err") & (df["model.depth"].astype(str) == "56")].iloc[0]
    assert float(row["B - A"]) == pytest.approx(-0.10) and "too few seeds" in row["verdict"]


def test_welch_interval_agrees_with_welchs_t_test():
    from scipy import stats

    from dltricks.report.compare import welch_interval

    a, b = [0.30, 0.32, 0.31, 0.29], [0.25, 0.27, 0.22, 0.26, 0.24]
    low, high = welch_interval(a, b)
    assert low < high < 0  # B clearly lower
    p = stats.ttest_ind(b, a, equal_var=False).pvalue
    assert p < 0.05
    near = [0.30, 0.25, 0.33], [0.29, 0.34, 0.27]
    low, high = welch_interval(*near)
    assert low < 0 < high and stats.ttest_ind(near[1], near[0], equal_var=False).pvalue > 0.05
    # the interval's half-width is t(0.975, dof) * se, dof by Welch-Satterthwaite
    va, vb = pd.Series(a).var() / 4, pd.Series(b).var() / 5
    dof = (va + vb) ** 2 / (va**2 / 3 + vb**2 / 4)
    half = stats.t.ppf(0.975, dof) * (va + vb) ** 0.5
    lo2, hi2 = welch_interval(a, b)
    assert (hi2 - lo2) / 2 == pytest.approx(half)


def test_many_paths_are_summed_up_in_the_title(tree):
    runs = sorted(str(p.parent) for p in tree.rglob("summary.json"))
    assert len(runs) > 3
    first = report(*runs, "--format", "markdown").stdout.splitlines()[0]
    assert first.endswith(f"under {tree} ({len(runs)} paths)"), first


def test_sort_orders_by_a_metric(tree):
    out = report(str(tree), "--by", "model.depth", "--sort", "train_err", "--format", "csv")
    depths = pd.read_csv(io.StringIO(out.stdout))["model.depth"].astype(str).tolist()
    assert depths[:2] == ["20", "56"]


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["{missing}"], "no such file"),
        (["{empty}"], "no runs under"),
        (["{tree}", "--by", "model.nope"], "model.nope"),
        (["{tree}", "--metric", "accuracy"], "accuracy"),
        (["{tree}", "--sort", "nope"], "nope"),
    ],
)
def test_bad_input_exits_2(tree, tmp_path, args, named):
    (tmp_path / "empty").mkdir()
    paths = {"missing": tmp_path / "missing", "empty": tmp_path / "empty", "tree": tree}
    proc = dltricks("report", *(a.format(**paths) for a in args))
    assert proc.returncode == 2 and named in proc.stderr
    assert "Traceback" not in proc.stderr


def test_report_never_imports_torch(tree, tmp_path):
    code = (
        "import sys; from dltricks.cli import main; "
        f"main(['report', {str(tree)!r}, '--by', 'model.depth', '--out', "
        f"{str(tmp_path / 'o')!r}]); assert 'torch' not in sys.modules, 'torch imported'"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_report_on_real_runs(tmp_path):
    for seed in (0, 1):
        dltricks(
            "train",
            f"hydra.run.dir={tmp_path}/runs/{seed}",
            f"seed={seed}",
            "trainer.epochs=2",
            "model.width=16",
        )
    out = report(str(tmp_path / "runs"), "--by", "optimizer").stdout
    assert "momentum" in out and "2 completed" in out


def test_layers_shows_the_per_layer_table_and_plots(tree, tmp_path):
    args = [str(tree / "0"), "--by", "model.depth", "--layers"]
    report(*args, "--out", str(tmp_path))
    page = (tmp_path / "report.md").read_text()  # its own section, a real markdown table
    assert "\n## Per-layer statistics" in page and "\n| model.depth=20 | 0 | 2 |" in page
    assert (tmp_path / "layer_activations.png").stat().st_size > 1000
    assert "Per-layer statistics" in report(*args).stdout  # the terminal shows it too
    report(*args, "--format", "csv", "--out", str(tmp_path / "csv"))
    layers = pd.read_csv(tmp_path / "csv" / "layers.csv")  # csv: one table a file
    assert {"group", "epoch", "index", "grad_norm"} <= set(layers.columns)
    assert "grad_norm" not in (tmp_path / "csv" / "report.csv").read_text()
    two = dltricks("report", *args, "--format", "csv")
    assert two.returncode == 2 and "--out" in two.stderr
    bare = dltricks("report", str(tree / "1"), "--layers")
    assert bare.returncode == 2 and "trainer.probes=true" in bare.stderr
