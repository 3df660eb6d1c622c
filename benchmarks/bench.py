"""dltricks' benchmarks: ratios measured side by side in one run, medians of interleaved
repetitions, each row in its own process (so its peak memory is its own).

    python benchmarks/bench.py            # all rows (make bench); CPU rows take ~3 minutes
    python benchmarks/bench.py --row loop # one row

Writes benchmarks/results/latest.md and latest.csv with the machine, torch and device.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
REPEATS = 5


# ---------------------------------------------------------------- rows (run in a subprocess)


def sweep_wall(*args: str) -> tuple[float, Path]:
    """`dltricks train -m ARGS` into a fresh sweep dir: its wall time; the dir (kept until the
    next call's) for what its jobs wrote."""
    global _last
    _last = tempfile.TemporaryDirectory()
    sweep_dir = Path(_last.name) / "s"
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "dltricks", "train", "-m", *args, f"hydra.sweep.dir={sweep_dir}"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    )
    return time.perf_counter() - t0, sweep_dir


_last: tempfile.TemporaryDirectory | None = None


def loop_overhead() -> dict:
    """samples/s of dltricks' loop vs a minimal hand-written loop: same model, data, batch
    size, optimizer, steps and threads; interleaved, median of REPEATS. Probes on as well.
    Like the hand-written loop, dltricks evaluates only at the end here: evaluating every
    epoch (its default) costs a further ~2% of training throughput through cache effects
    (see the README), which is not the loop's overhead."""
    import torch
    from torch import nn

    from dltricks import config, targets, train
    from dltricks.run_record import Job

    overrides = [
        "data=mnist1d",
        "model.width=256",
        "model.depth=4",
        "trainer.batch_size=64",
        "trainer.epochs=4",
        "optimizer=momentum",
        "trainer.threads=2",
        "trainer.eval_every=4",
    ]
    torch.set_num_threads(2)

    def dltricks_run(*extra: str) -> dict:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = config.load([*overrides, *extra])
            return train.run(cfg, Job(Path(tmp)))

    cfg = config.load(overrides)
    from dltricks import data as datasets

    d = datasets.build(
        targets.instantiate(cfg.data.load),
        name="mnist1d",
        preprocess="none",
        val_fraction=0.1,
        split_seed=0,
    )
    x, y = d.train.x.flatten(1), d.train.y

    def hand_written() -> float:
        torch.manual_seed(0)
        model = nn.Sequential(
            nn.Linear(40, 256),
            nn.ReLU(),
            nn.Linear(256, 256),
            nn.ReLU(),
            nn.Linear(256, 256),
            nn.ReLU(),
            nn.Linear(256, 10),
        )
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        g = torch.Generator().manual_seed(0)
        seconds, seen = 0.0, 0
        for _ in range(4):
            t0 = time.perf_counter()
            perm = torch.randperm(len(y), generator=g)
            xs, ys = x[perm], y[perm]
            for i in range(0, len(ys), 64):
                loss = nn.functional.cross_entropy(model(xs[i : i + 64]), ys[i : i + 64])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                seen += len(ys[i : i + 64])
            seconds += time.perf_counter() - t0
        return seen / seconds

    ours, theirs, off, on = [], [], [], []
    # the defaults: evaluate (and probe) every epoch; 8 epochs, so that a few ms of noise
    # do not decide the ratio (one probe costs ~2 ms here)
    every_epoch = ["trainer.eval_every=1", "trainer.epochs=8"]
    for _ in range(REPEATS):  # interleaved: the machine's noise hits both alike
        theirs.append(hand_written())
        ours.append(dltricks_run()["samples_per_s"])
        off.append(dltricks_run(*every_epoch)["wall_s"])
        on.append(dltricks_run(*every_epoch, "trainer.probes=true")["wall_s"])
    hand, plain, wall_off, wall_on = (statistics.median(v) for v in (theirs, ours, off, on))
    return {
        "rows": [
            {
                "benchmark": "loop: dltricks vs hand-written (samples/s)",
                "value": plain,
                "reference": hand,
                "ratio": plain / hand,
                "goal": ">= 0.95",
            },
            {
                "benchmark": "loop: run with probes on vs off (wall s, default frequency)",
                "value": wall_on,
                "reference": wall_off,
                "ratio": wall_off / wall_on,
                "goal": ">= 0.91 (at most 10% slower)",
            },
        ]
    }


