"""Models take plain arguments: shapes, sizes and layer factories (never the config).

This package's own module imports no torch: `stage_blocks`, BLOCKS and `one_of` serve the
models' `check_args` (their rules, checked with the config before anything is built) too.
"""

from collections.abc import Collection

BLOCKS = ("post", "pre")  # a residual block's layout: post-activation (He 2016a) or pre


def one_of(key: str, value: object, words: Collection[str]) -> None:
    """ValueError naming the key unless `value` is one of `words`."""
    if value not in words:
        raise ValueError(f"{key}={value}: must be one of {', '.join(words)}")


def stage_blocks(depth: int) -> int:
    """n for a CIFAR ResNet of depth 6n + 2 (20 -> 3, 56 -> 9, 110 -> 18)."""
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"a CIFAR ResNet has depth 6n+2 (8, 14, 20, 32, 44, 56, 110), not {depth}")
    return (depth - 2) // 6
