"""scikit-learn's 8x8 digits (1797 images of 10 classes), bundled with the package; cached as
.npz under data.root, so runs after the first skip importing scikit-learn (0.7 s)."""

from __future__ import annotations

import numpy as np

from dltricks.data import Arrays, carve
from dltricks.data.cache import cached


def load(test_fraction: float = 0.2, root: str = "~/.cache/dltricks") -> Arrays:
    """Images as (N, 1, 8, 8) in [0, 1]; no official test split, so one is carved (seed 0)."""
    arrays = cached(root, "digits", {"version": 1}, _from_sklearn)
    x, y = arrays["x"], arrays["y"]
    train, test = carve(len(y), test_fraction, seed=0)
    return Arrays(x[train], y[train], x[test], y[test])


def _from_sklearn() -> dict[str, np.ndarray]:
    from sklearn.datasets import load_digits  # imported here: sklearn is slow to import

    digits = load_digits()
    return {
        "x": (digits.images[:, None] / 16.0).astype(np.float32),
        "y": digits.target.astype(np.int64),
    }