def batching() -> dict:
    """One epoch of batches: slices of a permuted tensor vs DataLoader(TensorDataset)."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    x, y = torch.randn(20000, 1, 40), torch.randint(0, 10, (20000,))
    g = torch.Generator().manual_seed(0)

    def slices() -> float:
        t0 = time.perf_counter()
        perm = torch.randperm(len(y), generator=g)
        xs, ys = x[perm], y[perm]
        total = 0
        for i in range(0, len(ys), 64):
            xb, yb = xs[i : i + 64], ys[i : i + 64]
            total += len(xb) + 0 * len(yb)
        return total / (time.perf_counter() - t0)

    def loader() -> float:
        t0 = time.perf_counter()
        total = 0
        for xb, yb in DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True):
            total += len(xb) + 0 * len(yb)
        return total / (time.perf_counter() - t0)

    ours, theirs = [], []
    for _ in range(REPEATS):
        ours.append(slices())
        theirs.append(loader())
    a, b = statistics.median(ours), statistics.median(theirs)
    return {
        "rows": [
            {
                "benchmark": "batching: permutation slices vs DataLoader (samples/s)",
                "value": a,
                "reference": b,
                "ratio": a / b,
                "goal": "> 1",
            }
        ]
    }


def startup() -> dict:
    """`dltricks --help` wall time; a 1-epoch default run's wall time against importing
    torch; `dltricks train`'s time to its first step beyond importing torch."""

    def wall(cmd: list[str]) -> float:
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, capture_output=True, check=True)
        return time.perf_counter() - t0

    exe = [sys.executable, "-m", "dltricks"]
    helps, torches, firsts, totals = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(REPEATS):
            helps.append(wall([*exe, "--help"]))
            torches.append(wall([sys.executable, "-c", "import torch"]))
            run_dir = Path(tmp) / str(i)
            total = wall([*exe, "train", f"hydra.run.dir={run_dir}", "trainer.epochs=1"])
            summary = json.loads((run_dir / "summary.json").read_text())
            # process start -> first step = whole process - (run after set-up)
            firsts.append(total - (summary["wall_s"] - summary["setup_s"]))
            totals.append(total)
    first, torch_import = statistics.median(firsts), statistics.median(torches)
    return {
        "rows": [
            {
                "benchmark": "start-up: a 1-epoch default run vs python -c 'import torch' (s)",
                "value": statistics.median(totals),
                "reference": torch_import,
                "ratio": statistics.median(totals) / torch_import,
                "goal": "<= 1.8",
            },
            {
                "benchmark": "start-up: dltricks --help (s)",
                "value": statistics.median(helps),
                "reference": None,
                "ratio": None,
                "goal": "< 0.3",
            },
            {
                "benchmark": "start-up: train's time to first step minus import torch (s)",
                "value": first - torch_import,
                "reference": torch_import,
                "ratio": None,
                "goal": "small",
            },
        ]
    }


