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
    same = mnist1d.load(root=str(tmp_path), **mnist1d.VARIATION)  # the defaults, spelled out
    assert np.array_equal(a.x, same.x) and len(list((tmp_path / "mnist1d").glob("*.npz"))) == 1


def test_mnist1d_variation_is_a_shifted_domain_with_the_same_labels(tmp_path):
    base = mnist1d.load(num_samples=500, root=str(tmp_path))
    noisy = mnist1d.load(num_samples=500, root=str(tmp_path), corr_noise_scale=1.0)
    assert np.array_equal(base.y, noisy.y)  # the same draw of digits and templates...
    assert not np.allclose(base.x, noisy.x)  # ...seen through more correlated noise
    assert len(list((tmp_path / "mnist1d").glob("*.npz"))) == 2  # cached apart
    with pytest.raises(ValueError, match="noise"):
        mnist1d.load(num_samples=500, root=str(tmp_path), noise=1.0)


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
        assert torch.allclose(cov, torch.eye(3), atol=1e-4)
    # the test split is transformed with the train statistics, not its own
    assert transform(test).mean(0).abs().min() > 0.5


def test_whitening_is_scale_free_and_pca_keeps_the_top_directions():
    g = torch.Generator().manual_seed(0)
    mix = torch.tensor([[1.0, 0.9, 0.0, 0.0], [0.0, 0.4, 0.0, 0.0], [0.0, 0.0, 3.0, 2.9]])
    x = torch.randn(2000, 3, generator=g) @ mix  # 4 correlated inputs of rank 3
    small, big = fit_preprocess("whiten", x)(x), fit_preprocess("whiten", 1000 * x)(1000 * x)
    assert torch.allclose(small, big, atol=1e-3)  # eps is relative: the scale does not matter
    cov = torch.cov(small.T)
    s = torch.linalg.eigvalsh(cov)
    assert s[0].abs() < 1e-3 and torch.allclose(s[1:], torch.ones(3), atol=1e-3)  # rank kept
    reduced = fit_preprocess("pca", x, dims=2)(x)
    assert reduced.shape == (2000, 2)
    assert torch.allclose(torch.cov(reduced.T), torch.eye(2), atol=1e-4)
    top = torch.linalg.eigh(torch.cov(x.T)).eigenvectors[:, -1]  # the largest direction
    assert abs(torch.corrcoef(torch.stack([reduced[:, 0], (x - x.mean(0)) @ top]))[0, 1]) > 0.999


def test_channel_center_subtracts_each_channels_mean_over_positions():
    x = torch.randn(64, 3, 5, 5) + torch.tensor([1.0, -2.0, 10.0]).view(1, 3, 1, 1)
    out = fit_preprocess("channel_center", x)(x)
    assert out.mean(dim=(0, 2, 3)).abs().max() < 1e-5
    assert not torch.allclose(out.mean(0), torch.zeros(3, 5, 5), atol=1e-3)  # not per pixel


def test_standardize_leaves_constant_inputs_finite():
    x = torch.zeros(10, 2)
    x[:, 1] = torch.arange(10.0)
    assert torch.isfinite(fit_preprocess("standardize", x)(x + 1)).all()


# ---------------------------------------------------------------- real file formats

import pickle  # noqa: E402

from fixtures import make_cifar, make_mnist_like, write_cifar_batch, write_idx  # noqa: E402

from dltricks.data import cifar10, idx, synthetic  # noqa: E402
from dltricks.data.download import fetch, md5  # noqa: E402
from dltricks.errors import BadFile  # noqa: E402


def test_idx_reader_parses_the_real_format(tmp_path):
    images = np.arange(2 * 28 * 28).reshape(2, 28, 28) % 256
    assert np.array_equal(idx.read_idx(write_idx(tmp_path / "a.gz", images)), images)
    labels = np.array([3, 1, 4], dtype=np.uint8)
    assert idx.read_idx(write_idx(tmp_path / "b.gz", labels)).tolist() == [3, 1, 4]


