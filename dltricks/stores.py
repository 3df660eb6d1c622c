"""The stores outside a run dir where trackers and searches keep their records: an MLflow
tracking store, an Optuna study's storage. What a store's URL names (a SQLite file, a folder,
a database server) and the driver it needs."""

from __future__ import annotations

import os
from pathlib import Path

# a storage URL's scheme -> the package that lets SQLAlchemy speak to it
DB_DRIVERS = {"postgresql": "'psycopg[binary]'", "mysql": "PyMySQL"}  # SQLAlchemy 2.1's defaults


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLAlchemy SQLite URL (an MLflow store, an Optuna study), else
    None."""
    prefix = "sqlite:///"
    return Path(url[len(prefix) :]).expanduser() if url.startswith(prefix) else None


def driver_hint(url: str, message: str) -> str:
    """`message`, or which package to install when it says a database driver is missing."""
    driver = DB_DRIVERS.get(str(url).split(":", 1)[0].split("+", 1)[0])
    if driver and "import" in message.lower():
        return f"its database driver is missing: pip install {driver}"
    return message


def local_path(url: str) -> Path | None:
    """The file or folder of a store on this machine: a SQLite file, a file:// folder (or a
    plain path, as MLflow takes one); None for a server."""
    database = sqlite_file(url)
    if database is not None:
        return database
    if url.startswith("file://"):
        return Path(url[len("file://") :]).expanduser()
    return None if "://" in url else Path(url).expanduser()


SQLITE_HEADER = b"SQLite format 3\x00"


def check_store(url: str, key: str, marks: tuple[str, ...]) -> None:
    """A store on this machine must be new, empty, or already a store of its kind: a SQLite
    file that is a database; a folder holding one of `marks` (the tracker's own files, e.g.
    MLflow's .trash): a store is never made inside a folder of other files (/etc)."""
    from dltricks.errors import ConfigError

    path = local_path(url)
    if path is None or not os.path.lexists(path):
        return
    if sqlite_file(url) is not None:
        try:
            with open(path, "rb") as f:
                ours = path.is_file() and f.read(len(SQLITE_HEADER)) in (SQLITE_HEADER, b"")
        except OSError:
            ours = False
        if not ours:
            raise ConfigError(f"{key}={url}: {path} is not a SQLite database; name a new file")
        return
    if not path.is_dir() or (any(path.iterdir()) and not any((path / m).exists() for m in marks)):
        raise ConfigError(
            f"{key}={url}: {path} holds other files, not a store of this tracker; name a new "
            "or empty folder, or an existing store"
        )
