"""MNIST and Fashion-MNIST from their IDX files (gzip), as published: no torchvision."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from dltricks.data import Arrays
from dltricks.data.download import fetch_all
from dltricks.errors import BadFile

FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
SOURCES = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        (
            "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "d53e105ee54ea40749a09fcbcd1e9432",
            "9fb629c4189551a2d022fa330f9573f3",
            "ec29112dd5afa0611ce80d1b7f02629c",
        ),
    ),
    "fashion_mnist": (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        (
            "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "25c81989df183df01b3e8a0aad5dffbe",
            "bef4ecab320f06d8554ea6380940ec79",
            "bb300cfdad3c16e7a12a480ee83cd310",
        ),
    ),
}


def read_idx(path: Path) -> np.ndarray:
    """An IDX file: magic (0, 0, type 0x08 = ubyte, ndim), ndim big-endian sizes, the data."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:  # not gzip, or cut short
        raise BadFile(
            f"{path}: not a readable .gz file ({err}); delete it to fetch it again"
        ) from None
    if len(raw) < 4 or raw[0] or raw[1] or raw[2] != 0x08:
        raise BadFile(f"{path}: not an IDX file of unsigned bytes")
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise BadFile(f"{path}: its IDX header is cut short ({len(raw)} bytes)")
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise BadFile(f"{path}: truncated ({data.size} of {int(np.prod(shape))} values)")
    return data.reshape(shape)


def load(name: str = "mnist", root: str = "~/.cache/dltricks", verify: bool = True) -> Arrays:
    """Images as (N, 1, 28, 28) in [0, 1]; the official 60k/10k train/test split."""
    base, checksums = SOURCES[name]
    folder = Path(root).expanduser() / name
    paths = fetch_all(
        [
            (base + f, folder / f, md5 if verify else None)
            for f, md5 in zip(FILES, checksums, strict=True)
        ]
    )
    x, y, x_test, y_test = (read_idx(p) for p in paths)

    def images(a: np.ndarray) -> np.ndarray:
        return (a[:, None] / 255.0).astype(np.float32)

    return Arrays(images(x), y.astype(np.int64), images(x_test), y_test.astype(np.int64))
