"""A recurrent classifier for sequences (N, C, L): a vanilla RNN (tanh), GRU or LSTM reads
the L steps of C features, in one direction or both. `readout=last` classifies the final
hidden state of each direction; `readout=all` classifies the outputs of every step, flattened
(the MNIST-1D paper's GRU: 6 units, bidirectional). Gradients can explode over long
sequences: regularization=[grad_clip] keeps them stable."""

from __future__ import annotations

import torch
from torch import nn

from dltricks.models import one_of

CELLS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}
READOUTS = ("last", "all")


class RNN(nn.Module):
    def __init__(
        self,
        in_shape: tuple[int, ...],
        classes: int,
        cell: str = "gru",
        hidden: int = 64,
        layers: int = 1,
        bidirectional: bool = False,
        readout: str = "last",
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
        if readout not in READOUTS:
            raise ValueError(f"model.readout must be one of {READOUTS}, not {readout!r}")
        channels, steps = in_shape
        self.directions = 2 if bidirectional else 1
        self.readout = readout
        self.cell = CELLS[cell](
            channels, hidden, num_layers=layers, batch_first=True, bidirectional=bidirectional
        )
        features = self.directions * hidden * (steps if readout == "all" else 1)
        self.head = nn.Linear(features, classes)

    @staticmethod
    def check_args(cell: str = "gru", readout: str = "last", **_: object) -> None:
        """The rules of its arguments, checked with the config (models/contract.py)."""
        one_of("model.cell", cell, CELLS)
        one_of("model.readout", readout, READOUTS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (N, C, L) -> (N, L, C): one step per position
        out, h_n = self.cell(x.transpose(1, 2))
        if self.readout == "all":
            return self.head(out.flatten(1))
        if isinstance(h_n, tuple):  # an LSTM's (h_n, c_n)
            h_n = h_n[0]
        # h_n: (layers * directions, N, hidden); the top layer's final state in each direction
        return self.head(h_n[-self.directions :].transpose(0, 1).flatten(1))
