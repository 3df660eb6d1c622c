"""The file primitives of a run dir, for files someone else may have written: opened without
following a symlink or waiting on a FIFO, read within bounds (size, nesting depth, integer
size, no YAML aliases), written so that a crash leaves the old file or the new one (temp
file, fsync, rename). A file out of bounds raises RunFileError naming it and why: the report
turns that into a warning, a resume into exit 2."""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dltricks.errors import BadFile, first_line

MAX_JSON = 8 * 2**20  # bytes of a summary.json (a real one is a few KiB)
MAX_YAML = 2**20  # bytes of a .hydra/*.yaml (a real one is a few KiB)
MAX_DEPTH = 32  # nesting of a JSON or YAML document (a real summary nests 4 deep)
MAX_INT_DIGITS = 18  # a summary's integers: steps, pids, seeds (< 2**63)
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class RunFileError(BadFile):
    """A run file that is a symlink, unreadable, or out of bounds."""


def refuse_link(path: Path) -> None:
    """RunFileError if `path` itself is a symlink (a run never makes one)."""
    if os.path.islink(path):
        raise RunFileError(
            f"{path}: refused, a symlink (a run dir holds its own files; "
            f"it points to {os.readlink(path)})"
        )


def open_fd(path: Path, flags: int, mode: int = 0o644) -> int:
    """os.open of a regular file without following a symlink at `path` and without waiting
    on a FIFO or a device (RunFileError for either)."""
    try:
        fd = os.open(path, flags | NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, mode)
    except OSError as err:
        if err.errno == errno.ELOOP:
            refuse_link(path)
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise RunFileError(f"{path}: refused, not a regular file")
    os.set_blocking(fd, True)
    return fd


def open_file(path: Path, mode: str = "r", **kw: Any) -> Any:
    """open() that never follows a symlink at `path`."""
    return open(path, mode, opener=lambda p, flags: open_fd(Path(p), flags), **kw)


def read_bytes(path: Path, limit: int) -> bytes:
    """At most `limit` bytes of a regular file, else RunFileError."""
    with open_file(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise RunFileError(f"{path}: refused, larger than {limit // 2**10} KiB")
    return data


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"an integer of {len(text)} digits")
    return int(text)


def read_json(path: Path, limit: int = MAX_JSON) -> Any:
    """A JSON document within bounds (size, depth, integer size), else RunFileError."""
    data = read_bytes(path, limit)
    try:
        value = json.loads(data, parse_int=_int)
    except RecursionError:
        raise RunFileError(f"{path}: refused, nested deeper than {MAX_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise RunFileError(f"{path}: unreadable ({first_line(err, 120)})") from None
    check_bounds(value, path)
    return value


def check_bounds(value: Any, path: Path) -> None:
    """RunFileError if containers nest deeper than MAX_DEPTH, or an integer has more than
    MAX_INT_DIGITS digits (walked without recursion)."""
    todo = [(value, 1)]
    while todo:
        node, depth = todo.pop()
        if depth > MAX_DEPTH:
            raise RunFileError(f"{path}: refused, nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, int) and abs(node) >= 10**MAX_INT_DIGITS:
            raise RunFileError(f"{path}: refused, an integer of more than {MAX_INT_DIGITS} digits")
        if isinstance(node, dict):
            todo.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            todo.extend((v, depth + 1) for v in node)


def read_yaml(path: Path, limit: int = MAX_YAML) -> Any:
    """A YAML document as Hydra writes one: within bounds, and with no anchors or aliases
    (dltricks never writes one; an alias bomb would expand a few KiB into gigabytes)."""
    import yaml

    text = read_bytes(path, limit).decode("utf-8", errors="replace")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C parser when present
    try:
        if "&" in text or "*" in text:  # maybe an anchor: look at the events (fast, in C)
            for event in yaml.parse(text, Loader=loader):
                if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                    raise RunFileError(f"{path}: refused, uses YAML anchors or aliases")
        value = yaml.load(text, Loader=loader)
    except (yaml.YAMLError, ValueError) as err:  # ValueError: an int of 5000 digits
        raise RunFileError(f"{path}: unreadable YAML ({first_line(err, 120)})") from None
    except RecursionError:
        raise RunFileError(f"{path}: refused, nested deeper than {MAX_DEPTH} levels") from None
    check_bounds(value, path)
    return value


# ---------------------------------------------------------------- writing


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write JSON to `path` so that readers see the old or the new file, never a torn one."""
    text = json.dumps(_jsonable(data), indent=2, allow_nan=False) + "\n"
    write_atomic(path, lambda f: f.write(text.encode()))


def write_atomic(path: Path, write: Callable[[Any], Any]) -> None:
    """write(f) into a temp file beside `path` (never through a symlink), fsync, rename: a
    crash or an error leaves the previous file as it was."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    if os.path.islink(tmp):
        tmp.unlink()  # the rename below would replace it anyway; never write through it
    try:
        with open_file(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)  # replaces a symlink at `path` itself, never what it points to


def _jsonable(value: Any) -> Any:
    """NaN and inf become null: summary.json stays strict JSON that any reader accepts."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def remove_files(folder: Path, names: list[str]) -> None:
    """The regular files `names` in `folder` (a link is left alone), then each folder on
    their way and `folder` itself, where that empties them."""
    for name in names:
        path = Path(folder) / name
        if path.is_file() and not path.is_symlink():
            path.unlink()
    parents = {(Path(folder) / n).parent for n in names} - {Path(folder)}
    for empty in [*sorted(parents, reverse=True), Path(folder)]:
        with contextlib.suppress(OSError):
            empty.rmdir()  # only when empty
