"""Train an MLP to read handwritten digits, on either engine.

By default the data is scikit-learn's digits (1797 real 8x8 scans that ship inside the
package, standardised, seeded 80/20 train/test split); ``--mnist DIR`` reads the real
28x28 MNIST from its four IDX files instead (download them yourself; nothing is fetched).

    python examples/mlp.py                         # tensor engine, ~97% test accuracy
    python examples/mlp.py --engine scalar         # same code on Value nodes (smaller run)
    python examples/mlp.py --mnist ~/data/mnist --epochs 3
    python examples/mlp.py --plots pictures/        # or --no-plots

It saves two pictures, under the current folder by default: ``out/mlp/curves.png`` (the
training loss and the test accuracy after each epoch) and ``out/mlp/misclassified.png``
(test digits the trained model got wrong, each titled true -> predicted).

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
    add_threads_argument,
    banner,
    blas_threads,
    float_in,
    int_in,
    int_list,
    readable_dir,
    resolve_engine,
    run,
)
from _plots import (
    Panel,
    add_plot_arguments,
    display_pixels,
    epochs,
    plot_paths,
    report,
    save_curves,
    save_misclassified,
)
from _train import fit_classifier, predict

import shared_nn
from shared_nn.data import Split, load_digits, load_mnist

# Defaults per engine (train/test sizes: None = all). The scalar engine's run is smaller,
# with a larger step size so that its fewer steps still learn the digits.
DEFAULTS = {
    "tensor": dict(hidden=[128, 64], epochs=10, lr=3e-3, train_size=None, test_size=None),
    "scalar": dict(hidden=[16], epochs=8, lr=1e-2, train_size=300, test_size=400),
}
# Upper bounds that catch typos before they allocate gigabytes or run for days.
MAX_WIDTH, MAX_EPOCHS, MAX_BATCH, MAX_EXAMPLES = 8192, 100_000, 1 << 20, 10**9
PLOTS = ("curves.png", "misclassified.png")  # written to --plots (default out/mlp)


@dataclass
class History:
    """What training printed: mean training loss and test accuracy after each epoch; the
    final model's class for each test image, and the pictures saved."""

    engine: str
    config: dict[str, Any]
    losses: list[float] = field(default_factory=list)
    accuracies: list[float] = field(default_factory=list)
    predicted: Any = None
    plots: list[Path] = field(default_factory=list)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The options, each checked for type and range; also ``$DUALGRAD_ENGINE``."""
    parser = ArgumentParser(prog="mlp.py", description=__doc__.split("\n\n")[0])
    add_engine_argument(parser)
    parser.add_argument("--mnist", type=readable_dir, metavar="DIR",
                        help="train on MNIST read from the IDX files in DIR (raw or .gz)")
    parser.add_argument("--hidden", type=int_list(MAX_WIDTH), default=None,
                        help="hidden layer widths, comma-separated (default: 128,64 on the "
                        "tensor engine, 16 on the scalar engine)")
    parser.add_argument("--epochs", type=int_in(1, MAX_EPOCHS), default=None,
                        help="passes over the training set (default: 10 tensor, 8 scalar)")
    parser.add_argument("--batch", type=int_in(1, MAX_BATCH), default=32,
                        help="batch size (default 32)")
    parser.add_argument("--lr", type=float_in(0.0, 1.0, low_open=True), default=None,
                        help="Adam learning rate, at most 1 (default: 3e-3 tensor, 1e-2 scalar)")
    parser.add_argument("--train-size", type=int_in(1, MAX_EXAMPLES), default=None,
                        help="use only the first N (shuffled) training images "
                        "(default: all on tensor, at most 300 on scalar)")
    parser.add_argument("--test-size", type=int_in(1, MAX_EXAMPLES), default=None,
                        help="evaluate on the first N test images (default: all on tensor, "
                        "at most 400 on scalar)")
    add_seed_dtype_arguments(parser)
    add_threads_argument(parser)
    add_plot_arguments(parser, "out/mlp")
    args = parser.parse_args(argv)
    args.engine = resolve_engine(args.engine)
    args.plot_paths = plot_paths(parser, args, PLOTS)
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
    """The split to train on and its name. A bad MNIST file is the library's ValueError,
    which names the file; an empty data set is refused here."""
    if args.mnist is None:
        return load_digits(test_fraction=0.2, seed=args.seed), "scikit-learn digits (8x8)"
    data = load_mnist(args.mnist)
    if len(data.x_train) == 0 or len(data.x_test) == 0 or data.x_train.shape[1] == 0:
        raise UsageError(f"{args.mnist}: the MNIST files hold no images "
                         f"({len(data.x_train)} training, {len(data.x_test)} test, "
                         f"{data.x_train.shape[1]} pixels each)")
    return data, f"MNIST from {args.mnist}"


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


def select(args: argparse.Namespace, data: Split) -> Split:
    """``data`` cut to --train-size / --test-size (checked against what there is)."""
    caps = getattr(args, "size_is_cap", set())
    x_train, y_train = take(data.x_train, data.y_train, args.train_size, "train",
                            "train_size" in caps)
    x_test, y_test = take(data.x_test, data.y_test, args.test_size, "test", "test_size" in caps)
    return Split(x_train, y_train, x_test, y_test)


def train(args: argparse.Namespace, data: Split, show_progress: bool = True) -> History:
    """Adam on cross-entropy; the same seed gives the same weights and batches on both engines."""
    shared_nn.manual_seed(args.seed)
    sizes = [data.x_train.shape[1], *args.hidden, 10]
    model = shared_nn.models.MLP(sizes, engine=args.engine, dtype=args.dtype)
    history = History(args.engine, {"sizes": sizes, "train": len(data.x_train),
                                    "test": len(data.x_test)})
    history.losses, history.accuracies = fit_classifier(
        model, (data.x_train, data.y_train), (data.x_test, data.y_test), epochs=args.epochs,
        batch=args.batch, lr=args.lr, seed=args.seed, show_progress=show_progress,
    )
    history.predicted = predict(model, data.x_test)
    return history


def save_plots(paths: dict[str, Path], history: History, data: Split, name: str) -> list[Path]:
    """The learning curves and the misclassified test digits, to ``paths``."""
    if not paths:
        return []
    layers = "-".join(map(str, history.config["sizes"]))
    title = f"MLP {layers} on {name}, {history.engine} engine"
    curves = save_curves(paths["curves.png"], [
        Panel("mean training loss", {"train": epochs(history.losses)}),
        Panel("test accuracy", {"test": epochs(history.accuracies)}, percent=True),
    ], title)
    images = display_pixels(data.x_test, data.x_train)
    wrong = save_misclassified(paths["misclassified.png"], images, data.y_test,
                               history.predicted, f"MLP {layers}")
    return [curves, wrong]


def main(argv: Sequence[str] | None = None, show_progress: bool = True) -> History:
    """Parse and check ``argv`` and the data, then train, printing one line per epoch."""
    args = parse_args(argv)
    filled = apply_engine_defaults(args)
    with blas_threads(args.threads) as blas:
        data, name = load_data(args)
        data = select(args, data)
        print(banner(args.engine, blas))
        dtype = "float64 (the scalar engine always computes in float64)" \
            if args.engine == "scalar" else args.dtype
        layers = "-".join(map(str, [data.x_train.shape[1], *args.hidden, 10]))
        print(f"data {name}, MLP {layers}, Adam lr {args.lr}, batch {args.batch}, "
              f"dtype {dtype}, seed {args.seed}")
        if args.engine == "scalar" and filled:
            print(f"scalar engine: every number is a Python Value node, so the default run is "
                  f"smaller ({', '.join(filled)}); set these options to change it")
        history = train(args, data, show_progress)
        history.plots = save_plots(args.plot_paths, history, data, name)
        report(history.plots)
        return history


if __name__ == "__main__":
    run(main)
