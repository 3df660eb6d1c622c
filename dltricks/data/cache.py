"""Datasets made on this machine (generated, or converted once from a slow-to-import
package) kept as plain .npz arrays under data.root, keyed by the parameters that made them."""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from dltricks.errors import BadFile


def cached(
    root: str, name: str, params: dict, make: Callable[[], dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """Arrays made once by make() and kept as <root>/<name>/<name>-<hash of params>.npz."""
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    path = Path(root).expanduser() / name / f"{name}-{key}.npz"
    if not path.exists():
        save_atomic(path, make())
    try:
        with np.load(path) as f:  # plain arrays only (allow_pickle is off by default)
            return {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise BadFile(
            f"{path}: a corrupt cached dataset ({str(err)[:100]}); delete it and run again: "
            "it is made anew"
        ) from None


def save_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
