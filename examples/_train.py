"""The classifier training loop shared by the example scripts (MLP and RNN on the digits).

Everything that decides the numbers is seeded: the caller seeds the weights with
``shared_nn.manual_seed``, and the batch order comes from ``seed`` here, so the same call
on the scalar and the tensor engine prints the same losses.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
from _cli import format_loss, require_finite
from tqdm import tqdm

import shared_nn
from shared_nn import functional as F
from shared_nn.data import minibatches


def predict(model: Any, x: np.ndarray, batch: int = 256) -> np.ndarray:
    """The class ``model`` picks for each row of ``x`` (argmax of the logits), without
    recording a graph."""
    with shared_nn.get_engine(model.engine).no_grad():
        parts = [model(x[start : start + batch]).numpy().argmax(axis=1)
                 for start in range(0, len(x), batch)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def accuracy(model: Any, x: np.ndarray, y: np.ndarray, batch: int = 256) -> float:
    """Fraction of ``x`` classified as ``y``, without recording a graph."""
    return int((predict(model, x, batch) == y).sum()) / len(x)


def fit_classifier(
    model: Any,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    *,
    epochs: int,
    batch: int,
    lr: float,
    seed: int,
    show_progress: bool = True,
) -> tuple[list[float], list[float]]:
    """Adam on cross-entropy over shuffled minibatches, printing one line per epoch.

    Returns the mean training loss and the test accuracy after each epoch. A NaN or
    infinite loss stops training with a :class:`_cli.UsageError` (the learning rate is
    too large), instead of printing NaN for the epochs left.
    """
    (x_train, y_train), (x_test, y_test) = train, test
    optimizer = shared_nn.optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    losses: list[float] = []
    accuracies: list[float] = []
    steps = epochs * -(-len(x_train) // batch)
    step = 0
    with tqdm(total=steps, unit="step", leave=False, disable=not show_progress) as bar:
        for epoch in range(1, epochs + 1):
            total = 0.0
            for idx in minibatches(len(x_train), batch, rng):
                optimizer.zero_grad()
                loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
                loss.backward()
                optimizer.step()
                step += 1
                total += require_finite(loss.item(), step) * len(idx)
                bar.set_description(f"epoch {epoch}/{epochs}", refresh=False)
                bar.update()
            losses.append(total / len(x_train))
            accuracies.append(accuracy(model, x_test, y_test))
            bar.write(f"epoch {epoch:3d}/{epochs}  train loss {format_loss(losses[-1])}"
                      f"  test accuracy {100 * accuracies[-1]:.2f}%", file=sys.stdout)
    return losses, accuracies
