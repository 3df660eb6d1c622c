"""Synthetic datasets, generated from a seed: nothing to download, any size."""

from __future__ import annotations

import numpy as np

from dltricks.data import Arrays


def spirals(
    n: int = 300, classes: int = 3, noise: float = 0.2, test_n: int = 100, seed: int = 0
) -> Arrays:
    """cs231n's interleaved spirals in 2-D: not linearly separable. n points per class."""

    def draw(per_class: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = [], []
        for k in range(classes):
            r = np.linspace(0.0, 1.0, per_class)
            t = np.linspace(k * 4.0, (k + 1) * 4.0, per_class) + rng.normal(0, noise, per_class)
            xs.append(np.stack([r * np.sin(t), r * np.cos(t)], axis=1))
            ys.append(np.full(per_class, k))
        return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int64)

    x, y = draw(n, np.random.default_rng(seed))
    x_test, y_test = draw(test_n, np.random.default_rng(seed + 1))
    return Arrays(x, y, x_test, y_test)


def teacher(
    n: int = 5000,
    dim: int = 20,
    classes: int = 10,
    hidden: int = 64,
    label_noise: float = 0.0,
    test_n: int = 1000,
    seed: int = 0,
) -> Arrays:
    """Gaussian inputs labelled by a random two-layer tanh network (the teacher): a task a
    student network of enough size can fit exactly. label_noise flips that fraction of
    labels to a random class (train only)."""
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0, 1 / np.sqrt(dim), (dim, hidden))
    w2 = rng.normal(0, 1 / np.sqrt(hidden), (hidden, classes))

    def label(x: np.ndarray) -> np.ndarray:
        return np.argmax(np.tanh(x @ w1) @ w2, axis=1).astype(np.int64)

    x = rng.normal(size=(n, dim)).astype(np.float32)
    x_test = rng.normal(size=(test_n, dim)).astype(np.float32)
    y = label(x)
    flip = rng.random(n) < label_noise
    y[flip] = rng.integers(0, classes, flip.sum())
    return Arrays(x, y, x_test, label(x_test))
