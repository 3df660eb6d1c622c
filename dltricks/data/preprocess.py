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


def channel_center(x: torch.Tensor) -> Transform:
    """Subtract each channel's mean over examples and positions (x: (N, C, ...)): the
    per-channel centring of images, where `center` is per pixel."""
    dims = [0, *range(2, x.ndim)]
    mean = x.mean(dim=dims, keepdim=True)
    return lambda t: t - mean


def _eigen(x: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """(mean, eigenvalues descending, eigenvectors, eps scaled to the data) of the inputs'
    covariance, in float64. eps is relative to the mean eigenvalue, so the result does not
    depend on the inputs' scale."""
    flat = x.reshape(len(x), -1).double()
    mean = flat.mean(0, keepdim=True)
    cov = (flat - mean).T @ (flat - mean) / max(len(flat) - 1, 1)
    s, u = torch.linalg.eigh(cov)
    s, u = s.flip(0).clamp_min(0), u.flip(1)
    return mean, s, u, eps * float(s.mean().clamp_min(1e-30))


def whiten(x: torch.Tensor, eps: float = 1e-5) -> Transform:
    """ZCA whitening: decorrelate and scale to unit variance, W = U diag(1/sqrt(s + eps)) U^T,
    eps relative to the mean eigenvalue. Rotating back with U^T keeps the inputs' layout, so
    images stay images; directions the training split does not vary in stay 0."""
    shape = x.shape[1:]
    mean, s, u, e = _eigen(x, eps)
    w = (u @ torch.diag(1.0 / torch.sqrt(s + e)) @ u.T).to(x.dtype)
    mean = mean.to(x.dtype)
    return lambda t: ((t.reshape(len(t), -1) - mean) @ w).reshape(len(t), *shape)


def pca(x: torch.Tensor, dims: int, eps: float = 1e-5) -> Transform:
    """PCA whitening to `dims` dimensions (cs231n): project onto the top `dims` principal
    directions and divide by the square root of their variance; examples become (dims,)
    vectors, for a fully connected model."""
    mean, s, u, e = _eigen(x, eps)
    w = (u[:, :dims] / torch.sqrt(s[:dims] + e)).to(x.dtype)
    mean = mean.to(x.dtype)
    return lambda t: (t.reshape(len(t), -1) - mean) @ w


SCHEMES: dict[str, Callable[..., Transform]] = {
    "none": none,
    "center": center,
    "channel_center": channel_center,
    "standardize": standardize,
    "whiten": whiten,
    "pca": pca,
}


def fit_preprocess(name: str, x_train: torch.Tensor, dims: int | None = None) -> Transform:
    """The scheme `name` fitted on the training inputs; `dims` is PCA's target dimension."""
    if name == "pca":
        features = x_train[0].numel()
        if not dims or not 1 <= dims <= features:
            from dltricks.errors import ConfigError

            raise ConfigError(
                f"data.pca_dims={dims}: data.preprocess=pca needs a dimension in 1..{features}"
            )
        return pca(x_train, dims)
    return SCHEMES[name](x_train)
