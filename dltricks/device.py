"""Where a run computes: the device, its memory, and the precision and layout that suit it."""

from __future__ import annotations

import os
from contextlib import nullcontext
from typing import Any

import torch

from dltricks.errors import ConfigError

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def pick(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"trainer.device={name}: CUDA is not available here; use cpu or auto")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("trainer.device=mps: MPS is not available here; use cpu or auto")
    return torch.device(name)


def check_fits(params: int, device: torch.device) -> None:
    """Refuse a model whose weights, gradients and two optimizer states (float32: 16 bytes a
    parameter) exceed the memory free on its device."""
    need, free = 16 * params, free_bytes(device)
    if need > free:
        raise ConfigError(
            f"model: {params:,} parameters need about {need / 2**30:.1f} GiB for weights, "
            f"gradients and optimizer state; {free / 2**30:.1f} GiB are free on {device}. "
            "Use a smaller model.width or model.depth"
        )


def free_bytes(device: torch.device) -> int:
    """The memory free on a device now (the machine's, for the CPU)."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def memory_format(device: torch.device, shape: tuple[int, ...], channels_last: Any = None) -> Any:
    """The layout of 4-D batches (images) and of the model's convolutions: channels_last on
    CUDA by default (faster convolutions with tensor cores), or as trainer.channels_last says
    (true, false); preserve_format (nothing changed) for every other shape."""
    wanted = device.type == "cuda" if channels_last is None else bool(channels_last)
    return torch.channels_last if wanted and len(shape) == 3 else torch.preserve_format


def laid_out(x: torch.Tensor, layout: Any) -> torch.Tensor:
    """`x` in `layout` (a memory_format); unchanged for preserve_format or other ranks."""
    if layout is torch.preserve_format or x.dim() != 4:
        return x
    return x.contiguous(memory_format=layout)


AUTOCAST_DEVICES = {"bf16": ("cuda", "cpu"), "fp16": ("cuda",)}  # torch's CPU autocast: bf16


def check_precision(device: torch.device, precision: str) -> None:
    """Refuse a precision this device cannot autocast to, before any data is loaded."""
    if precision != "fp32" and device.type not in AUTOCAST_DEVICES[precision]:
        where = " or ".join(AUTOCAST_DEVICES[precision])
        raise ConfigError(
            f"trainer.precision={precision}: autocast to {precision} runs on {where}, not "
            f"{device.type}; use fp32" + ("" if precision == "bf16" else " or bf16")
        )


def autocast_for(device: torch.device, precision: str) -> Any:
    if precision == "fp32":
        return nullcontext()
    check_precision(device, precision)
    return torch.autocast(device.type, dtype=PRECISIONS[precision])


def set_determinism(device: torch.device, deterministic: bool) -> None:
    """trainer.deterministic. On CUDA: torch's deterministic algorithms (a warning names any
    op that has none), cuDNN's deterministic kernels without autotuning and cuBLAS' fixed
    workspace, so that a repeated or resumed run is bit for bit the same; off, cuDNN picks the
    fastest kernels (benchmark). The CPU's kernels are deterministic at a fixed thread count
    either way."""
    if device.type != "cuda":
        return
    if deterministic:  # cuBLAS reads it when it starts: before the first matmul
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic


def rng_devices(device: torch.device) -> list[int]:
    """The CUDA devices whose random streams a fork must save and restore (torch.random.
    fork_rng(devices=...)): the run's own, none on the CPU."""
    if device.type != "cuda":
        return []
    return [device.index if device.index is not None else torch.cuda.current_device()]


def fork_rng(device: torch.device) -> Any:
    """A fork of every random stream an extra forward pass on `device` may draw from (the
    CPU's and the run's CUDA device's): the training stream goes on as if it never ran."""
    return torch.random.fork_rng(devices=rng_devices(device))


def cpu_threads(requested: int | None) -> int:
    """trainer.threads, or by default the CPUs this process may use (its affinity) less those
    other processes are running on now: torch's threads spin while they wait for each other,
    so on a shared machine more threads than free cores fight for them (a 30-70x slowdown
    was seen on 2 busy cores). The run queue is read from /proc/loadavg where there is one.
    OMP_NUM_THREADS, when set, is the user's (or Ray's, per task) choice and is kept; a SLURM
    job uses at most the CPUs it was given (SLURM_CPUS_PER_TASK)."""
    if requested:
        return requested
    if os.environ.get("OMP_NUM_THREADS", "").isdigit():  # the user's own choice, torch's way
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    allocated = os.environ.get("SLURM_CPUS_PER_TASK", "")  # SLURM's grant, bound or not
    if allocated.isdigit():
        cpus = min(cpus or 1, int(allocated))
    return max(1, (cpus or 1) - others_running())


def others_running(samples: int = 5) -> int:
    """Processes running or runnable besides this one (the median of a few readings of the
    kernel's run queue); 0 where it cannot be read."""
    import statistics
    import time

    readings = []
    for _ in range(samples):
        try:
            with open("/proc/loadavg") as f:
                running = int(f.read().split()[3].split("/")[0])
        except (OSError, ValueError, IndexError):
            return 0
        readings.append(max(0, running - 1))  # this process is one of them
        time.sleep(0.002)
    return int(statistics.median(readings))
