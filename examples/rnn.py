"""Recurrent networks on either engine: read digits row by row, or write like Python's docs.

Two tasks, both on real data that ships with the packages:

- ``--task digits`` (default): each 8x8 digit is read as a *sequence* of 8 rows of 8
  pixels by an Elman RNN (``shared_nn.models.RNNClassifier``), which then names the digit.
- ``--task charlm``: a character-level language model (``shared_nn.models.CharRNN``)
  learns to predict the next character of Python's own documentation
  (``pydoc_data.topics``), then writes a sample. ``--cell lstm`` or ``--cell gru`` swaps the
  Elman cell for torch's LSTM or GRU.

    python examples/rnn.py                                 # digits, tensor engine
    python examples/rnn.py --task charlm --steps 500       # then prints generated text
    python examples/rnn.py --task charlm --cell lstm       # the same with an LSTM
    python examples/rnn.py --engine scalar --task charlm   # same code on Value nodes

On the scalar engine the defaults are smaller (the script says which); give both engines
the same options and seed and they print the same losses.

It saves its learning curves, under the current folder by default (``--plots DIR`` to
choose the folder, ``--no-plots`` for none): ``out/rnn/digits_curves.png`` (training loss
and test accuracy per epoch) or ``out/rnn/charlm_loss.png`` (the logged training loss).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from _cli import (
    ArgumentParser,
    UsageError,
    add_engine_argument,
    add_seed_dtype_arguments,
    add_threads_argument,
    banner,
    blas_threads,
    float_in,
    format_loss,
    int_in,
    prompt,
    require_finite,
    resolve_engine,
    run,
    temperature,
)
from _plots import Panel, add_plot_arguments, epochs, plot_paths, report, save_curves
from _train import fit_classifier
from tqdm import tqdm

import shared_nn
from shared_nn import functional as F
from shared_nn.data import load_digits, pydoc_text
from shared_nn.tokenizer import CharTokenizer

# Defaults per task and engine; the scalar engine's are smaller (every number is a Value).
SAMPLING = dict(sample_length=300, prompt="The ", temperature=0.8)
DEFAULTS = {
    ("digits", "tensor"): dict(hidden=64, epochs=10, lr=1e-2, batch=32, train_size=None),
    ("digits", "scalar"): dict(hidden=16, epochs=3, lr=2e-2, batch=32, train_size=300),
    ("charlm", "tensor"): dict(hidden=128, embed=32, steps=300, lr=1e-2, batch=32, seq_len=48,
                               cell="rnn", **SAMPLING),
    ("charlm", "scalar"): dict(hidden=24, embed=8, steps=20, lr=2e-2, batch=4, seq_len=16,
                               cell="rnn", **SAMPLING),
}
OPTIONS = sorted({name for d in DEFAULTS.values() for name in d})
TASK_OPTIONS = {task: set(DEFAULTS[(task, "tensor")]) for task in ("digits", "charlm")}
# Upper bounds that catch typos before they allocate gigabytes or run for days.
MAX_WIDTH, MAX_EPOCHS, MAX_STEPS, MAX_BATCH = 8192, 100_000, 10**7, 1 << 16
MAX_SEQ_LEN, MAX_SAMPLE = 10_000, 100_000
PLOTS = {"digits": "digits_curves.png", "charlm": "charlm_loss.png"}  # in --plots


@dataclass
class History:
    """What the run printed: losses (per epoch for digits, per logged step for charlm, at
    ``steps``), test accuracies (digits), the generated text (charlm), the pictures saved."""

    engine: str
    task: str
    losses: list[float] = field(default_factory=list)
    accuracies: list[float] = field(default_factory=list)
    sample: str = ""
    steps: list[int] = field(default_factory=list)
    plots: list[Path] = field(default_factory=list)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The options, each checked for type and range; also ``$DUALGRAD_ENGINE``."""
    parser = ArgumentParser(prog="rnn.py", description=__doc__.split("\n\n")[0])
    add_engine_argument(parser)
    parser.add_argument("--task", choices=("digits", "charlm"), default="digits",
                        help="digits: classify digits read row by row; charlm: char-level "
                        "language model on Python's documentation (default: digits)")
    parser.add_argument("--hidden", type=int_in(1, MAX_WIDTH), help="RNN hidden size")
    parser.add_argument("--cell", choices=("rnn", "lstm", "gru"),
                        help="charlm: the recurrent cell (default rnn; torch's LSTM / GRU)")
    parser.add_argument("--embed", type=int_in(1, MAX_WIDTH),
                        help="charlm: character embedding size")
    parser.add_argument("--epochs", type=int_in(1, MAX_EPOCHS),
                        help="digits: passes over the data")
    parser.add_argument("--steps", type=int_in(1, MAX_STEPS), help="charlm: training steps")
    parser.add_argument("--batch", type=int_in(1, MAX_BATCH), help="batch size")
    parser.add_argument("--lr", type=float_in(0.0, 1.0, low_open=True),
                        help="Adam learning rate, at most 1")
    parser.add_argument("--train-size", type=int_in(1, 10**9),
                        help="digits: use only the first N (shuffled) training images")
    parser.add_argument("--seq-len", type=int_in(1, MAX_SEQ_LEN),
                        help="charlm: characters per sequence")
    parser.add_argument("--sample-length", type=int_in(0, MAX_SAMPLE),
                        help="charlm: characters to generate after training (default 300)")
    parser.add_argument("--prompt", type=prompt,
                        help="charlm: text the sample starts from (default: 'The ')")
    parser.add_argument("--temperature", type=temperature,
                        help="charlm: sampling temperature, 0 = always the likeliest (default 0.8)")
    add_seed_dtype_arguments(parser)
    add_threads_argument(parser)
    add_plot_arguments(parser, "out/rnn")
    args = parser.parse_args(argv)
    args.engine = resolve_engine(args.engine)
    other_task = "charlm" if args.task == "digits" else "digits"
    other = [f"--{name.replace('_', '-')}" for name in OPTIONS
             if getattr(args, name) is not None and name not in TASK_OPTIONS[args.task]]
    if other:
        parser.error(f"{', '.join(other)}: only for --task {other_task} "
                     f"(this run is --task {args.task})")
    args.plot_paths = plot_paths(parser, args, [PLOTS[args.task]])
    return args


