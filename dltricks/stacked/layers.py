"""K models of one architecture as one: the members fold into the batch, K blocks of B rows
(member k's minibatch is rows k*B .. (k+1)*B), so that the model's own forward code runs
unchanged (its flattening, shortcuts, pooling and Maxout act on one example at a time), and
only the layers with weights or batch statistics know the members: a Linear is one batched
matrix product (baddbmm) of K weight matrices, a convolution one grouped convolution over the
K x C channels, BatchNorm statistics over the K x C channels; dropout draws each member's mask
from that member's own random stream. Stateless layers (activations, Maxout) are shared.

`stack(template, members, streams)` builds the stacked model from K built models: their
weights, copied into stacked tensors, which the members' own parameters and buffers then view
(`alias`), so that each member's optimizer, regularizers, evaluation and checkpoint act on
its own model as in a run of its own."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from dltricks.models.dropout import ClassicDropout
from dltricks.stacked.streams import Streams

RANDOM = (nn.Dropout, ClassicDropout)  # a member's mask from its own random stream


def _stacked(tensors: list[torch.Tensor]) -> nn.Parameter:
    return nn.Parameter(torch.stack([t.detach() for t in tensors]))


def cat_rows(outs: list[torch.Tensor]) -> torch.Tensor:
    """The members' tensors as one (K*B, ...) tensor with each one's own strides (a batch, or
    a convolution's output, may be laid out channels-last, down to the stride of a single
    channel, and the next layer's arithmetic, its twin's, depends on it)."""
    first = outs[0]
    if first.ndim < 2 or (
        first.is_contiguous() and first.stride(1) * first.shape[1] == first.stride(0)
    ):
        return torch.cat(outs)
    out = torch.empty_strided(
        (sum(len(o) for o in outs), *first.shape[1:]), first.stride(), dtype=first.dtype,
        device=first.device,
    )  # fmt: skip
    start = 0
    for o in outs:
        out[start : start + len(o)].copy_(o)
        start += len(o)
    return out


class Linear(nn.Module):
    """K Linear layers: (K*B, in) -> (K*B, out) with one batched product."""

    def __init__(self, layers: list[nn.Linear]) -> None:
        super().__init__()
        self.k = len(layers)
        self.weight = _stacked([m.weight for m in layers])  # (K, out, in)
        self.bias = _stacked([m.bias for m in layers]) if layers[0].bias is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xs = x.reshape(self.k, -1, x.shape[-1])  # (K, B, in)
        w = self.weight.transpose(1, 2)  # (K, in, out)
        out = torch.baddbmm(self.bias.unsqueeze(1), xs, w) if self.bias is not None else xs @ w
        return out.reshape(-1, out.shape[-1])


def _to_channels(x: torch.Tensor, k: int) -> torch.Tensor:
    """(K*B, C, *S) -> (B, K*C, *S): the members side by side in the channels."""
    _, c, *s = x.shape
    return x.reshape(k, -1, c, *s).transpose(0, 1).reshape(-1, k * c, *s)


def _to_rows(x: torch.Tensor, k: int) -> torch.Tensor:
    """(B, K*C, *S) -> (K*B, C, *S): back to the members' blocks of rows."""
    b, kc, *s = x.shape
    return x.reshape(b, k, kc // k, *s).transpose(0, 1).reshape(k * b, kc // k, *s)


class Conv(nn.Module):
    """K Conv1d or Conv2d layers: on a GPU one grouped convolution over the K x C channels;
    on the CPU, where a grouped convolution is no faster than its groups (measured: 1.4x
    slower for 4 x 16 channels), each member's own on its rows (no copies, and its twin's
    arithmetic exactly)."""

    def __init__(self, layers: list[nn.Conv1d | nn.Conv2d]) -> None:
        super().__init__()
        first = layers[0]
        self.k, self.conv = len(layers), F.conv1d if isinstance(first, nn.Conv1d) else F.conv2d
        self.stride, self.padding, self.dilation = first.stride, first.padding, first.dilation
        self.groups = first.groups
        self.weight = _stacked([m.weight for m in layers])  # (K, out, in / groups, *kernel)
        self.bias = _stacked([m.bias for m in layers]) if first.bias is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not x.is_cuda:
            rows = x.chunk(self.k)  # views: each member's rows, in their layout
            b = self.bias if self.bias is not None else [None] * self.k
            return cat_rows([
                self.conv(rows[i], self.weight[i], b[i], self.stride, self.padding,
                          self.dilation, self.groups)
                for i in range(self.k)
            ])  # fmt: skip
        w = self.weight.reshape(-1, *self.weight.shape[2:])
        b = self.bias.reshape(-1) if self.bias is not None else None
        out = self.conv(
            _to_channels(x, self.k), w, b, self.stride, self.padding, self.dilation,
            self.groups * self.k,
        )  # fmt: skip
        return _to_rows(out, self.k)


class BatchNorm(nn.Module):
    """K BatchNorm layers: the statistics of each member's channels over its own rows, its
    running statistics (K, C) updated in place, which the members' buffers view. On a GPU
    one batch norm over the K x C channels; on the CPU each member's own (as Conv)."""

    def __init__(self, layers: list[nn.modules.batchnorm._BatchNorm]) -> None:
        super().__init__()
        first = layers[0]
        self.k, self.eps, self.momentum = len(layers), first.eps, first.momentum
        self.weight = _stacked([m.weight for m in layers])
        self.bias = _stacked([m.bias for m in layers])
        self.register_buffer("running_mean", torch.stack([m.running_mean for m in layers]))
        self.register_buffer("running_var", torch.stack([m.running_var for m in layers]))
        self.register_buffer(
            "num_batches_tracked", torch.stack([m.num_batches_tracked for m in layers])
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        momentum = self.momentum
        if self.training:
            self.num_batches_tracked.add_(1)
            if momentum is None:  # a cumulative average, as torch's BatchNorm
                momentum = 1.0 / float(self.num_batches_tracked[0])
        if not x.is_cuda:
            rows = x.chunk(self.k)  # views: each member's rows, in their layout
            return cat_rows([
                F.batch_norm(rows[i], self.running_mean[i], self.running_var[i],
                             self.weight[i], self.bias[i], self.training, momentum or 0.0,
                             self.eps)
                for i in range(self.k)
            ])  # fmt: skip
        flat = x.ndim == 2
        wide = _to_channels(x.unsqueeze(-1) if flat else x, self.k)
        out = F.batch_norm(
            wide, self.running_mean.view(-1), self.running_var.view(-1), self.weight.view(-1),
            self.bias.view(-1), self.training, momentum or 0.0, self.eps,
        )  # fmt: skip
        out = _to_rows(out, self.k)
        return out.squeeze(-1) if flat else out


class Affine(nn.Module):
    """K LayerNorm (or one-group GroupNorm) layers: normalized as one, then each member's
    own scale and shift."""

    def __init__(self, layers: list[nn.LayerNorm | nn.GroupNorm]) -> None:
        super().__init__()
        self.k, first = len(layers), layers[0]
        self.norm: Callable[[torch.Tensor], torch.Tensor] = (
            (lambda x: F.layer_norm(x, first.normalized_shape, None, None, first.eps))
            if isinstance(first, nn.LayerNorm)
            else (lambda x: F.group_norm(x, first.num_groups, None, None, first.eps))
        )
        self.per_channel = isinstance(first, nn.GroupNorm)
        self.weight = _stacked([m.weight for m in layers])
        self.bias = _stacked([m.bias for m in layers])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm(x).reshape(self.k, -1, *x.shape[1:])
        shape = (self.k, 1, -1, *[1] * (x.ndim - 2)) if self.per_channel else (
            self.k, 1, *self.weight.shape[1:])  # fmt: skip
        y = y * self.weight.reshape(shape) + self.bias.reshape(shape)
        return y.reshape(x.shape)


class PReLU(nn.Module):
    """K PReLU layers: each member's own slopes (one, or one per channel)."""

    def __init__(self, layers: list[nn.PReLU]) -> None:
        super().__init__()
        self.k = len(layers)
        self.weight = _stacked([m.weight for m in layers])  # (K, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xs = x.reshape(self.k, -1, *x.shape[1:])
        shape = (self.k, 1, self.weight.shape[1], *[1] * (x.ndim - 2))
        if self.weight.shape[1] == 1:
            shape = (self.k, *[1] * x.ndim)
        w = self.weight.reshape(shape)
        return torch.where(xs >= 0, xs, w * xs).reshape(x.shape)


class Random(nn.Module):
    """K dropout layers: each member's own layer (its p, its mode) on its own rows, its mask
    drawn from its own random stream, as in a run of its own."""

    def __init__(self, layers: list[nn.Module], streams: Streams) -> None:
        super().__init__()
        self.members = nn.ModuleList(layers)
        self.streams = streams

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.chunk(len(self.members))
        outs = []
        for k, layer in enumerate(self.members):
            with self.streams.of(k):
                outs.append(layer(rows[k]))
        return cat_rows(outs)


STACKED: dict[type, Callable[[list], nn.Module]] = {
    nn.Linear: Linear,
    nn.Conv1d: Conv,
    nn.Conv2d: Conv,
    nn.BatchNorm1d: BatchNorm,
    nn.BatchNorm2d: BatchNorm,
    nn.LayerNorm: Affine,
    nn.PReLU: PReLU,
}


def unstackable(model: nn.Module) -> str | None:
    """What in a model cannot be stacked (a layer with weights or state of an unknown kind),
    or None."""
    for name, m in model.named_modules():
        if list(m.children()):
            continue
        own = list(m.parameters(recurse=False)) + list(m.buffers(recurse=False))
        if isinstance(m, nn.GroupNorm) and m.num_groups == 1 and m.affine:
            continue
        if not own or isinstance(m, RANDOM) or any(isinstance(m, t) for t in STACKED):
            continue
        return f"{name or 'the model'} ({type(m).__name__})"
    return None


def stack(template: nn.Module, members: list[nn.Module], streams: Streams) -> nn.Module:
    """The stacked model: `template`'s structure, each leaf with weights or randomness
    replaced by its stacked twin over the members' corresponding layers."""
    stacked = copy.deepcopy(template)
    found = [dict(m.named_modules()) for m in members]
    for name, leaf in list(stacked.named_modules()):
        if list(leaf.children()):
            continue
        layers = [f[name] for f in found]
        kind = next((f for t, f in STACKED.items() if isinstance(leaf, t)), None)
        if isinstance(leaf, nn.GroupNorm):
            kind = Affine
        if isinstance(leaf, RANDOM):
            replacement: nn.Module = Random(layers, streams)
        elif kind is not None:
            replacement = kind(layers)
        else:
            continue  # stateless: the template's own, shared
        _set(stacked, name, replacement)
    return stacked


def _set(root: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    owner = root.get_submodule(parent) if parent else root
    if isinstance(owner, nn.Sequential | nn.ModuleList):
        owner[int(child)] = module
    else:
        setattr(owner, child, module)


Pairs = list[tuple[nn.Parameter, nn.Parameter, int]]


def alias(stacked: nn.Module, members: list[nn.Module]) -> Pairs:
    """Point every member's parameters and buffers into the stacked ones (member k's are the
    k-th slice): a member's optimizer then updates the stacked weights in place, and its
    evaluation and checkpoint see them. (member parameter, stacked parameter, k) for each
    parameter: where a member's gradient is read from."""
    pairs = []
    for name, leaf in stacked.named_modules():
        if isinstance(leaf, Random) or not list(leaf.parameters(recurse=False)):
            continue
        for k, member in enumerate(members):
            own = member.get_submodule(name)
            for pname, stacked_p in leaf.named_parameters(recurse=False):
                mine = getattr(own, pname)
                mine.data = stacked_p.data[k]
                pairs.append((mine, stacked_p, k))
            for bname, stacked_b in leaf.named_buffers(recurse=False):
                getattr(own, bname).data = stacked_b.data[k]
    return pairs
