"""Augmentation on tensors already on the device, a fresh draw for every batch (airbench's
way): random shifts (zero padding, then a crop: He et al.'s 4-pixel CIFAR crop), horizontal
flips of images, Gaussian input noise."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_shift(x: torch.Tensor, s: int) -> torch.Tensor:
    """Shift every example by its own random offset in [-s, s] along each spatial axis
    (x: (N, C, L) or (N, C, H, W)), filling with zeros: pad by s, then crop each axis at a
    random start."""
    n, _, *size = x.shape
    out = F.pad(x, [s, s] * len(size))
    for dim, length in enumerate(size, start=2):
        start = torch.randint(0, 2 * s + 1, (n,), device=x.device)
        index = start[:, None] + torch.arange(length, device=x.device)  # (N, length)
        shape = [n] + [1] * (out.ndim - 1)
        shape[dim] = length
        target = [*out.shape[:dim], length, *out.shape[dim + 1 :]]
        out = out.gather(dim, index.view(shape).expand(target))
    return out


def random_flip(x: torch.Tensor) -> torch.Tensor:
    """Mirror each image (N, C, H, W) left to right with probability 1/2."""
    flip = torch.rand(len(x), device=x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(-1), x)