def apply_defaults(args: argparse.Namespace) -> list[str]:
    """Fill unset options from the (task, engine) defaults; returns those filled
    that differ from the tensor engine's (the scalar engine's smaller run)."""
    filled = []
    defaults = DEFAULTS[(args.task, args.engine)]
    tensor_defaults = DEFAULTS[(args.task, "tensor")]
    args.filled_names = set()
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
            args.filled_names.add(name)
            if value is not None and value != tensor_defaults[name]:
                filled.append(f"--{name.replace('_', '-')} {value}")
    return filled


# ----------------------------------------------------------------------- digits, row by row


def prepare_digits(args: argparse.Namespace) -> tuple[np.ndarray, ...]:
    """(x_train, y_train, x_test, y_test): each 8x8 digit as 8 time steps of 8 pixels."""
    data = load_digits(test_fraction=0.2, seed=args.seed)
    x_train, y_train = data.x_train.reshape(-1, 8, 8), data.y_train
    if args.train_size is not None:
        if args.train_size > len(x_train) and "train_size" not in args.filled_names:
            raise UsageError(f"--train-size {args.train_size} is more than the "
                             f"{len(x_train)} training images")
        x_train, y_train = x_train[: args.train_size], y_train[: args.train_size]
    return x_train, y_train, data.x_test.reshape(-1, 8, 8), data.y_test


def train_digits(args: argparse.Namespace, data: tuple[np.ndarray, ...],
                 show_progress: bool) -> History:
    """Adam on cross-entropy; prints mean training loss and test accuracy each epoch."""
    x_train, y_train, x_test, y_test = data
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


@dataclass
class Corpus:
    """Python's documentation as character ids, and the prompt's ids in the same vocabulary."""

    vocab: CharTokenizer
    ids: np.ndarray
    prompt_ids: list[int]
    characters: int


def prepare_charlm(args: argparse.Namespace) -> Corpus:
    """The text and the prompt, checked against each other and against --seq-len."""
    text = pydoc_text()
    vocab = CharTokenizer.from_text(text)
    try:
        prompt_ids = vocab.encode(args.prompt)
    except ValueError as err:
        raise UsageError(f"--prompt: {err}") from None
    if len(text) <= args.seq_len + 1:
        raise UsageError(f"--seq-len {args.seq_len} is longer than the text "
                         f"({len(text)} characters)")
    return Corpus(vocab, np.asarray(vocab.encode(text)), prompt_ids, len(text))


