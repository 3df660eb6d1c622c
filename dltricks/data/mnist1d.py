"""MNIST-1D (Greydanus 2020), generated offline by the mnist1d package and cached as .npz."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from dltricks.data import Arrays


def load(
    num_samples: int = 5000,
    train_split: float = 0.8,
    seed: int = 42,
    root: str = "~/.cache/dltricks",
) -> Arrays:
    """Signals as (N, 1, 40); the package's own train/test split."""
    params = {"num_samples": num_samples, "train_split": train_split, "seed": seed}
    f = cached(root, "mnist1d", params, lambda: _generate(**params))
    return Arrays(f["x"][:, None], f["y"], f["x_test"][:, None], f["y_test"])


def cached(
    root: str, name: str, params: dict, make: Callable[[], dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """Arrays made once by make() and kept as <root>/<name>/<name>-<hash of params>.npz."""
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    path = Path(root).expanduser() / name / f"{name}-{key}.npz"
    if not path.exists():
        _save_atomic(path, make())
    with np.load(path) as f:  # plain arrays only (allow_pickle is off by default)
        return {k: f[k] for k in f.files}


def _generate(num_samples: int, train_split: float, seed: int) -> dict[str, np.ndarray]:
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.train_split, args.seed = num_samples, train_split, seed
    state = np.random.get_state()  # make_dataset seeds numpy's global RNG: leave it as found
    try:
        d = make_dataset(args)
    finally:
        np.random.set_state(state)
    return {
        "x": d["x"].astype(np.float32),
        "y": d["y"].astype(np.int64),
        "x_test": d["x_test"].astype(np.float32),
        "y_test": d["y_test"].astype(np.int64),
    }


def _save_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
