"""Input preprocessing (cs231n; Hung-yi Lee's feature scaling), fitted on the training split.

Each scheme is fitted on the training inputs only and returns a function applied to every
split, so no statistic ever leaks from validation or test data.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Transform = Callable[[torch.Tensor], torch.Tensor]


def none(x: torch.Tensor) -> Transform:
    return lambda t: t


def center(x: torch.Tensor) -> Transform:
    """Zero-center every input dimension: x - mean_train."""
    mean = x.mean(0, keepdim=True)
    return lambda t: t - mean


def standardize(x: torch.Tensor) -> Transform:
    """(x - mean) / std per input dimension; constant dimensions are only centred."""
    mean = x.mean(0, keepdim=True)
    std = x.std(0, keepdim=True)
    std = torch.where(std > 1e-8, std, torch.ones_like(std))
    return lambda t: (t - mean) / std


def whiten(x: torch.Tensor, eps: float = 1e-2) -> Transform:
    """PCA whitening: decorrelate and scale to unit variance, W = U diag(1/sqrt(s + eps)) U^T.

    The ZCA form (rotating back with U^T) keeps the inputs' layout, so images stay images."""
    shape = x.shape[1:]
    flat = x.reshape(len(x), -1).double()
    mean = flat.mean(0, keepdim=True)
    cov = (flat - mean).T @ (flat - mean) / (len(flat) - 1)
    s, u = torch.linalg.eigh(cov)
    w = (u @ torch.diag(1.0 / torch.sqrt(s.clamp_min(0) + eps)) @ u.T).to(x.dtype)
    mean = mean.to(x.dtype)
    return lambda t: ((t.reshape(len(t), -1) - mean) @ w).reshape(len(t), *shape)


SCHEMES: dict[str, Callable[[torch.Tensor], Transform]] = {
    "none": none,
    "center": center,
    "standardize": standardize,
    "whiten": whiten,
}


def fit_preprocess(name: str, x_train: torch.Tensor) -> Transform:
    return SCHEMES[name](x_train)
