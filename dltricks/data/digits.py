"""scikit-learn's 8x8 digits (1797 images of 10 classes), bundled with the package."""

from __future__ import annotations

import numpy as np

from dltricks.data import Arrays, carve


def load(test_fraction: float = 0.2) -> Arrays:
    """Images as (N, 1, 8, 8) in [0, 1]; no official test split, so one is carved (seed 0)."""
    from sklearn.datasets import load_digits  # imported here: sklearn is slow to import

    digits = load_digits()
    x = (digits.images[:, None] / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    train, test = carve(len(y), test_fraction, seed=0)
    return Arrays(x[train], y[train], x[test], y[test])
