"""Recurrent networks on either engine: read digits row by row, or write like Python's docs.

Two tasks, both on real data that ships with the packages:

- ``--task digits`` (default): each 8x8 digit is read as a *sequence* of 8 rows of 8
  pixels by an Elman RNN (``shared_nn.models.RNNClassifier``), which then names the digit.
- ``--task charlm``: a character-level language model (``shared_nn.models.CharRNN``)
  learns to predict the next character of Python's own documentation
  (``pydoc_data.topics``), then writes a sample.

    python examples/rnn.py                                 # digits, tensor engine
    python examples/rnn.py --task charlm --steps 500       # then prints generated text
    python examples/rnn.py --engine scalar --task charlm   # same code on Value nodes

On the scalar engine the defaults are smaller (the script says which); give both engines
the same options and seed and they print the same losses.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from _cli import (
    ArgumentParser,
    UsageError,
    add_engine_argument,
    add_seed_dtype_arguments,
    format_loss,
    positive_float,
    positive_int,
    resolve_engine,
    run,
)
from _train import fit_classifier
from tqdm import tqdm

import shared_nn
from shared_nn import functional as F
from shared_nn.data import load_digits, pydoc_text
from shared_nn.tokenizer import CharTokenizer

# Defaults per task and engine; the scalar engine's are smaller (every number is a Value).
DEFAULTS = {
    ("digits", "tensor"): dict(hidden=64, epochs=10, lr=1e-2, batch=32, train_size=None),
    ("digits", "scalar"): dict(hidden=16, epochs=3, lr=2e-2, batch=32, train_size=300),
    ("charlm", "tensor"): dict(hidden=128, embed=32, steps=300, lr=1e-2, batch=32, seq_len=48),
    ("charlm", "scalar"): dict(hidden=24, embed=8, steps=20, lr=2e-2, batch=4, seq_len=16),
}
OPTIONS = sorted({name for d in DEFAULTS.values() for name in d})


@dataclass
class History:
    """What the run printed: losses (per epoch for digits, per logged step for charlm),
    test accuracies (digits) and the generated text (charlm)."""

    engine: str
    task: str
    losses: list[float] = field(default_factory=list)
    accuracies: list[float] = field(default_factory=list)
    sample: str = ""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(prog="rnn.py", description=__doc__.split("\n\n")[0])
    add_engine_argument(parser)
    parser.add_argument("--task", choices=("digits", "charlm"), default="digits",
                        help="digits: classify digits read row by row; charlm: char-level "
                        "language model on Python's documentation (default: digits)")
    parser.add_argument("--hidden", type=positive_int, help="RNN hidden size")
    parser.add_argument("--embed", type=positive_int, help="charlm: character embedding size")
    parser.add_argument("--epochs", type=positive_int, help="digits: passes over the data")
    parser.add_argument("--steps", type=positive_int, help="charlm: training steps")
    parser.add_argument("--batch", type=positive_int, help="batch size")
    parser.add_argument("--lr", type=positive_float, help="Adam learning rate")
    parser.add_argument("--train-size", type=positive_int,
                        help="digits: use only the first N (shuffled) training images")
    parser.add_argument("--seq-len", type=positive_int, help="charlm: characters per sequence")
    parser.add_argument("--sample-length", type=int, default=300,
                        help="charlm: characters to generate after training (default 300)")
    parser.add_argument("--prompt", default="The ", help="charlm: text the sample starts from")
    parser.add_argument("--temperature", type=float, default=0.8,
                        help="charlm: sampling temperature, 0 = always the likeliest (default 0.8)")
    add_seed_dtype_arguments(parser)
    args = parser.parse_args(argv)
    args.engine = resolve_engine(args.engine)
    if args.sample_length < 0:
        parser.error(f"--sample-length {args.sample_length} must be >= 0")
    if args.temperature < 0:
        parser.error(f"--temperature {args.temperature} must be >= 0")
    return args


def apply_defaults(args: argparse.Namespace) -> list[str]:
    """Fill unset options from the (task, engine) defaults; returns those filled."""
    filled = []
    defaults = DEFAULTS[(args.task, args.engine)]
    for name in OPTIONS:
        if getattr(args, name) is None and name in defaults:
            setattr(args, name, defaults[name])
            if defaults[name] is not None:
                filled.append(f"--{name.replace('_', '-')} {defaults[name]}")
    return filled


# ----------------------------------------------------------------------- digits, row by row


def train_digits(args: argparse.Namespace, show_progress: bool) -> History:
    """Adam on cross-entropy; prints mean training loss and test accuracy each epoch."""
    data = load_digits(test_fraction=0.2, seed=args.seed)
    x_train = data.x_train.reshape(-1, 8, 8)  # 8 time steps (rows) of 8 features (pixels)
    x_test, y_test = data.x_test.reshape(-1, 8, 8), data.y_test
    y_train = data.y_train
    if args.train_size is not None:
        if args.train_size > len(x_train) and "train_size" not in args.filled_names:
            raise UsageError(f"--train-size {args.train_size} is more than the "
                             f"{len(x_train)} training images")
        x_train, y_train = x_train[: args.train_size], y_train[: args.train_size]
    shared_nn.manual_seed(args.seed)
    model = shared_nn.models.RNNClassifier(8, args.hidden, 10, engine=args.engine,
                                           dtype=args.dtype)
    history = History(args.engine, "digits")
    history.losses, history.accuracies = fit_classifier(
        model, (x_train, y_train), (x_test, y_test), epochs=args.epochs, batch=args.batch,
        lr=args.lr, seed=args.seed, show_progress=show_progress,
    )
    return history


# ------------------------------------------------------------------ char-level language model


def text_batches(ids: np.ndarray, batch: int, seq_len: int, rng: np.random.Generator):
    """Endless random windows: inputs (batch, seq_len) and the same shifted by one."""
    if len(ids) <= seq_len + 1:
        raise UsageError(f"--seq-len {seq_len} is longer than the text ({len(ids)} characters)")
    while True:
        starts = rng.integers(0, len(ids) - seq_len - 1, size=batch)
        windows = np.stack([ids[s : s + seq_len + 1] for s in starts])
        yield windows[:, :-1], windows[:, 1:]


def train_charlm(args: argparse.Namespace, show_progress: bool) -> History:
    """Adam on next-character cross-entropy, logging the mean loss ten times, then a sample."""
    text = pydoc_text()
    vocab = CharTokenizer.from_text(text)
    try:
        prompt_ids = vocab.encode(args.prompt)
    except ValueError as err:
        raise UsageError(f"--prompt: {err}") from None
    if len(prompt_ids) == 0:
        raise UsageError("--prompt must not be empty")
    ids = np.asarray(vocab.encode(text))
    print(f"text: Python's documentation topics, {len(text):,} characters, "
          f"{len(vocab)} distinct")
    shared_nn.manual_seed(args.seed)
    model = shared_nn.models.CharRNN(len(vocab), args.embed, args.hidden, engine=args.engine,
                                     dtype=args.dtype)
    optimizer = shared_nn.optim.Adam(model.parameters(), lr=args.lr)
    batches = text_batches(ids, args.batch, args.seq_len, np.random.default_rng(args.seed))
    history = History(args.engine, "charlm")
    log_every = max(1, args.steps // 10)
    window: list[float] = []
    for step in tqdm(range(1, args.steps + 1), unit="step", leave=False,
                     disable=not show_progress):
        x, y = next(batches)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        window.append(loss.item())
        if step % log_every == 0 or step == args.steps:
            history.losses.append(sum(window) / len(window))
            tqdm.write(f"step {step:5d}/{args.steps}  train loss "
                       f"{format_loss(history.losses[-1])}", file=sys.stdout)
            window = []
    if args.sample_length:
        out = model.sample(prompt_ids, args.sample_length, temperature=args.temperature,
                           seed=args.seed)
        history.sample = vocab.decode(out)
        print(f"\nsample (temperature {args.temperature}):\n{history.sample}")
    return history


def main(argv: Sequence[str] | None = None, show_progress: bool = True) -> History:
    """Parse ``argv`` and train the chosen task; returns what was printed, as numbers."""
    args = parse_args(argv)
    filled = apply_defaults(args)
    args.filled_names = {f.split()[0][2:].replace("-", "_") for f in filled}
    dtype = "float64 (always, on the scalar engine)" if args.engine == "scalar" else args.dtype
    print(f"engine {args.engine}, task {args.task}, hidden {args.hidden}, batch {args.batch}, "
          f"Adam lr {args.lr}, dtype {dtype}, seed {args.seed}")
    tensor_defaults = DEFAULTS[(args.task, "tensor")]
    smaller = [f for f in filled if f.split()[1] != str(tensor_defaults.get(
        f.split()[0][2:].replace("-", "_")))]
    if args.engine == "scalar" and smaller:
        print(f"scalar engine: every number is a Python Value node, so the default run is "
              f"smaller ({', '.join(smaller)}); set these options to change it")
    if args.task == "digits":
        return train_digits(args, show_progress)
    return train_charlm(args, show_progress)


if __name__ == "__main__":
    run(main)