def test_idx_reader_refuses_truncated_and_foreign_files(tmp_path):
    import gzip

    path = write_idx(tmp_path / "a.gz", np.zeros((4, 28, 28)))
    raw = gzip.decompress(path.read_bytes())
    (tmp_path / "cut.gz").write_bytes(gzip.compress(raw[:-100]))
    with pytest.raises(BadFile, match="truncated"):
        idx.read_idx(tmp_path / "cut.gz")
    (tmp_path / "png.gz").write_bytes(gzip.compress(b"\x89PNG...."))
    with pytest.raises(BadFile, match="not an IDX"):
        idx.read_idx(tmp_path / "png.gz")


def test_mnist_loader_reads_the_official_file_names(tmp_path):
    make_mnist_like(tmp_path, "mnist", n_train=30, n_test=10)
    a = idx.load("mnist", root=str(tmp_path), verify=False)
    assert a.x.shape == (30, 1, 28, 28) and a.x_test.shape == (10, 1, 28, 28)
    assert a.x.min() >= 0 and a.x.max() <= 1 and a.y.dtype == np.int64


def test_cifar_reader_parses_python_batches(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (7, 3, 32, 32))
    path = write_cifar_batch(tmp_path / "b", x, np.arange(7))
    images, labels = cifar10.read_batch(path.read_bytes(), str(path))
    assert np.array_equal(images, x) and labels.tolist() == list(range(7))
    make_cifar(tmp_path, per_batch=4, n_test=6)
    a = cifar10.load(root=str(tmp_path), verify=False)
    assert a.x.shape == (20, 3, 32, 32) and a.x_test.shape == (6, 3, 32, 32)


def test_cifar_reader_reads_the_archive_without_extracting(tmp_path):
    import tarfile

    make_cifar(tmp_path / "src", per_batch=3, n_test=2)
    folder = tmp_path / "root" / "cifar10"
    folder.mkdir(parents=True)
    with tarfile.open(folder / cifar10.ARCHIVE, "w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar10" / cifar10.FOLDER, arcname=cifar10.FOLDER)
    a = cifar10.load(root=str(tmp_path / "root"), verify=False)
    assert len(a.y) == 15 and not (folder / cifar10.FOLDER).exists()


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    sentinel = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(sentinel), "w"))

    raw = pickle.dumps({b"data": Exploit(), b"labels": [0]})
    with pytest.raises(BadFile, match="refused"):
        cifar10.read_batch(raw, "evil")
    assert not sentinel.exists()


def test_offline_download_says_what_to_get_and_where(tmp_path, monkeypatch):
    monkeypatch.setenv("no_proxy", "*")
    url = "http://127.0.0.1:9/train-images-idx3-ubyte.gz"  # nothing listens on port 9
    with pytest.raises(BadFile) as err:
        fetch(url, tmp_path / "mnist" / "train-images-idx3-ubyte.gz", "0" * 32, timeout=5)
    message = str(err.value)
    assert url in message and str(tmp_path / "mnist") in message and "data.root" in message
    assert not list((tmp_path / "mnist").iterdir())  # no partial file left


def test_a_checksum_mismatch_is_refused(tmp_path):
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(b"not the real file")
    with pytest.raises(BadFile, match="checksum mismatch"):
        fetch("http://127.0.0.1:9/x", path, "ec29112dd5afa0611ce80d1b7f02629c")
    assert fetch("http://127.0.0.1:9/x", path, md5(path)) == path


def test_synthetic_sets_are_seeded_and_shaped():
    a, b = synthetic.spirals(n=50, seed=3), synthetic.spirals(n=50, seed=3)
    assert a.x.shape == (150, 2) and np.array_equal(a.x, b.x)
    assert not np.array_equal(a.x, synthetic.spirals(n=50, seed=4).x)
    t = synthetic.teacher(n=400, dim=5, classes=4, test_n=100)
    assert t.x.shape == (400, 5) and set(t.y_test) <= set(range(4))
    noisy = synthetic.teacher(n=400, dim=5, classes=4, test_n=100, label_noise=0.5)
    assert 0.2 < (noisy.y != t.y).mean() < 0.5
