"""``python -m shared_nn.check model.py:build``: does my model agree on every engine?

Loads the factory ``build`` from ``model.py`` (the part after the colon names it; ``build``
when omitted), makes an input batch, and runs
:func:`shared_nn.testing.assert_engines_agree`: the same seed on each engine, outputs, loss,
every parameter gradient and (``--steps N``) N optimizer steps compared with PyTorch (or the
first engine listed when PyTorch is not installed). Prints the table.

Exit status: 0 when every engine agrees, 1 when one disagrees, 2 for bad input (no such
file or function, a factory or model file that raises, bad option values), with a one-line
message on stderr.

What the model file may define (see docs/checking.md):

* ``build(engine=None, dtype=None)`` (or any name after the colon): returns a shared_nn
  Module. It may also take no arguments; it then runs inside ``use_engine(...)``.
* ``example_input(batch)``: the model's input for a batch of ``batch`` examples, as an
  ndarray (float data, or integer ids), or a pair ``(input, targets)``. A model with several
  inputs returns a tuple as its input: ``((x, mask), targets)``.
* ``loss(output, targets)``: the loss to differentiate (default: cross-entropy for integer
  targets, mean squared error for float targets, a fixed random weighting of the outputs
  without targets).
* ``optimizer(params)``: the optimizer for ``--steps`` (default ``SGD(params, lr=0.1)``).

Without ``example_input`` the input is guessed from the model's first layer: a Linear takes
``(batch, in_features)`` normal floats, an Embedding ``(batch, 8)`` random ids, an RNN
``(batch, 5, input_size)`` floats (time first unless ``batch_first``).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from .engine import ENGINES, engine_available
from .testing import EnginesDisagree, Report, assert_engines_agree

PROG = "python -m shared_nn.check"


class UsageError(Exception):
    """Bad input: reported on one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse would print the usage and exit
        raise UsageError(message)


def _positive(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
    return value


def _engines(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in ENGINES]
    if unknown or len(names) < 2:
        raise argparse.ArgumentTypeError(
            f"expected at least two of {', '.join(ENGINES)} separated by commas, got {text!r}")
    return names


def parser() -> argparse.ArgumentParser:
    """The command's arguments."""
    p = _Parser(prog=PROG, description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    p.add_argument("target", help="path/to/model.py:build (the factory; 'build' if omitted)")
    p.add_argument("--engines", type=_engines, default=None,
                   help="comma-separated engines (default: every installed engine)")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    p.add_argument("--steps", type=lambda t: _positive(t, 0), default=0,
                   help="optimizer steps to compare (default 0: one forward/backward)")
    p.add_argument("--batch", type=lambda t: _positive(t, 1), default=4,
                   help="batch size of the example input (default 4)")
    p.add_argument("--seed", type=lambda t: _positive(t, 0), default=0,
                   help="seed for the weights and the random input (default 0)")
    p.add_argument("--plain", action="store_true", help="plain-text table (no rich)")
    return p


# --------------------------------------------------------------------------- the model file


def load_target(target: str) -> tuple[ModuleType, Any]:
    """Import ``path.py[:function]`` from its path; returns the module and the factory."""
    path_text, name = _split_target(target)
    path = Path(path_text)
    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    spec = importlib.util.spec_from_file_location(f"_dualgrad_check_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot import {path} (not a Python file?)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as an import would: pickling looks classes up there
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)  # the file may import its neighbours
    try:
        spec.loader.exec_module(module)
    except SystemExit as err:  # exit status 0 would tell a CI job that the check passed
        raise UsageError(f"importing {path} called sys.exit({err.code!r}): nothing was "
                         f"checked (guard the script's main code with "
                         f"`if __name__ == \"__main__\":`)") from None
    except Exception as err:
        raise UsageError(f"importing {path} raised {type(err).__name__}: {err}") from None
    factory = getattr(module, name, None)
    if not callable(factory):
        raise UsageError(f"{path} defines no function {name!r}")
    return module, factory


def _split_target(target: str) -> tuple[str, str]:
    """``"model.py:make"`` -> ("model.py", "make"); without a function part (or with a
    Windows drive letter only) the function is ``build``."""
    path, sep, name = target.rpartition(":")
    if sep and name.isidentifier():
        return path, name
    if sep and not name:
        return path, "build"
    return target, "build"


def example_batch(module: ModuleType, build: Any, batch: int, seed: int) -> tuple[Any, Any]:
    """(input, targets) from the file's ``example_input(batch)``, else guessed."""
    make = getattr(module, "example_input", None)
    if make is None:
        return _guess_input(build, batch, seed), None
    try:
        made = make(batch)
    except Exception as err:
        raise UsageError(f"example_input({batch}) raised {type(err).__name__}: {err}") from None
    if isinstance(made, tuple) and len(made) == 2:
        return made
    return made, None


def _guess_input(build: Any, batch: int, seed: int) -> Any:
    """A random batch for the model's first layer (Linear, Embedding or RNN)."""
    from .layers import RNN, Embedding, Linear
    from .testing import _build

    model, _ = _build(build, "tensor", np.dtype(np.float64), seed)
    rng = np.random.default_rng(seed)
    for _, layer in model.named_modules():
        if isinstance(layer, Linear):
            return rng.standard_normal((batch, layer.in_features))
        if isinstance(layer, Embedding):
            return rng.integers(0, layer.num_embeddings, (batch, 8))
        if isinstance(layer, RNN):
            shape = (batch, 5) if layer.batch_first else (5, batch)
            return rng.standard_normal((*shape, layer.input_size))
    raise UsageError(f"cannot guess an input for {type(model).__name__} (its first layer is "
                     "not a Linear, Embedding or RNN): define example_input(batch) in the "
                     "model file")


# --------------------------------------------------------------------------- running


def run(args: argparse.Namespace) -> Report:
    """Load the model named by the parsed ``args`` and compare it on every engine; raises
    UsageError or EnginesDisagree."""
    engines = args.engines or [e for e in ENGINES if engine_available(e)]
    missing = [e for e in engines if not engine_available(e)]
    if missing:
        raise UsageError(f"engine {missing[0]!r} is not installed "
                         '(the torch engine needs: pip install "dualgrad[torch]")')
    module, build = load_target(args.target)
    try:
        inputs, targets = example_batch(module, build, args.batch, args.seed)
        return assert_engines_agree(
            build, inputs, targets=targets, loss=getattr(module, "loss", None),
            engines=engines, dtype=args.dtype, steps=args.steps,
            optimizer=getattr(module, "optimizer", None), seed=args.seed)
    except (UsageError, EnginesDisagree):
        raise
    except Exception as err:  # the user's factory, input or model raised
        raise UsageError(f"{args.target}: {type(err).__name__}: {err}") from None


def _print(report: Report, plain: bool) -> None:
    print(report.headline())
    if plain:
        print(report.plain_table())
        return
    try:
        from rich.console import Console
    except ImportError:
        print(report.plain_table())
        return
    console = Console() if sys.stdout.isatty() else Console(width=160)  # no wrapping in pipes
    console.print(report.rich_table())


def main(argv: Sequence[str] | None = None) -> int:
    """The command: 0 when the engines agree, 1 when they do not, 2 for bad input."""
    try:
        args = parser().parse_args(argv)
        report = run(args)
    except UsageError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    except EnginesDisagree as err:
        _print(err.report, args.plain)
        return 1
    _print(report, args.plain)
    return 0


if __name__ == "__main__":
    sys.exit(main())
