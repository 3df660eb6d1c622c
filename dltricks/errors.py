"""Errors the user can fix. The command line prints the message alone and exits with 2."""

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2

_HEARD: ContextVar[list[str] | None] = ContextVar("dltricks_errors_heard", default=None)


def say(message: str) -> None:
    """The one line every command prints for an error: no traceback (a library call hears
    it instead, to raise it: `heard`)."""
    heard = _HEARD.get()
    if heard is not None:
        heard.append(message)
        return
    print(f"dltricks: error: {message}", file=sys.stderr)


@contextmanager
def heard() -> Iterator[list[str]]:
    """The messages `say` would print, kept in a list instead (the Python API raises them)."""
    messages: list[str] = []
    token = _HEARD.set(messages)
    try:
        yield messages
    finally:
        _HEARD.reset(token)


def bad_input(message: str) -> int:
    """Say it; the exit code for bad input."""
    say(message)
    return EXIT_BAD_INPUT


class BadInput(ValueError):
    """Input the user can fix: the message names the key, file or path, and how to fix it."""


class ConfigError(BadInput):
    """A bad config: the message names the key and says how to fix it."""


class BadFile(BadInput):
    """A file that is missing or not what it should be (truncated, foreign, tampered)."""


def first_line(err: BaseException, limit: int = 200) -> str:
    """An exception's message in one line (its type's name when it has none), for a message
    that names the file or key it is about."""
    text = str(err).strip()
    return text.splitlines()[0][:limit] if text else type(err).__name__
