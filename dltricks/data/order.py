"""Which training examples an epoch visits, in which order: shuffling and curriculum learning.

Shuffling draws a fresh permutation every epoch from a generator seeded by the run's seed.
A curriculum (Bengio et al. 2009) sorts the examples from easy to hard and trains on the
easiest fraction first, growing it linearly to the whole training set over `epochs` epochs.
"""

from __future__ import annotations

import math

import torch


def class_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Difficulty as the distance of each example to its class mean, in units of that class's
    mean distance: prototypical examples are easy, atypical ones hard."""
    flat = x.flatten(1)
    score = torch.empty(len(y), device=x.device)
    for label in y.unique():
        members = y == label
        dist = (flat[members] - flat[members].mean(0)).norm(dim=1)
        score[members] = dist / dist.mean().clamp_min(1e-12)
    return score


SCORES = {"class_distance": class_distance}


class EpochOrder:
    """`order(epoch)`: the indices of the training examples epoch `epoch` (1-based) visits."""

    def __init__(
        self,
        n: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        difficulty: torch.Tensor | None = None,
        start: float = 1.0,
        epochs: int = 0,
    ) -> None:
        self.n, self.shuffle, self.start, self.epochs = n, shuffle, start, epochs
        self.rng = torch.Generator().manual_seed(seed)
        # easiest first; ties keep the dataset's order
        self.easy_first = (
            torch.argsort(difficulty.cpu(), stable=True)
            if difficulty is not None and epochs > 0
            else None
        )

    def size(self, epoch: int) -> int:
        if self.easy_first is None:
            return self.n
        progress = min((epoch - 1) / self.epochs, 1.0)
        return max(1, math.ceil(self.n * (self.start + (1 - self.start) * progress)))

    def updates(self, epochs: int, batch_size: int) -> int:
        """The updates of `epochs` epochs: only a curriculum's first epochs differ, so this
        takes no time even for an absurd number of epochs."""
        growing = min(epochs, self.epochs) if self.easy_first is not None else 0
        first = sum(math.ceil(self.size(e) / batch_size) for e in range(1, growing + 1))
        return first + (epochs - growing) * math.ceil(self.n / batch_size)

    def __call__(self, epoch: int) -> torch.Tensor:
        pool = (
            self.easy_first[: self.size(epoch)]
            if self.easy_first is not None
            else torch.arange(self.n)
        )
        if not self.shuffle:
            return pool
        return pool[torch.randperm(len(pool), generator=self.rng)]
