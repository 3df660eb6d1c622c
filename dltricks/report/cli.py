"""Placeholder until the report lands."""


def main(args: list[str]) -> int:
    raise NotImplementedError
