"""The CIFAR ResNets of He et al. 2016 (section 4.2), and their plain twins.

depth = 6n + 2: a 3x3 stem conv, three stages of n two-conv blocks with 16, 32 and 64
channels (width, 2 width, 4 width), the first block of stages 2 and 3 downsampling with
stride 2, global average pooling and one linear layer. Shortcuts are identities, with zero
padding for the new channels where a stage widens (option A: no extra parameters), so a plain
net (residual=False) has exactly the same parameters. 1-D convolutions for sequences
(N, C, L), 2-D for images (N, C, H, W).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dltricks.models import BLOCKS, one_of, stage_blocks
from dltricks.models.activations import Activation
from dltricks.models.layers import Factory

CONV = {1: nn.Conv1d, 2: nn.Conv2d}


class ConvUnit(nn.Sequential):
    """conv -> norm (-> activation): conv has a bias only when there is no norm to provide
    one. Maxout convs compute channels * pieces maps."""

    def __init__(
        self,
        dims: int,
        c_in: int,
        c_out: int,
        stride: int,
        activation: Activation,
        norm: Factory,
        act: bool = True,
        widen: bool | None = None,
    ) -> None:
        # Maxout needs pieces maps per channel: where it follows (act), or follows the
        # residual sum this unit feeds (widen)
        k = activation.pieces if (act if widen is None else widen) else 1
        normalize = norm(c_out * k, spatial_dims=dims)
        bias = isinstance(normalize, nn.Identity)
        layers: list[nn.Module] = [
            CONV[dims](c_in, c_out * k, 3, stride=stride, padding=1, bias=bias),
            normalize,
        ]
        if act:
            layers.append(activation(c_out))
        super().__init__(*layers)


def shortcut(x: torch.Tensor, c_out: int, stride: int) -> torch.Tensor:
    """Option A: subsample by `stride`, zero-pad the new channels (half on each side)."""
    if stride > 1:
        x = x[(slice(None), slice(None), *[slice(None, None, stride)] * (x.ndim - 2))]
    extra = c_out - x.shape[1]
    if extra:
        pad = [0, 0] * (x.ndim - 2) + [extra // 2, extra - extra // 2]
        x = F.pad(x, pad)
    return x


class BasicBlock(nn.Module):
    """Two 3x3 convs. post: y = act(x + norm(conv(act(norm(conv(x)))))) (He et al. 2016a);
    pre: y = x + conv(act(norm(conv(act(norm(x)))))) (He et al. 2016b)."""

    def __init__(
        self,
        dims: int,
        c_in: int,
        c_out: int,
        stride: int,
        activation: Activation,
        norm: Factory,
        dropout: Factory,
        residual: bool,
        block: str,
        zero_init: bool = False,
    ) -> None:
        super().__init__()
        self.c_out, self.stride, self.residual, self.pre = c_out, stride, residual, block == "pre"
        self.zero_init = zero_init and residual  # models.init.initialize calls zero_branch
        self.k = activation.pieces
        if self.pre:
            self.norm_in = norm(c_in, spatial_dims=dims)
            self.act_in = activation(c_in)
            self.conv1 = ConvUnit(dims, c_in, c_out, stride, activation, norm)
            self.conv2 = CONV[dims](c_out, c_out, 3, padding=1, bias=False)
        else:
            self.conv1 = ConvUnit(dims, c_in, c_out, stride, activation, norm)
            self.conv2 = ConvUnit(dims, c_out, c_out, 1, activation, norm, act=False, widen=True)
            self.act_out = activation(c_out)
        self.drop = dropout()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pre:
            out = self.conv2(self.drop(self.conv1(self.act_in(self.norm_in(x)))))
            return out + shortcut(x, self.c_out, self.stride) if self.residual else out
        out = self.conv2(self.drop(self.conv1(x)))
        if self.residual:
            skip = shortcut(x, self.c_out, self.stride)
            # Maxout's pre-activations come in groups of k per channel: add x to each
            out = out + (skip.repeat_interleave(self.k, dim=1) if self.k > 1 else skip)
        return self.drop(self.act_out(out))

    def zero_branch(self) -> None:
        """Make the residual branch output zero, so the block starts as its shortcut."""
        last = self.conv2 if self.pre else self.conv2[1]
        if isinstance(last, nn.Identity):  # no norm: zero the conv itself
            last = self.conv2[0]
        nn.init.zeros_(last.weight)
        if getattr(last, "bias", None) is not None:
            nn.init.zeros_(last.bias)


class ConvNet(nn.Module):
    stackable = True  # hydra/launcher=stacked may train several as one (dltricks.stacked)
    # but not on the CPU by default: there a stacked group's convolutions and batch norms run
    # member by member, and the group trains slower than its jobs one by one (make bench)
    stacks_on_cpu = False

    def __init__(
        self,
        in_shape: tuple[int, ...],
        classes: int,
        depth: int = 20,
        width: int = 16,
        residual: bool = True,
        block: str = "post",
        zero_init_residual: bool = False,
        *,
        activation: Activation,
        norm: Factory,
        dropout: Factory = nn.Identity,
    ) -> None:
        super().__init__()
        dims = len(in_shape) - 1
        if dims not in CONV:
            raise ValueError(
                f"a convnet needs sequences (C, L) or images (C, H, W), not {in_shape}"
            )
        n = stage_blocks(depth)
        self.stem = ConvUnit(dims, in_shape[0], width, 1, activation, norm, act=block == "post")
        blocks, c_in = [], width
        for stage, c_out in enumerate((width, 2 * width, 4 * width)):
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(
                    BasicBlock(
                        dims,
                        c_in,
                        c_out,
                        stride,
                        activation,
                        norm,
                        dropout,
                        residual,
                        block,
                        zero_init_residual,
                    )
                )
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        # pre-activation nets end with the norm and activation their last block left out
        self.final = (
            nn.Sequential(norm(c_in, spatial_dims=dims), activation(c_in))
            if block == "pre"
            else nn.Identity()
        )
        self.head = nn.Linear(c_in, classes)

    @staticmethod
    def check_args(depth: int = 20, block: str = "post", **_: object) -> None:
        """The rules of its arguments, checked with the config (models/contract.py)."""
        try:
            stage_blocks(depth)
        except ValueError as err:
            raise ValueError(f"model.depth={depth}: {err}") from None
        one_of("model.block", block, BLOCKS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (N, C, *positions) -> features (N, 4 width, *positions / 4) -> pooled -> logits
        features = self.final(self.blocks(self.stem(x)))
        return self.head(features.flatten(2).mean(dim=2))
