"""`make gpu-check`: the GPU path on a CUDA machine, in under 5 minutes on one GPU.

1. the CUDA tests (pytest -m gpu: bf16, fp16, compile, a bit-for-bit resume, probes that
   change no number, the gradient check on a channels_last convnet);
2. experiment=resnet_cifar10 for 2 epochs on generated CIFAR-shaped files (the real format,
   random pixels) in bf16 with torch.compile;
3. the same recipe in fp32 at a constant rate for 2 epochs at once, and for 1 epoch resumed
   to 2: the metrics must agree bit for bit (trainer.deterministic, the default);
4. benchmarks/gpu_bench.py's rows (benchmarks/bench.py --row gpu --out gpu).

Each step's verdict goes to benchmarks/results/gpu_check.md, which the README's GPU section
quotes; the exit code is 1 if any step failed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
sys.path.insert(0, str(ROOT / "tests"))


def step(name: str, *command: str, env: dict | None = None) -> tuple[str, bool, float, str]:
    start = time.perf_counter()
    proc = subprocess.run(
        list(command),
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    seconds = time.perf_counter() - start
    tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
    print(f"{name}: {'ok' if proc.returncode == 0 else 'FAILED'} ({seconds:.0f} s)", flush=True)
    if proc.returncode:
        print("\n".join(tail), flush=True)
    return name, proc.returncode == 0, seconds, " / ".join(tail)


def train(run_dir: Path, root: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "dltricks",
        "train",
        f"hydra.run.dir={run_dir}",
        "experiment=resnet_cifar10",
        "data.load.verify=false",
        f"data.root={root}",
        "trainer.device=cuda",
        *extra,
    ]


# a constant rate: a run of 1 epoch resumed to 2 then has the schedule of one of 2 epochs
FIXED = ("schedule=constant",)


def same_metrics(a: Path, b: Path) -> bool:
    import pandas as pd
    from conftest import EXACT

    read = [pd.read_csv(d / "metrics.csv", float_precision="round_trip")[EXACT] for d in (a, b)]
    return read[0].equals(read[1])


def main() -> int:
    import torch

    if not torch.cuda.is_available():
        print("gpu-check: no CUDA device here (torch.cuda.is_available() is False)")
        return 2
    from fixtures import make_cifar

    work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    make_cifar(work / "data", per_batch=2000, n_test=1000)  # 10k training images
    root = work / "data"
    py = sys.executable
    steps = [
        step("CUDA tests (pytest -m gpu)", py, "-m", "pytest", "-q", "-m", "gpu", "tests"),
        step(
            "resnet_cifar10, 2 epochs, bf16 + compile",
            *train(
                work / "bf16",
                root,
                "trainer.epochs=2",
                "trainer.precision=bf16",
                "trainer.compile=true",
            ),
        ),
        step(
            "resnet_cifar10, 2 epochs, fp32",
            *train(work / "whole", root, *FIXED, "trainer.epochs=2"),
        ),
        step("... 1 epoch", *train(work / "split", root, *FIXED, "trainer.epochs=1")),
        step(
            "... resumed to 2",
            py,
            "-m",
            "dltricks",
            "resume",
            str(work / "split"),
            "trainer.epochs=2",
        ),
    ]
    exact = steps[-1][1] and steps[2][1] and same_metrics(work / "whole", work / "split")
    steps.append(("resume bit for bit (metrics.csv)", exact, 0.0, "" if exact else "differs"))
    steps.append(step("GPU benchmark", py, "benchmarks/bench.py", "--row", "gpu", "--out", "gpu"))
    device = torch.cuda.get_device_name(0)
    lines = [
        f"gpu-check {time.strftime('%Y-%m-%d')} on {device}, torch {torch.__version__}",
        "",
        "| step | result | seconds | last lines |",
        "|---|---|---|---|",
    ]
    lines += [f"| {n} | {'ok' if ok else 'FAILED'} | {s:.0f} | {t} |" for n, ok, s, t in steps]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "gpu_check.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if all(ok for _, ok, _, _ in steps) else 1


if __name__ == "__main__":
    sys.exit(main())
