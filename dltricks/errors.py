"""Errors the user can fix. The command line prints the message alone and exits with 2."""


class BadInput(ValueError):
    """Input the user can fix: the message names the key, file or path, and how to fix it."""


class ConfigError(BadInput):
    """A bad config: the message names the key and says how to fix it."""


class BadFile(BadInput):
    """A file that is missing or not what it should be (truncated, foreign, tampered)."""
