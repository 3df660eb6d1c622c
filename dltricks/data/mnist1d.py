"""MNIST-1D (Greydanus 2020), generated offline by the mnist1d package and cached as .npz."""

from __future__ import annotations

import numpy as np

from dltricks.data import Arrays
from dltricks.data.cache import cached


def load(
    num_samples: int = 5000,
    train_split: float = 0.8,
    seed: int = 42,
    root: str = "~/.cache/dltricks",
    **variation: float,
) -> Arrays:
    """Signals as (N, 1, 40); the package's own train/test split. `variation` sets the
    generator's other arguments (noise, shear, scale, translation: see conf/data/mnist1d.yaml),
    e.g. a shifted domain to transfer to."""
    unknown = set(variation) - set(VARIATION)
    if unknown:
        raise ValueError(f"mnist1d has no generator argument {sorted(unknown)}; use {VARIATION}")
    params = {"num_samples": num_samples, "train_split": train_split, "seed": seed}
    params |= {k: v for k, v in variation.items() if v != VARIATION[k]}  # the cache key
    f = cached(root, "mnist1d", params, lambda: _generate(**params))
    return Arrays(f["x"][:, None], f["y"], f["x_test"][:, None], f["y_test"])


# The generator's arguments that change the signals, at the package's (the paper's) defaults.
VARIATION = {
    "scale_coeff": 0.4,
    "max_translation": 48,
    "corr_noise_scale": 0.25,
    "iid_noise_scale": 0.02,
    "shear_scale": 0.75,
}


def _generate(num_samples: int, train_split: float, seed: int, **variation: float):
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.train_split, args.seed = num_samples, train_split, seed
    for key, value in variation.items():
        setattr(args, key, value)
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
