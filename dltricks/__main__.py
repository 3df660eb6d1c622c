"""`python -m dltricks ...` is `dltricks ...`."""

from dltricks.cli import console

console()
