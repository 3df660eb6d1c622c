"""Files in torch's format (a checkpoint): written atomically, read with weights_only=True, so
that a pickle payload in a shared run dir cannot run code. Imports torch when called: the
rest of the package serves the report, which never loads torch."""

from __future__ import annotations

import errno
import pickle
from pathlib import Path
from typing import Any

from dltricks.errors import BadFile, first_line
from dltricks.rundir.files import open_file, write_atomic


def save(path: Path, state: dict[str, Any]) -> None:
    """torch.save to a temp file beside `path`, fsync, rename (files.write_atomic)."""
    import torch

    try:
        write_atomic(path, lambda f: torch.save(state, f))
    except RuntimeError as err:
        if "pos" in str(err):  # torch's short write
            raise OSError(
                errno.EIO, "the write stopped short (disk full or a file size limit?)", str(path)
            ) from None
        raise


def load(path: Path) -> Any:
    """torch.load(weights_only=True) of a regular file (never through a symlink), on the CPU;
    BadFile naming the file if torch cannot read it."""
    import torch

    try:
        with open_file(path, "rb") as f:
            return torch.load(f, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as err:
        raise BadFile(
            f"{path}: refused, not a readable dltricks checkpoint ({first_line(err)})"
        ) from None
