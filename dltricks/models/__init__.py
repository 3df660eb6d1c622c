"""Models take plain arguments: shapes, sizes and layer factories (never the config).

This package's own module imports no torch: `stage_blocks` serves the config checks too.
"""


def stage_blocks(depth: int) -> int:
    """n for a CIFAR ResNet of depth 6n + 2 (20 -> 3, 56 -> 9, 110 -> 18)."""
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"a CIFAR ResNet has depth 6n+2 (8, 14, 20, 32, 44, 56, 110), not {depth}")
    return (depth - 2) // 6
