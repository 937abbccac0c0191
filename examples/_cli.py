"""Command-line helpers shared by the example scripts.

Every example is ``main(argv) -> results`` plus ``if __name__ == "__main__": run(main)``.
Bad input never ends in a traceback: argument types below reject impossible values,
:class:`ArgumentParser` reports them on one line, and :func:`run` turns a
:class:`UsageError` (a missing data directory, say) into one line on stderr and exit
status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

ENGINES = ("scalar", "tensor")
DTYPES = ("float32", "float64")


class UsageError(Exception):
    """A problem with what the user asked for; :func:`run` prints it on one line."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but an error is one line (``prog: error: ...``) instead of usage + error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def run(main: Callable[[Sequence[str] | None], object], argv: Sequence[str] | None = None) -> None:
    """Call ``main(argv)``; a :class:`UsageError` or Ctrl-C exits with a one-line message."""
    prog = os.path.basename(sys.argv[0])
    try:
        main(argv)
    except UsageError as err:
        sys.stderr.write(f"{prog}: error: {err}\n")
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        sys.stderr.write(f"{prog}: interrupted\n")
        raise SystemExit(130) from None


# ------------------------------------------------------------------ argument types


def positive_int(text: str) -> int:
    """An integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def positive_float(text: str) -> float:
    """A finite float > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be a positive number")
    return value


def int_list(text: str) -> list[int]:
    """A comma-separated list of integers >= 1, e.g. ``8,16,32``."""
    parts = [p for p in text.replace(" ", "").split(",") if p]
    if not parts:
        raise argparse.ArgumentTypeError("expected a comma-separated list such as 8,16,32")
    return [positive_int(p) for p in parts]


# ------------------------------------------------------------------ common options


def add_engine_argument(parser: argparse.ArgumentParser) -> None:
    """``--engine {scalar,tensor}``; without it, ``$DUALGRAD_ENGINE`` or ``tensor``."""
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default=None,
        help="autodiff engine (default: $DUALGRAD_ENGINE, else tensor)",
    )


def add_seed_dtype_arguments(parser: argparse.ArgumentParser) -> None:
    """``--seed`` and ``--dtype`` (float64 by default, so both engines print the same digits)."""
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument(
        "--dtype",
        choices=DTYPES,
        default="float64",
        help="tensor-engine dtype; the scalar engine always computes in float64 "
        "(default: float64)",
    )


def resolve_engine(requested: str | None) -> str:
    """The engine to use: the ``--engine`` value, else ``$DUALGRAD_ENGINE``, else tensor."""
    if requested is not None:
        return requested
    from_env = os.environ.get("DUALGRAD_ENGINE", "").strip().lower()
    if not from_env:
        return "tensor"
    if from_env not in ENGINES:
        raise UsageError(f"DUALGRAD_ENGINE={from_env!r} is not one of {', '.join(ENGINES)}")
    return from_env


def format_loss(value: float) -> str:
    """A loss with 12 significant digits: enough to see two engines agree to ~1e-12."""
    return f"{value:.12g}"