def text_batches(ids: np.ndarray, batch: int, seq_len: int, rng: np.random.Generator):
    """Endless random windows: inputs (batch, seq_len) and the same shifted by one."""
    while True:
        starts = rng.integers(0, len(ids) - seq_len - 1, size=batch)
        windows = np.stack([ids[s : s + seq_len + 1] for s in starts])
        yield windows[:, :-1], windows[:, 1:]


def train_charlm(args: argparse.Namespace, corpus: Corpus, show_progress: bool) -> History:
    """Adam on next-character cross-entropy, logging the mean loss ten times, then a sample."""
    print(f"text: Python's documentation topics, {corpus.characters:,} characters, "
          f"{len(corpus.vocab)} distinct")
    shared_nn.manual_seed(args.seed)
    model = shared_nn.models.CharRNN(len(corpus.vocab), args.embed, args.hidden,
                                     engine=args.engine, dtype=args.dtype, cell=args.cell)
    optimizer = shared_nn.optim.Adam(model.parameters(), lr=args.lr)
    batches = text_batches(corpus.ids, args.batch, args.seq_len,
                           np.random.default_rng(args.seed))
    history = History(args.engine, "charlm")
    log_every = max(1, args.steps // 10)
    window: list[float] = []
    for step in tqdm(range(1, args.steps + 1), unit="step", leave=False,
                     disable=not show_progress):
        x, y = next(batches)
        optimizer.zero_grad()
        logits = model(x)  # (batch, seq_len, vocab): one row per character, as torch wants
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        loss.backward()
        optimizer.step()
        window.append(require_finite(loss.item(), step))
        if step % log_every == 0 or step == args.steps:
            history.losses.append(sum(window) / len(window))
            history.steps.append(step)
            tqdm.write(f"step {step:5d}/{args.steps}  train loss "
                       f"{format_loss(history.losses[-1])}", file=sys.stdout)
            window = []
    if args.sample_length:
        out = model.sample(corpus.prompt_ids, args.sample_length,
                           temperature=args.temperature, seed=args.seed)
        history.sample = corpus.vocab.decode(out)
        print(f"\nsample (temperature {args.temperature}):\n{history.sample}")
    return history


def main(argv: Sequence[str] | None = None, show_progress: bool = True) -> History:
    """Parse and check ``argv`` and the data, then train the chosen task; returns what
    was printed, as numbers."""
    args = parse_args(argv)
    smaller = apply_defaults(args)
    with blas_threads(args.threads) as blas:
        data: Any = prepare_digits(args) if args.task == "digits" else prepare_charlm(args)
        print(banner(args.engine, blas))
        dtype = "float64 (always, on the scalar engine)" if args.engine == "scalar" \
            else args.dtype
        cell = f", cell {args.cell}" if args.task == "charlm" else ""
        print(f"task {args.task}{cell}, hidden {args.hidden}, batch {args.batch}, "
              f"Adam lr {args.lr}, dtype {dtype}, seed {args.seed}")
        if args.engine == "scalar" and smaller:
            print(f"scalar engine: every number is a Python Value node, so the default run is "
                  f"smaller ({', '.join(smaller)}); set these options to change it")
        train = train_digits if args.task == "digits" else train_charlm
        history = train(args, data, show_progress)
        history.plots = save_plots(args, history)
        report(history.plots)
        return history


def save_plots(args: argparse.Namespace, history: History) -> list[Path]:
    """The learning curves of the run, to the path :func:`parse_args` checked."""
    if not args.plot_paths:
        return []
    (path,) = args.plot_paths.values()
    if history.task == "digits":
        title = f"RNN (hidden {args.hidden}) reading digits row by row, {history.engine} engine"
        panels = [Panel("mean training loss", {"train": epochs(history.losses)}),
                  Panel("test accuracy", {"test": epochs(history.accuracies)}, percent=True)]
    else:
        title = (f"character-level {args.cell.upper()} (hidden {args.hidden}) on Python's "
                 f"docs, {history.engine} engine")
        mean = f"train (mean of each {max(1, args.steps // 10)} steps)"
        panels = [Panel("cross-entropy (nats per character)",
                        {mean: (history.steps, history.losses)}, xlabel="step")]
    return [save_curves(path, panels, title)]


if __name__ == "__main__":
    run(main)
