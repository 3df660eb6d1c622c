"""What a dataset loader provides: the contract between a data option and dltricks, for the
built-in sources and a plugin's alike.

A data option's YAML names a loader with `_target_` and `_partial_: true`; its keys are the
loader's arguments (a path, a seed...), and `root: ${data.root}` is the conventional cache
folder. Called with no further arguments, the loader returns `Arrays`:

- x, x_test: float arrays shaped (N, C, ...): (N, C) vectors, (N, C, L) sequences for
  model=convnet (1-D) and model=rnn, (N, C, H, W) images for model=convnet (2-D). The
  examples' shape is taken from x.
- y, y_test: integer class labels 0 .. classes - 1 (classes = the largest label + 1).
- x_val, y_val: an official validation split, if the dataset has one; otherwise dltricks
  carves `data.val_fraction` of the training split with `data.split_seed` (the same for
  every run), and early stopping and "best" read it, never the test split.

dltricks then fits `data.preprocess` (none, center, standardize, whiten) on the training split
only, applies it to every split, and moves all of it to the training device once;
`data.train_size` keeps a seeded subset of the training split.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from dltricks.errors import BadInput


@dataclass
class Arrays:
    """What a source loads: inputs shaped (N, C, ...) as float arrays, integer labels."""

    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None


class Loader(Protocol):
    """data.load: a partial of a loader function; called with no arguments."""

    def __call__(self) -> Arrays: ...


def check(a: object, where: str) -> Arrays:
    """A loader's result, checked against the contract: one line naming the loader if not."""
    if not isinstance(a, Arrays):
        raise BadInput(f"{where}: returned {type(a).__name__}, not dltricks.data.Arrays")
    splits = [("x", "y"), ("x_test", "y_test")] + (
        [("x_val", "y_val")] if a.x_val is not None else []
    )
    for xs, ys in splits:
        x, y = getattr(a, xs), getattr(a, ys)
        if not isinstance(x, np.ndarray) or x.ndim < 2 or not np.issubdtype(x.dtype, np.number):
            raise BadInput(f"{where}: {xs} must be a numeric array shaped (N, C, ...)")
        if (
            not isinstance(y, np.ndarray)
            or y.shape != (len(x),)
            or not np.issubdtype(y.dtype, np.integer)
        ):
            raise BadInput(f"{where}: {ys} must hold one integer label per example of {xs}")
        if len(y) and y.min() < 0:
            raise BadInput(f"{where}: {ys} has negative labels; classes are 0 .. C - 1")
        if x.shape[1:] != a.x.shape[1:]:
            raise BadInput(f"{where}: {xs} examples are {x.shape[1:]}, x's are {a.x.shape[1:]}")
    if not len(a.y):
        raise BadInput(f"{where}: an empty training split")
    return a
