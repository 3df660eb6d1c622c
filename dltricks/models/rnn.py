"""A recurrent classifier for sequences (N, C, L): a vanilla RNN (tanh), GRU or LSTM reads
the L steps of C features; the last hidden state goes through one linear layer. Its gradients
can explode over long sequences: regularization=[grad_clip] keeps it stable."""

from __future__ import annotations

import torch
from torch import nn

CELLS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


class RNN(nn.Module):
    def __init__(
        self,
        in_shape: tuple[int, ...],
        classes: int,
        cell: str = "gru",
        hidden: int = 64,
        layers: int = 1,
        *,
        activation: object = None,
        norm: object = None,
        dropout: object = None,
    ) -> None:
        # activation, norm and dropout come from their groups for every model; a recurrent
        # cell has its own nonlinearities (and no place for the others): they are unused
        super().__init__()
        if len(in_shape) != 2:
            raise ValueError(f"model=rnn needs sequence data (C, L), not shape {in_shape}")
        self.cell = CELLS[cell](in_shape[0], hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (N, C, L) -> (N, L, C): one step per position
        out, _ = self.cell(x.transpose(1, 2))
        return self.head(out[:, -1])
