"""A dataset from a CSV file: one example per row, the features, then an integer label."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dltricks.data import Arrays

PACKAGED = Path(__file__).with_name("iris.csv")  # Fisher's iris: 150 flowers, 3 species


def load(path: str | None = None, test_fraction: float = 0.2, seed: int = 0) -> Arrays:
    """Rows of `path` (the packaged iris.csv when null) as (N, features) float32 inputs and
    int64 labels, a `test_fraction` held out with `seed`. dltricks carves the validation
    split from the rest and fits data.preprocess on the training split."""
    table = np.loadtxt(path or PACKAGED, delimiter=",", skiprows=1)
    x, y = table[:, :-1].astype(np.float32), table[:, -1].astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = round(test_fraction * len(y))
    test, train = order[:n_test], order[n_test:]
    return Arrays(x[train], y[train], x[test], y[test])