def sweep() -> dict:
    """8 tiny jobs: the joblib launcher with 2 workers vs the basic (sequential) launcher."""

    def wall(extra: list[str]) -> float:
        # jobs of a few seconds: long enough that worker start-up does not dominate
        seeds = ["seed=0,1,2,3,4,5,6,7", "data=mnist1d", "trainer.epochs=20"]
        return sweep_wall(*seeds, "trainer.batch_size=16", *extra)[0]

    basic, joblib = [], []
    for _ in range(2):  # each repetition is about a minute
        basic.append(wall([]))
        joblib.append(wall(["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]))
    a, b = statistics.median(joblib), statistics.median(basic)
    return {
        "rows": [
            {
                "benchmark": "sweep: 8 jobs, joblib 2 workers vs basic (wall s)",
                "value": a,
                "reference": b,
                "ratio": b / a,
                "goal": "close to 2",
            }
        ]
    }


def stacked() -> dict:
    """hydra/launcher=stacked against the basic launcher, side by side (interleaved, medians
    of 3): the same sweep's wall time, and its training seconds (the basic launcher's jobs'
    sum; the stacked group's, shared by its members), from the runs' own summaries."""

    def one(launcher: list[str], args: list[str]) -> tuple[float, float]:
        # the launcher last, where it wins over the one an experiment's args name
        wall, sweep_dir = sweep_wall("trainer.threads=1", *args, *launcher)
        summaries = [json.loads(p.read_text()) for p in sweep_dir.glob("*/summary.json")]
        stacked = any(s.get("stacked") for s in summaries)
        assert stacked == bool(launcher), f"{launcher or 'basic'}: the other launcher ran"
        groups: dict[str, float] = {}  # a stacked group's members share its seconds
        for i, s in enumerate(summaries):
            name = (s.get("stacked") or {}).get("group", f"alone {i}")
            groups[name] = max(groups.get(name, 0.0), s["train_s"])
        return wall, sum(groups.values())

    on_it = ["hydra/launcher=stacked"]
    cases = [
        ("8 seeds, the default digits MLP", ["seed=0,1,2,3,4,5,6,7"], on_it, ">= 3"),
        ("12 runs of the degradation sweep (2 epochs, 4000 signals)",
         ["experiment=degradation", "hydra/launcher=basic", "trainer.epochs=2",
          "data.load.num_samples=4000"],
         [*on_it, "hydra.launcher.force=true"], ">= 1.5"),  # convnets: on the CPU, only forced
        ("8 learning rates of the optimizers experiment (adam, one seed)",
         ["experiment=optimizers", "hydra/launcher=basic", "optimizer=adam", "seed=0",
          "trainer.lr_scale=0.1,0.2,0.5,1,2,5,10,20"], on_it, ">= 3"),
    ]  # fmt: skip
    rows = []
    for what, args, launcher, goal in cases:
        pairs = [(one([], args), one(launcher, args)) for _ in range(3)]
        # interleaved, the median of 3 each: one pair alone moved by 2x on this shared host
        basic, stack = ([statistics.median(t[k][i] for t in pairs) for i in (0, 1)] for k in (0, 1))
        for i, unit in enumerate(("wall s", "training s")):
            rows.append(
                {
                    "benchmark": f"stacked launcher: {what} ({unit})",
                    "value": stack[i],
                    "reference": basic[i],
                    "ratio": basic[i] / stack[i],
                    "goal": goal if i else "(measured)",
                }
            )
    return {"rows": rows}


def report() -> dict:
    """`dltricks report --by` over 500 runs (a fixture tree in the real file format)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from test_report import make_run

    with tempfile.TemporaryDirectory() as tmp:
        for i in range(500):
            make_run(
                Path(tmp),
                str(i),
                depth=(20, 56)[i % 2],
                seed=i // 2,
                train_err=[0.3, 0.2, 0.1] * 10,
                val_err=[0.3, 0.2, 0.15] * 10,
            )
        return report_row("report: 500 runs grouped (s)", tmp, "--by", "model.depth")


def report_row(label: str, *args: str) -> dict:
    """The median wall time of `dltricks report ARGS` (a process each time), against 2 s."""
    walls = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        command = [sys.executable, "-m", "dltricks", "report", *args]
        subprocess.run(command, cwd=ROOT, capture_output=True, check=True)
        walls.append(time.perf_counter() - t0)
    row = {"benchmark": label, "value": statistics.median(walls), "reference": None}
    return {"rows": [{**row, "ratio": None, "goal": "< 2"}]}


def versus() -> dict:
    """`dltricks report` over a comparison folder of 1000 runs (8 options x 5 problems x 25:
    3 at the defaults, 19 tuning trials, 3 re-runs), in the real file format: the reader
    must not grow with the protocol (a plain report of 500 runs is the row above)."""
    import json
    import random

    sys.path.insert(0, str(ROOT / "tests"))
    from test_report import make_run

    options = ["sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "nadam", "radam"]
    problems = ["p1", "p2", "p3", "p4", "p5"]
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        plan = {"group": "optimizer", "options": options, "problems": problems,
                "targets": dict.fromkeys(problems, 0.2), "budget": 19, "seeds": 3}  # fmt: skip
        (root / "plan.json").write_text(json.dumps(plan))
        n = 0
        for problem in problems:
            for option in options:
                for phase, count in (("default", 3), ("tune", 19), ("rerun", 3)):
                    for i in range(count):
                        level = rng.uniform(0.05, 0.3)
                        curve = [0.6, 0.3, level] * 10
                        make_run(root / problem / option / phase, str(i), depth=4, seed=i,
                                 train_err=curve, val_err=curve)  # fmt: skip
                        n += 1
        assert n == 1000
        return report_row("report: a comparison of 1000 runs (s)", tmp)


def search() -> dict:
    """A 30-trial search on digits (momentum's space: lr, momentum) with the Hyperband pruner
    against the same search without pruning: the epochs trained and the best val error."""

    def one(pruner: str) -> tuple[int, float, float]:
        wall, sweep_dir = sweep_wall(
            "hydra/sweeper=search", "hydra.sweeper.n_trials=30", f"hydra.sweeper.pruner={pruner}",
            "hydra/sweeper/sampler=qmc", "trainer.epochs=20", "trainer.threads=1",
        )  # fmt: skip
        summaries = [json.loads(p.read_text()) for p in sweep_dir.glob("*/summary.json")]
        epochs = sum(s["epochs"] for s in summaries)
        best = min(s["best"]["val_err"] for s in summaries if s.get("best"))
        return epochs, best, wall

    pruned, full = one("hyperband"), one("none")
    return {
        "rows": [
            {
                "benchmark": "search: 30 trials, hyperband vs no pruning (epochs trained)",
                "value": pruned[0],
                "reference": full[0],
                "ratio": pruned[0] / full[0],
                "goal": "<= 0.4",
            },
            {
                "benchmark": "search: 30 trials, hyperband vs no pruning (best val err)",
                "value": pruned[1],
                "reference": full[1],
                "ratio": pruned[1] - full[1],  # a difference, in error points / 100
                "goal": "difference <= 0.01",
            },
            {
                "benchmark": "search: 30 trials, hyperband vs no pruning (wall s)",
                "value": pruned[2],
                "reference": full[2],
                "ratio": full[2] / pruned[2],
                "goal": "(measured)",
            },
        ]
    }


def gpu() -> dict:
    """ResNet-56 on CIFAR-10-shaped data on the GPU: fp32, bf16, channels_last, compile."""
    import torch

    if not torch.cuda.is_available():
        return {
            "rows": [
                {
                    "benchmark": "gpu: ResNet-56 epoch (fp32 / bf16 / channels_last / "
                    "compile / DataLoader reference)",
                    "value": None,
                    "reference": None,
                    "ratio": None,
                    "goal": "not measured: no CUDA device here",
                }
            ]
        }
    from gpu_bench import resnet56_rows

    return {"rows": resnet56_rows()}


def threads() -> dict:
    from contention import threads as measure

    return {"rows": measure()["rows"]}


ROWS = {
    "loop": loop_overhead,
    "threads": threads,
    "batching": batching,
    "startup": startup,
    "sweep": sweep,
    "report": report,
    "versus": versus,
    "stacked": stacked,
    "search": search,
    "gpu": gpu,
}


# ---------------------------------------------------------------- the harness


def run_row(name: str) -> list[dict]:
    """One row in its own process; its peak RSS comes back with it."""
    proc = subprocess.run(
        [sys.executable, __file__, "--child", name],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(HERE)},
    )
    if proc.returncode:
        return [
            {
                "benchmark": name,
                "value": None,
                "reference": None,
                "ratio": None,
                "goal": f"failed: {proc.stderr.strip().splitlines()[-1:]}",
            }
        ]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for row in result["rows"]:
        row["peak_rss_mb"] = result["peak_rss_mb"]
        row["peak_gpu_mb"] = result.get("peak_gpu_mb")
    return result["rows"]


def machine() -> str:
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return (
        f"{platform.machine()} {os.cpu_count()} cores, {platform.system()}, "
        f"python {platform.python_version()}, torch {torch.__version__}, device {device}"
    )


def fmt(value: object) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def write(rows: list[dict], about: str, name: str = "latest") -> str:
    cols = ["benchmark", "value", "reference", "ratio", "goal", "peak_rss_mb", "peak_gpu_mb"]
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {about}.",
        "",
        "| " + " | ".join(cols) + " |",
        "|" + "---|" * len(cols),
    ]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in cols) + " |" for r in rows]
    text = "\n".join(lines) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.md").write_text(text)
    with open(RESULTS / f"{name}.csv", "w") as f:
        f.write(",".join(cols) + "\n")
        for r in rows:
            f.write(",".join(f'"{fmt(r.get(c))}"' for c in cols) + "\n")
    return text


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--row", choices=list(ROWS), action="append", help="only these rows")
    p.add_argument("--out", default="latest", help="results/OUT.md and .csv (default: latest)")
    p.add_argument("--child", choices=list(ROWS), help=argparse.SUPPRESS)
    opts = p.parse_args()
    if opts.child:
        result = ROWS[opts.child]()
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    rows: list[dict] = []
    for name in opts.row or list(ROWS):
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows += run_row(name)
    print(write(rows, machine(), opts.out))


if __name__ == "__main__":
    main()
