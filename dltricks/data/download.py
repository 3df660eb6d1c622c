"""Files fetched once into data.root and verified by checksum; offline, a clear message of
what to download and where to put it."""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path

from dltricks.errors import BadFile


def md5(path: Path) -> str:
    digest = hashlib.md5()  # the datasets publish MD5 sums: this checks integrity only
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(url: str, path: Path, checksum: str | None, timeout: float = 30) -> Path:
    """`path`, downloaded from `url` if missing; refused if its MD5 is not `checksum`."""
    path = Path(path)
    if not path.exists():
        _download(url, path, timeout)
    if checksum and md5(path) != checksum:
        raise BadFile(
            f"{path}: checksum mismatch (md5 {md5(path)}, expected {checksum}); "
            f"delete it and run again to download {url} afresh"
        )
    return path


def fetch_all(files: list[tuple[str, Path, str | None]], timeout: float = 30) -> list[Path]:
    """Each (url, path, checksum) as fetch() does; offline, one message naming every file
    still missing (the four files of MNIST, not the first alone)."""
    try:
        return [fetch(url, path, checksum, timeout) for url, path, checksum in files]
    except BadFile as err:
        missing = [(url, path) for url, path, _ in files if not path.exists()]
        if len(missing) < 2 or "could not be downloaded" not in str(err):
            raise
        folder = missing[0][1].parent
        names = ", ".join(path.name for _, path in missing)
        urls = " ".join(url for url, _ in missing)
        raise BadFile(
            f"{names} are not in {folder} and could not be downloaded "
            f"({str(err).split('(', 1)[1].split(')', 1)[0]}). Download {urls} on a machine "
            f"with a network and put them in {folder}/ (or point data.root, or "
            "$DLTRICKS_DATA, at a folder that has them)"
        ) from None


def _download(url: str, path: Path, timeout: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    print(f"dltricks: downloading {url} -> {path}", flush=True)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as f:
            while block := response.read(1 << 20):
                f.write(block)
    except (urllib.error.URLError, OSError) as err:
        tmp.unlink(missing_ok=True)
        reason = getattr(err, "reason", err)
        raise BadFile(
            f"{path.name} is not in {path.parent} and could not be downloaded ({reason}). "
            f"Download {url} on a machine with a network and put it in {path.parent}/ "
            "(or point data.root, or $DLTRICKS_DATA, at a folder that has it)"
        ) from None
    os.replace(tmp, path)
