"""CIFAR-10 from its python batches (Krizhevsky 2009), read from the published archive or an
extracted folder. The batches are pickles: they are read with an unpickler that rebuilds only
numpy arrays and plain containers, so a tampered file cannot run code."""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path
from typing import Any

import numpy as np

from dltricks.data import Arrays
from dltricks.data.download import fetch
from dltricks.errors import BadFile

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
ARCHIVE, ARCHIVE_MD5 = "cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"
FOLDER = "cifar-10-batches-py"
TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
TEST = ["test_batch"]
# what a CIFAR batch pickle needs to rebuild its numpy arrays, and nothing else
SAFE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"),
}


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in SAFE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused to load {module}.{name}")


def read_batch(raw: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    """One python batch: (images (N, 3, 32, 32) uint8, labels (N,))."""
    try:
        batch = _ArraysOnly(io.BytesIO(raw), encoding="bytes").load()
        batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
        x = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        y = np.asarray(batch["labels"], dtype=np.int64)
    except (pickle.UnpicklingError, KeyError, ValueError, AttributeError, EOFError) as err:
        raise BadFile(f"{where}: not a CIFAR-10 python batch ({err})") from None
    if len(x) != len(y):
        raise BadFile(f"{where}: {len(x)} images but {len(y)} labels")
    return x, y


def _batches(root: Path, names: list[str], verify: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    folder = root / FOLDER
    if all((folder / n).exists() for n in names):  # already extracted by the user
        return [read_batch((folder / n).read_bytes(), str(folder / n)) for n in names]
    archive = fetch(URL, root / ARCHIVE, ARCHIVE_MD5 if verify else None)
    with tarfile.open(archive, "r:gz") as tar:  # read members in place: nothing extracted
        found = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
        missing = [n for n in names if n not in found]
        if missing:
            raise BadFile(f"{archive}: has no {', '.join(missing)}")
        return [read_batch(tar.extractfile(found[n]).read(), f"{archive}:{n}") for n in names]


def load(root: str = "~/.cache/dltricks", verify: bool = True) -> Arrays:
    """Images as (N, 3, 32, 32) in [0, 1]; the official 50k/10k split."""
    folder = Path(root).expanduser() / "cifar10"
    train, test = _batches(folder, TRAIN, verify), _batches(folder, TEST, verify)

    def join(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        x = np.concatenate([p[0] for p in parts]).astype(np.float32) / 255.0
        return x, np.concatenate([p[1] for p in parts])

    (x, y), (x_test, y_test) = join(train), join(test)
    return Arrays(x, y, x_test, y_test)
