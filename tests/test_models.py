"""Models: depth counts weight layers; plain and residual nets share their parameters."""

from __future__ import annotations

from functools import partial

import pytest
import torch
from torch import nn

from dltricks.models import activations, init
from dltricks.models.init import initialize
from dltricks.models.mlp import MLP

RELU = activations.relu()


def mlp(**kw) -> MLP:
    return MLP((1, 8, 8), 10, activation=RELU, norm=nn.Identity, **kw)


@pytest.mark.parametrize("depth", [2, 3, 4, 5, 20, 56])
def test_depth_is_the_number_of_weight_layers(depth):
    model = mlp(depth=depth, width=8)
    assert sum(isinstance(m, nn.Linear) for m in model.modules()) == depth
    assert model(torch.randn(3, 1, 8, 8)).shape == (3, 10)


def test_plain_and_residual_nets_have_the_same_parameters():
    plain, res = mlp(depth=20, width=16), mlp(depth=20, width=16, residual=True)
    shapes = [p.shape for p in plain.parameters()]
    assert shapes == [p.shape for p in res.parameters()]
    res.load_state_dict(plain.state_dict())
    x = torch.randn(4, 1, 8, 8)
    assert not torch.allclose(plain(x), res(x))  # same weights, different function


def test_residual_block_adds_the_identity():
    model = mlp(depth=4, width=8, residual=True)
    block = model.blocks[0]
    for p in block.parameters():
        nn.init.zeros_(p)
    x = torch.rand(5, 8)  # non-negative, so relu(x + 0) == x
    assert torch.equal(block(x), x)


# ---------------------------------------------------------------- the CIFAR ResNets

from dltricks.models.convnet import ConvNet, shortcut  # noqa: E402
from dltricks.models.layers import batch_norm, layer_norm  # noqa: E402
from dltricks.models.rnn import RNN  # noqa: E402

PAPER_PARAMS = {20: 0.27e6, 32: 0.46e6, 44: 0.66e6, 56: 0.85e6, 110: 1.7e6}  # He et al. Table 6


def resnet(depth: int, shape=(3, 32, 32), **kw) -> ConvNet:
    return ConvNet(shape, 10, depth, activation=RELU, norm=batch_norm, **kw)


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("depth", sorted(PAPER_PARAMS))
def test_cifar_resnet_parameter_counts_match_the_paper(depth):
    params = count(resnet(depth))
    assert params == pytest.approx(PAPER_PARAMS[depth], rel=0.03)
    assert count(resnet(depth, residual=False)) == params  # option A adds no parameters
    convs = sum(isinstance(m, nn.Conv2d) for m in resnet(depth).modules())
    assert convs + 1 == depth  # 6n + 1 convolutions and one linear layer


@pytest.mark.parametrize("depth", [20, 32, 44, 56, 110])
@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 40)], ids=["2d", "1d"])
def test_convnet_output_shape_for_images_and_sequences(depth, residual, shape):
    model = resnet(depth, shape=shape, residual=residual).eval()
    assert model(torch.randn(2, *shape)).shape == (2, 10)
    conv = nn.Conv2d if len(shape) == 3 else nn.Conv1d
    assert any(isinstance(m, conv) for m in model.modules())


def test_convnet_refuses_a_depth_that_is_not_6n_plus_2():
    with pytest.raises(ValueError, match="6n\\+2"):
        resnet(21)


def test_option_a_shortcut_subsamples_and_zero_pads_channels():
    x = torch.arange(2 * 16 * 4 * 4.0).view(2, 16, 4, 4)
    y = shortcut(x, 32, stride=2)
    assert y.shape == (2, 32, 2, 2)
    assert torch.equal(y[:, 8:24], x[:, :, ::2, ::2])
    assert torch.all(y[:, :8] == 0) and torch.all(y[:, 24:] == 0)


SCHEMES = {
    "default": init.default,
    "gaussian": partial(init.gaussian, std=0.01),
    "xavier": init.xavier,
    "he": init.he,
}
NORMS = {"none": nn.Identity, "batch": batch_norm, "layer": layer_norm}


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
@pytest.mark.parametrize("norm", sorted(NORMS))
@pytest.mark.parametrize("block", ["post", "pre"])
@pytest.mark.parametrize("family", ["mlp", "convnet"])
def test_zero_init_residual_survives_every_init_scheme(family, block, norm, scheme):
    # the init scheme runs first, then the branches are zeroed: every block starts as its
    # shortcut (post: act(x + 0); pre: x + 0), whatever ends the branch
    torch.manual_seed(0)
    kw = dict(residual=True, block=block, zero_init_residual=True, activation=RELU)
    if family == "mlp":
        net = MLP((12,), 10, depth=6, width=8, norm=NORMS[norm], **kw)
        x = torch.randn(4, 8)
    else:
        net = ConvNet((2, 16), 10, depth=8, width=4, norm=NORMS[norm], **kw)
        x = torch.randn(4, 4, 16)
    done = initialize(net, SCHEMES[scheme], RELU)
    assert done["zeroed_branches"] == len(net.blocks) > 0
    for b in net.blocks:
        b.eval()
        skip = x if family == "mlp" else shortcut(x, b.c_out, b.stride)
        expected = skip if block == "pre" else torch.relu(skip)
        assert torch.equal(b(x), expected), f"a {block} block's branch is not zero"
        x = expected


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_rnn_reads_sequences(cell):
    model = RNN((1, 40), 10, cell=cell, hidden=8, layers=2)
    assert model(torch.randn(3, 1, 40)).shape == (3, 10)
    with pytest.raises(ValueError, match="sequence"):
        RNN((1, 8, 8), 10)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_bidirectional_last_readout_is_both_directions_final_states(cell):
    torch.manual_seed(0)
    model = RNN((2, 7), 3, cell=cell, hidden=5, layers=2, bidirectional=True)
    x = torch.randn(4, 2, 7)
    out, _ = model.cell(x.transpose(1, 2))
    # the forward direction has read all 7 steps at the end; the backward one at the start
    final = torch.cat([out[:, -1, :5], out[:, 0, 5:]], dim=1)
    assert torch.allclose(model(x), model.head(final), atol=1e-6)


def test_all_readout_is_the_mnist1d_papers_gru():
    # Greydanus 2020: a bidirectional GRU of 6 units whose 40 outputs are flattened into a
    # linear classifier: 3 * 2 * (6 * (1 + 6 + 2)) GRU weights and 2 * 6 * 40 * 10 + 10 head
    model = RNN((1, 40), 10, cell="gru", hidden=6, bidirectional=True, readout="all")
    assert model(torch.randn(3, 1, 40)).shape == (3, 10)
    assert sum(p.numel() for p in model.cell.parameters()) == 2 * 3 * 6 * (1 + 6 + 2)
    assert model.head.in_features == 2 * 6 * 40
    with pytest.raises(ValueError, match="readout"):
        RNN((1, 40), 10, readout="mean")


def test_init_schemes_leave_recurrent_cells_to_pytorch_and_say_so():
    model = RNN((1, 40), 10, cell="gru", hidden=8)
    before = model.cell.weight_hh_l0.detach().clone()
    done = initialize(model, partial(init.gaussian, std=1.0), RELU)
    assert torch.equal(model.cell.weight_hh_l0, before)  # PyTorch's own init, kept
    assert done["pytorch_init_kept"] == ["cell"] and done["layers"] == 1  # the head
    assert model.head.weight.std().item() == pytest.approx(1.0, rel=0.2)
