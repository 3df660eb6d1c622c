"""Small dataset files in the real formats (IDX gzip, CIFAR-10 python batches), written by the
tests: the readers are tested on the format itself, with no download."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np

from dltricks.data import cifar10, idx


def write_idx(path: Path, array: np.ndarray) -> Path:
    """IDX: two zero bytes, type 0x08 (unsigned byte), ndim, big-endian sizes, the bytes."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())
    return path


def write_cifar_batch(path: Path, x: np.ndarray, y: np.ndarray) -> Path:
    """A python batch as CIFAR-10 ships it: a pickled dict with bytes keys, the images as a
    (N, 3072) uint8 array (R, G, B planes of 32x32), the labels as a list."""
    batch = {
        b"batch_label": b"fixture",
        b"labels": [int(v) for v in y],
        b"data": x.reshape(len(x), -1).astype(np.uint8),
        b"filenames": [b"x.png"] * len(y),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(batch, protocol=2))
    return path


def make_mnist_like(root: Path, name: str, n_train: int = 300, n_test: int = 100) -> None:
    """Class k is a bright k-th row band plus noise: learnable, in the real file format."""
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("t10k", n_test)):
        y = rng.integers(0, 10, n).astype(np.uint8)
        x = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        for i, label in enumerate(y):
            x[i, 2 * label + 3 : 2 * label + 6] = 250
        write_idx(root / name / f"{split}-images-idx3-ubyte.gz", x)
        write_idx(root / name / f"{split}-labels-idx1-ubyte.gz", y)


def make_cifar(root: Path, per_batch: int = 40, n_test: int = 60) -> None:
    rng = np.random.default_rng(0)
    folder = root / "cifar10" / cifar10.FOLDER
    for name, n in [*((b, per_batch) for b in cifar10.TRAIN), ("test_batch", n_test)]:
        y = rng.integers(0, 10, n)
        x = rng.integers(0, 255, (n, 3, 32, 32))
        x[np.arange(n), y % 3] = 255  # the colour plane says something about the class
        write_cifar_batch(folder / name, x, y)


def make_all(root: Path) -> None:
    for name in idx.SOURCES:
        make_mnist_like(root, name)
    make_cifar(root)
