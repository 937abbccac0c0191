"""A training script written the way a PyTorch user writes one, with ``import shared_nn as nn``
where they would write ``import torch.nn as nn``: a custom Module subclass with an Embedding,
an LSTM, Dropout and a Linear head; Adam, a cosine schedule and gradient clipping; a
DataLoader; ``model.eval()`` and ``nn.no_grad()`` for validation; a training state saved to
a file mid-run and resumed by fresh objects.

It runs unchanged on the scalar and the tensor engine and follows the same script written
with torch (same weights, same dropout masks fed to it) loss for loss; the resumed run
repeats the uninterrupted one bit for bit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import shared_nn as nn
import shared_nn.functional as F
from shared_nn.optim.lr_scheduler import CosineAnnealingLR
from shared_nn.utils import clip_grad_norm_
from shared_nn.utils.data import DataLoader, TensorDataset

from .checker import assert_close
from .test_layers import TorchSeededDropout

VOCAB, EMBED, HIDDEN, CLASSES, SEQ = 7, 4, 5, 3, 5
EPOCHS = 4


class SequenceClassifier(nn.Module):
    """Token ids (batch, time) -> class logits, from the LSTM's last hidden state."""

    def __init__(self, engine: str | None = None, dtype: str = "float64") -> None:
        super().__init__(engine=engine, dtype=dtype)
        self.embed = nn.Embedding(VOCAB, EMBED, engine=engine, dtype=dtype)
        self.lstm = nn.LSTM(EMBED, HIDDEN, num_layers=2, batch_first=True, engine=engine,
                            dtype=dtype)
        self.drop = nn.Dropout(0.25)
        self.head = nn.Linear(HIDDEN, CLASSES, engine=engine, dtype=dtype)

    def forward(self, ids: np.ndarray):
        out, (h, c) = self.lstm(self.embed(ids))
        return self.head(self.drop(h[-1]))


class TorchSequenceClassifier(torch.nn.Module):
    """The same script's model in torch, its dropout fed shared_nn's masks."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(VOCAB, EMBED)
        self.lstm = torch.nn.LSTM(EMBED, HIDDEN, num_layers=2, batch_first=True)
        self.drop = TorchSeededDropout(0.25)
        self.head = torch.nn.Linear(HIDDEN, CLASSES)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out, (h, c) = self.lstm(self.embed(ids))
        return self.head(self.drop(h[-1]))


def data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    ids, labels = rng.integers(0, VOCAB, (12, SEQ)), rng.integers(0, CLASSES, 12)
    return ids[:8], labels[:8], ids[8:], labels[8:]


def train_ours(engine: str, epochs: range, model=None, state: Path | None = None,
               resume: Path | None = None) -> tuple[list[float], SequenceClassifier]:
    """The user's loop, epochs ``epochs``; saves to ``state`` at the end, or resumes from
    ``resume`` (into freshly built objects) at the start."""
    x, y, x_val, y_val = data()
    if model is None:
        nn.manual_seed(0)
        model = SequenceClassifier(engine=engine)
    optimizer = nn.optim.Adam(model.parameters(), lr=0.05)
    scheduler = CosineAnnealingLR(optimizer, T_max=EPOCHS)
    loader = DataLoader(TensorDataset(x, y), batch_size=4, shuffle=True, seed=1)
    if resume is not None:
        nn.load_training_state(resume, model=model, optimizer=optimizer, scheduler=scheduler,
                               data_loader=loader)
    losses = []
    for _ in epochs:
        model.train()
        for ids, labels in loader:
            loss = F.cross_entropy(model(ids), labels)
            optimizer.zero_grad()
            loss.backward()
            clip_grad_norm_(model.parameters(), max_norm=0.5)
            optimizer.step()
            losses.append(loss.item())
        scheduler.step()
        model.eval()
        with nn.no_grad():
            val = F.cross_entropy(model(x_val), y_val)
            assert not val.requires_grad
            losses.append(val.item())
    if state is not None:
        nn.save_training_state(state, model=model, optimizer=optimizer, scheduler=scheduler,
                               data_loader=loader, step=epochs.stop)
    return losses, model


def train_torch() -> list[float]:
    """The same script in torch; batches from the same DataLoader, masks from the same seed."""
    x, y, x_val, y_val = data()
    nn.manual_seed(0)
    twin = TorchSequenceClassifier().double()
    twin.load_state_dict({k: torch.from_numpy(np.array(v))
                          for k, v in SequenceClassifier(engine="tensor").state_dict().items()})
    optimizer = torch.optim.Adam(twin.parameters(), lr=0.05)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=EPOCHS)
    loader = DataLoader(TensorDataset(x, y), batch_size=4, shuffle=True, seed=1)
    losses = []
    for _ in range(EPOCHS):
        twin.train()
        for ids, labels in loader:
            loss = torch.nn.functional.cross_entropy(twin(torch.from_numpy(ids)),
                                                     torch.from_numpy(labels))
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(twin.parameters(), max_norm=0.5)
            optimizer.step()
            losses.append(loss.item())
        scheduler.step()
        twin.eval()
        with torch.no_grad():
            losses.append(torch.nn.functional.cross_entropy(
                twin(torch.from_numpy(x_val)), torch.from_numpy(y_val)).item())
    return losses


@pytest.mark.parametrize("engine", ["scalar", "tensor"])
def test_a_pytorch_style_script_runs_and_matches_torch(engine: str, tmp_path: Path) -> None:
    want = train_torch()
    first_epoch, last_epoch = want[0:2], want[-3:-1]  # per epoch: 2 training losses, 1 val
    assert np.mean(last_epoch) < np.mean(first_epoch), "the reference does not learn"
    straight, _ = train_ours(engine, range(EPOCHS))
    assert_close(f"{engine}: losses against torch's", straight, want, rtol=1e-9, atol=1e-9)

    first, _ = train_ours(engine, range(EPOCHS // 2), state=tmp_path / "run.safetensors")
    nn.manual_seed(123)  # fresh objects with other weights: everything must come from the file
    fresh = SequenceClassifier(engine=engine)
    second, _ = train_ours(engine, range(EPOCHS // 2, EPOCHS), model=fresh,
                           resume=tmp_path / "run.safetensors")
    assert first + second == straight  # bit for bit
