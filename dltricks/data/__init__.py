"""Datasets as tensors on the training device: build(...) -> Data(train, val, test).

Every source module has `load(**params) -> Arrays` (numpy, official splits where the dataset
has them). `build` carves what is missing with a fixed seed, fits the preprocessing on the
training split only, and moves everything to the device once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from dltricks.data.contract import Arrays, check
from dltricks.data.preprocess import fit_preprocess

__all__ = ["Arrays", "Data", "Split", "build", "carve"]


@dataclass
class Split:
    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class Data:
    train: Split
    val: Split
    test: Split
    shape: tuple[int, ...]  # one example's shape: (C, L) for sequences, (C, H, W) for images
    classes: int
    name: str


def carve(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split range(n) into (kept, carved) index arrays; carved holds round(fraction * n)."""
    order = np.random.default_rng(seed).permutation(n)
    k = round(fraction * n)
    return np.sort(order[k:]), np.sort(order[:k])


def build(
    load: Callable[[], Arrays],
    *,
    name: str,
    preprocess: str = "none",
    pca_dims: int | None = None,
    val_fraction: float = 0.1,
    split_seed: int = 0,
    device: torch.device | str = "cpu",
) -> Data:
    """Load a dataset, carve a validation split if it has none, preprocess, move to device."""
    a = check(load(), f"data={name} ({getattr(load, 'func', load).__module__})")
    x, y = a.x, a.y
    if a.x_val is None:
        keep, val = carve(len(y), val_fraction, split_seed)
        x_val, y_val, x, y = x[val], y[val], x[keep], y[keep]
    else:
        x_val, y_val = a.x_val, a.y_val

    def tensors(xs: np.ndarray, ys: np.ndarray) -> Split:
        xt = torch.as_tensor(np.ascontiguousarray(xs), dtype=torch.float32).to(device)
        return Split(xt, torch.as_tensor(ys, dtype=torch.int64).to(device))

    train, val, test = tensors(x, y), tensors(x_val, y_val), tensors(a.x_test, a.y_test)
    transform = fit_preprocess(preprocess, train.x, pca_dims)  # statistics from train only
    for split in (train, val, test):
        split.x = transform(split.x)
    classes = int(max(y.max(), a.y_test.max())) + 1
    return Data(train, val, test, tuple(train.x.shape[1:]), classes, name)
