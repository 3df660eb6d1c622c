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


def memory_format(device: torch.device, shape: tuple[int, ...]) -> torch.memory_format:
    """channels_last for images on CUDA (faster convolutions with tensor cores)."""
    if device.type == "cuda" and len(shape) == 3:
        return torch.channels_last
    return torch.preserve_format


def autocast_for(device: torch.device, precision: str) -> Any:
    if precision == "fp32":
        return nullcontext()
    if device.type != "cuda":
        raise ConfigError(f"trainer.precision={precision}: mixed precision needs CUDA; use fp32")
    return torch.autocast("cuda", dtype=PRECISIONS[precision])


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
