"""Recurrent models: a sequence classifier and a character-level language model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..engine import get_engine, index_array
from ..layers import GRU, LSTM, RNN, Embedding, Linear
from ..module import Module


class RNNClassifier(Module):
    """Reads a batch of sequences (B, T, input_size) with an Elman RNN and classifies each
    from the last layer's final hidden state: ``logits = head(h_n[-1])``, shape (B, C).

    Parameters: ``rnn.weight_ih_l0`` ... (torch.nn.RNN's names, batch_first=True) and
    ``head.weight`` / ``head.bias``."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_classes: int,
        num_layers: int = 1,
        engine: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(engine=engine, dtype=dtype)
        where = dict(engine=self.engine, dtype=self._dtype_request)
        self.rnn = RNN(input_size, hidden_size, num_layers=num_layers, batch_first=True, **where)
        self.head = Linear(hidden_size, num_classes, **where)

    def forward(self, x: Any) -> Any:
        x = self.as_input(x)
        if x.ndim != 3:
            raise ValueError(
                f"RNNClassifier: expected input (batch, time, input_size), got shape "
                f"{tuple(x.shape)}"
            )
        _, h_n = self.rnn(x)
        return self.head(h_n[-1])


CELLS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}


class CharRNN(Module):
    """A character-level language model: Embedding -> RNN (or LSTM / GRU: ``cell=``) -> Linear.

    ``forward(ids)`` takes integer ids (B, T) and returns next-character logits (B, T, V);
    train it with ``F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))`` where
    targets are the ids shifted by one (torch's class dim is dim 1, so (B, T, V) logits are
    flattened, or transposed to (B, V, T)).
    ``sample`` continues a prompt one character at a time, carrying the hidden state (an
    LSTM's is the pair ``(h, c)``). The recurrent layer is ``self.rnn`` whatever the cell, so
    its parameters are ``rnn.weight_ih_l0`` ... in torch's layout for that cell."""

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int,
        hidden_size: int,
        num_layers: int = 1,
        engine: str | None = None,
        dtype: Any = None,
        cell: str = "rnn",
    ) -> None:
        super().__init__(engine=engine, dtype=dtype)
        if cell not in CELLS:
            raise ValueError(f"CharRNN: cell must be one of {sorted(CELLS)}, got {cell!r}")
        where = dict(engine=self.engine, dtype=self._dtype_request)
        self.vocab_size = vocab_size
        self.cell = cell
        self.embed = Embedding(vocab_size, embed_dim, **where)
        self.rnn = CELLS[cell](embed_dim, hidden_size, num_layers=num_layers, batch_first=True,
                               **where)
        self.head = Linear(hidden_size, vocab_size, **where)

    def forward(self, ids: Any, h0: Any = None, return_hidden: bool = False) -> Any:
        """Logits (B, T, vocab_size) for ids (B, T); with ``return_hidden`` also h_n, which
        can be passed back as ``h0`` to continue the sequence."""
        ids = index_array(ids, "CharRNN", self.engine)
        if ids.ndim != 2:
            raise ValueError(f"CharRNN: expected ids of shape (batch, time), got {ids.shape}")
        output, h_n = self.rnn(self.embed(ids), h0)
        logits = self.head(output)
        return (logits, h_n) if return_hidden else logits

    def sample(
        self,
        start_ids: Sequence[int],
        length: int,
        temperature: float = 1.0,
        seed: int | None = None,
    ) -> list[int]:
        """Continue ``start_ids`` by ``length`` ids drawn from softmax(logits / temperature)
        (``temperature=0`` picks the most likely id). Returns prompt + continuation; the same
        ``seed`` gives the same ids."""
        prompt = [int(i) for i in start_ids]
        if not prompt:
            raise ValueError("CharRNN.sample needs at least one start id")
        if not temperature >= 0:  # also refuses NaN
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        rng = np.random.default_rng(seed)
        ids = list(prompt)
        with get_engine(self.engine).no_grad():
            logits, h = self.forward([prompt], return_hidden=True)
            for step in range(length):
                last = np.asarray(logits.numpy(), dtype=np.float64)[0, -1]
                ids.append(_pick(last, temperature, rng))
                if step + 1 < length:  # feed only the new id; h carries the rest
                    logits, h = self.forward([[ids[-1]]], h, return_hidden=True)
        return ids


def _pick(logits: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
    """One id from a row of logits: argmax at temperature 0, else a softmax draw."""
    if temperature == 0:
        return int(np.argmax(logits))
    z = (logits - logits.max()) / temperature  # <= 0: a tiny temperature cannot overflow
    p = np.exp(z)
    return int(rng.choice(len(p), p=p / p.sum()))
