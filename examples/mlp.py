"""Train an MLP to read handwritten digits, on either engine.

By default the data is scikit-learn's digits (1797 real 8x8 scans that ship inside the
package, standardised, seeded 80/20 train/test split); ``--mnist DIR`` reads the real
28x28 MNIST from its four IDX files instead (download them yourself; nothing is fetched).

    python examples/mlp.py                         # tensor engine, ~97% test accuracy
    python examples/mlp.py --engine scalar         # same code on Value nodes (smaller run)
    python examples/mlp.py --mnist ~/data/mnist --epochs 3

The scalar engine builds one Python object per multiply-add, so its default run is smaller
(a subset of the training images, one narrow hidden layer); the script says so. Pass the
same --hidden/--train-size/--epochs to both engines and they print the same losses.
"""

from __future__ import annotations

import argparse
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
    int_list,
    positive_float,
    positive_int,
    resolve_engine,
    run,
)
from _train import fit_classifier

import shared_nn
from shared_nn.data import Split, load_digits, load_mnist

# Defaults per engine (train/test sizes: None = all). The scalar engine's run is smaller,
# with a larger step size so that its fewer steps still learn the digits.
DEFAULTS = {
    "tensor": dict(hidden=[128, 64], epochs=10, lr=3e-3, train_size=None, test_size=None),
    "scalar": dict(hidden=[16], epochs=8, lr=1e-2, train_size=300, test_size=400),
}


@dataclass
class History:
    """What training printed: mean training loss and test accuracy after each epoch."""

    engine: str
    config: dict[str, Any]
    losses: list[float] = field(default_factory=list)
    accuracies: list[float] = field(default_factory=list)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(prog="mlp.py", description=__doc__.split("\n\n")[0])
    add_engine_argument(parser)
    parser.add_argument("--mnist", type=Path, metavar="DIR",
                        help="train on MNIST read from the IDX files in DIR (raw or .gz)")
    parser.add_argument("--hidden", type=int_list, default=None,
                        help="hidden layer widths, comma-separated (default: 128,64 on the "
                        "tensor engine, 16 on the scalar engine)")
    parser.add_argument("--epochs", type=positive_int, default=None,
                        help="passes over the training set (default: 10 tensor, 8 scalar)")
    parser.add_argument("--batch", type=positive_int, default=32, help="batch size (default 32)")
    parser.add_argument("--lr", type=positive_float, default=None,
                        help="Adam learning rate (default: 3e-3 tensor, 1e-2 scalar)")
    parser.add_argument("--train-size", type=positive_int, default=None,
                        help="use only the first N (shuffled) training images "
                        "(default: all on tensor, at most 300 on scalar)")
    parser.add_argument("--test-size", type=positive_int, default=None,
                        help="evaluate on the first N test images (default: all on tensor, "
                        "at most 400 on scalar)")
    add_seed_dtype_arguments(parser)
    args = parser.parse_args(argv)
    args.engine = resolve_engine(args.engine)
    return args


def apply_engine_defaults(args: argparse.Namespace) -> list[str]:
    """Fill options left unset with the engine's defaults; returns the ones filled.

    A default train/test size is a cap (a smaller data set is used whole); a size the user
    asked for must exist."""
    filled = []
    args.size_is_cap = set()
    for name, value in DEFAULTS[args.engine].items():
        if getattr(args, name) is None and value is not None:
            filled.append(f"--{name.replace('_', '-')} {_show(value)}")
            if name.endswith("_size"):
                args.size_is_cap.add(name)
        if getattr(args, name) is None:
            setattr(args, name, value)
    return filled


def _show(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def load_data(args: argparse.Namespace) -> tuple[Split, str]:
    """The split to train on and its name; bad --mnist paths become one-line errors."""
    if args.mnist is None:
        return load_digits(test_fraction=0.2, seed=args.seed), "scikit-learn digits (8x8)"
    try:
        return load_mnist(args.mnist), f"MNIST from {args.mnist}"
    except (OSError, ValueError) as err:
        raise UsageError(str(err)) from None


def take(
    x: np.ndarray, y: np.ndarray, n: int | None, what: str, cap: bool = False
) -> tuple[np.ndarray, ...]:
    """The first ``n`` examples (all when None); asking for more than there are is a usage
    error, unless ``n`` is only a ``cap``."""
    if n is None or (cap and n >= len(x)):
        return x, y
    if n > len(x):
        raise UsageError(f"--{what}-size {n} is more than the {len(x)} {what} images")
    return x[:n], y[:n]


def train(args: argparse.Namespace, data: Split, show_progress: bool = True) -> History:
    """Adam on cross-entropy; the same seed gives the same weights and batches on both engines."""
    caps = getattr(args, "size_is_cap", set())
    x_train, y_train = take(data.x_train, data.y_train, args.train_size, "train",
                            "train_size" in caps)
    x_test, y_test = take(data.x_test, data.y_test, args.test_size, "test", "test_size" in caps)
    shared_nn.manual_seed(args.seed)
    sizes = [x_train.shape[1], *args.hidden, 10]
    model = shared_nn.models.MLP(sizes, engine=args.engine, dtype=args.dtype)
    history = History(args.engine, {"sizes": sizes, "train": len(x_train), "test": len(x_test)})
    history.losses, history.accuracies = fit_classifier(
        model, (x_train, y_train), (x_test, y_test), epochs=args.epochs, batch=args.batch,
        lr=args.lr, seed=args.seed, show_progress=show_progress,
    )
    return history


def main(argv: Sequence[str] | None = None, show_progress: bool = True) -> History:
    """Parse ``argv``, train, print one line per epoch; returns the history."""
    args = parse_args(argv)
    filled = apply_engine_defaults(args)
    data, name = load_data(args)
    dtype = "float64 (the scalar engine always computes in float64)" \
        if args.engine == "scalar" else args.dtype
    layers = "-".join(map(str, [data.x_train.shape[1], *args.hidden, 10]))
    print(f"engine {args.engine}, data {name}, MLP {layers}, "
          f"Adam lr {args.lr}, batch {args.batch}, dtype {dtype}, seed {args.seed}")
    if args.engine == "scalar" and filled:
        print(f"scalar engine: every number is a Python Value node, so the default run is "
              f"smaller ({', '.join(filled)}); set these options to change it")
    return train(args, data, show_progress)


if __name__ == "__main__":
    run(main)
