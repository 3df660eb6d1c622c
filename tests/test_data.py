"""Datasets: splits carved with a fixed seed, preprocessing fitted on train only."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dltricks import data as datasets
from dltricks.data import digits, mnist1d
from dltricks.data.preprocess import fit_preprocess


def test_carve_is_a_fixed_disjoint_split():
    keep, carved = datasets.carve(100, 0.2, seed=0)
    assert len(carved) == 20 and len(keep) == 80
    assert not set(keep) & set(carved)
    assert np.array_equal(carved, datasets.carve(100, 0.2, seed=0)[1])
    assert not np.array_equal(carved, datasets.carve(100, 0.2, seed=1)[1])


def test_digits_splits_do_not_overlap_and_do_not_depend_on_the_run_seed():
    d = datasets.build(digits.load, name="digits", val_fraction=0.1, split_seed=0)
    assert d.shape == (1, 8, 8) and d.classes == 10
    assert len(d.train) + len(d.val) + len(d.test) == 1797
    torch.manual_seed(123)
    again = datasets.build(digits.load, name="digits", val_fraction=0.1, split_seed=0)
    assert torch.equal(d.val.x, again.val.x)
    rows = {tuple(r) for r in d.train.x.flatten(1).tolist()}
    assert not any(tuple(r) in rows for r in d.test.x.flatten(1).tolist()[:50])


def test_mnist1d_is_generated_once_and_cached(tmp_path):
    a = mnist1d.load(root=str(tmp_path))
    assert a.x.shape == (4000, 1, 40) and a.x_test.shape == (1000, 1, 40)
    cached = list((tmp_path / "mnist1d").glob("*.npz"))
    assert len(cached) == 1
    b = mnist1d.load(root=str(tmp_path))
    assert np.array_equal(a.x, b.x)


@pytest.mark.parametrize("scheme", ["center", "standardize", "whiten"])
def test_preprocessing_uses_train_statistics_only(scheme):
    g = torch.Generator().manual_seed(0)
    train = (
        torch.randn(500, 3, generator=g) @ torch.tensor([[2.0, 0.5, 0], [0, 1, 0.3], [0, 0, 3]]) + 5
    )
    test = torch.randn(100, 3, generator=g)
    transform = fit_preprocess(scheme, train)
    out = transform(train)
    assert out.mean(0).abs().max() < 1e-4
    if scheme == "standardize":
        assert torch.allclose(out.std(0), torch.ones(3), atol=1e-4)
    if scheme == "whiten":
        cov = torch.cov(out.T)
        assert torch.allclose(cov, torch.eye(3), atol=2e-2)  # eps keeps it just below 1
    # the test split is transformed with the train statistics, not its own
    assert transform(test).mean(0).abs().min() > 0.5


def test_standardize_leaves_constant_inputs_finite():
    x = torch.zeros(10, 2)
    x[:, 1] = torch.arange(10.0)
    assert torch.isfinite(fit_preprocess("standardize", x)(x + 1)).all()
