"""Command-line helpers shared by the example scripts: one implementation of every check.

Every example is ``main(argv) -> results`` plus ``if __name__ == "__main__": run(main)``,
and follows one rule: **all** input is checked before any work starts, and every problem a
user can cause ends as one line on stderr with exit status 2, never a traceback.

- The argument types below (:func:`positive_int`, :func:`finite_float`, :func:`seed`,
  :func:`writable_file`, :func:`readable_dir` ...) reject impossible values while argparse
  parses, and :class:`ArgumentParser` reports them on one line.
- Checks that need several options at once, or a file's contents, raise
  :class:`UsageError`.
- :func:`run` turns a :class:`UsageError`, and the ``ValueError`` / ``TypeError`` /
  ``OSError`` / ``KeyError`` / ``MemoryError`` the library raises for a bad file or an
  impossible size, into one line ``prog: error: ...`` and exit status 2; Ctrl-C exits
  with status 130 and a one-line note.

The scripts also share two conventions: ``--engine`` (else ``$DUALGRAD_ENGINE``, else
tensor) and ``--threads`` (BLAS threads, 1 by default: on a shared machine, threads that
wait for each other's cores are much slower than one thread; see :func:`blas_threads`).
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

ENGINES = ("scalar", "tensor")
DTYPES = ("float32", "float64")
SEED_MAX = 2**32 - 1  # numpy's and PyTorch's classic seed range
MIN_TEMPERATURE = 1e-3  # logits / a smaller temperature can overflow to inf (then NaN)
MAX_PROMPT = 10_000  # characters: the RNN reads a prompt one step per character
MAX_MESSAGE = 600  # characters of an error message (a checkpoint can list 100s of keys)
PACKAGES = ("shared_nn", "scalar_engine", "tensor_engine")  # never written to
BLAS_NAMES = {"openblas": "OpenBLAS", "mkl": "MKL", "blis": "BLIS", "flexiblas": "FlexiBLAS"}


class UsageError(Exception):
    """A problem with what the user asked for; :func:`run` prints it on one line."""


def one_line(text: str) -> str:
    """``text`` as a single line: newlines escaped, whitespace collapsed, length capped."""
    flat = " ".join(text.replace("\r", "\\r").replace("\n", "\\n").split())
    return flat if len(flat) <= MAX_MESSAGE else flat[: MAX_MESSAGE - 3] + "..."


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but an error is one line (``prog: error: ...``) instead of usage + error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see --help)\n")


# ------------------------------------------------------------------------------ running


def describe_error(err: BaseException) -> str:
    """What went wrong, for a user: the message, or for a bare KeyError the missing key."""
    if isinstance(err, KeyError) and len(err.args) == 1:
        return f"missing entry {err.args[0]!r}"
    if isinstance(err, MemoryError):
        return f"out of memory{f' ({err})' if str(err) else ''}: choose smaller sizes"
    text = str(err) or type(err).__name__
    if isinstance(err, OSError) and err.filename is not None and str(err.filename) not in text:
        text = f"{err.filename}: {text}"
    return text


def run(main: Callable[[Sequence[str] | None], object], argv: Sequence[str] | None = None) -> None:
    """Call ``main(argv)``; anything the user can cause exits with one line on stderr.

    Exit status 2 for bad input (a :class:`UsageError`, or the library's ``ValueError``,
    ``TypeError``, ``OSError``, ``KeyError`` or ``MemoryError`` about a file or a size),
    130 for Ctrl-C; a closed pipe (``| head``) ends quietly."""
    prog = os.path.basename(sys.argv[0])
    try:
        main(argv)
        sys.stdout.flush()  # a closed pipe shows here, not after exit as "Exception ignored"
    except BrokenPipeError:
        _silence_stdout()
        raise SystemExit(141) from None
    except KeyboardInterrupt:
        fresh_line = "\n" if sys.stderr.isatty() else ""  # after a progress bar's \r
        sys.stderr.write(f"{fresh_line}{prog}: interrupted\n")
        raise SystemExit(130) from None
    except (UsageError, ValueError, TypeError, OSError, KeyError, MemoryError) as err:
        sys.stderr.write(f"{prog}: error: {one_line(describe_error(err))}\n")
        raise SystemExit(2) from None


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so flushing at exit does not fail a second time."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


# -------------------------------------------------------------------- number argument types


def _parse_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:  # also Python's limit on 4300+ digit strings
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise argparse.ArgumentTypeError(f"{shown!r} is not an integer") from None


def _parse_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise argparse.ArgumentTypeError(f"{shown!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text} is not a finite number")
    return value


def int_in(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argument type: an integer in ``[low, high]`` (no upper bound when ``high`` is None).

    An upper bound keeps a typo such as ``--hidden 1000000`` from trying to allocate
    terabytes; the message says what the range is."""

    def parse(text: str) -> int:
        value = _parse_int(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} must be at least {low}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"{value} is too large (at most {high:,})")
        return value

    parse.__name__ = "integer"  # argparse names the type in some messages
    return parse


def float_in(
    low: float, high: float = math.inf, *, low_open: bool = False
) -> Callable[[str], float]:
    """An argument type: a finite float in ``[low, high]`` (``(low, high]`` if ``low_open``).

    NaN and infinities are always rejected: a NaN learning rate trains to NaN weights."""

    def parse(text: str) -> float:
        value = _parse_float(text)
        if value < low or (low_open and value == low):
            relation = "greater than" if low_open else "at least"
            raise argparse.ArgumentTypeError(f"{text} must be {relation} {low:g}")
        if value > high:
            raise argparse.ArgumentTypeError(f"{text} is too large (at most {high:g})")
        return value

    parse.__name__ = "number"
    return parse


positive_int = int_in(1)
positive_int.__doc__ = "An integer >= 1."
non_negative_int = int_in(0)
positive_float = float_in(0.0, low_open=True)
positive_float.__doc__ = "A finite float > 0."
non_negative_float = float_in(0.0)
finite_float = float_in(-math.inf)
seed = int_in(0, SEED_MAX)
seed.__doc__ = f"A random seed: an integer from 0 to {SEED_MAX}."


def temperature(text: str) -> float:
    """A sampling temperature: 0 (always the likeliest token) or a finite number >= 0.001."""
    value = non_negative_float(text)
    if 0.0 < value < MIN_TEMPERATURE:
        raise argparse.ArgumentTypeError(
            f"{text} is too small: use 0 for greedy sampling, or at least {MIN_TEMPERATURE:g}")
    return value


def prompt(text: str) -> str:
    """A prompt to continue: at least one character, at most ``MAX_PROMPT``."""
    if not text:
        raise argparse.ArgumentTypeError("the prompt is empty: give at least one character")
    if len(text) > MAX_PROMPT:
        raise argparse.ArgumentTypeError(
            f"{len(text):,} characters is too long (at most {MAX_PROMPT:,})")
    return text


def int_list(high: int | None = None) -> Callable[[str], list[int]]:
    """An argument type: a comma-separated list of integers in ``[1, high]``, e.g. ``8,16,32``."""
    item = int_in(1, high)

    def parse(text: str) -> list[int]:
        parts = text.replace(" ", "").split(",")
        if not text.strip() or "" in parts:  # "4,,8" or "8,": a missing number, not a skip
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of numbers such "
                                             f"as 8,16,32, got {text!r} (an entry is empty)")
        return [item(p) for p in parts]

    parse.__name__ = "list"
    return parse


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def threads(text: str) -> int:
    """A BLAS thread count: 1 up to the number of CPUs this process may use."""
    value = _parse_int(text)
    cpus = available_cpus()
    if not 1 <= value <= cpus:
        raise argparse.ArgumentTypeError(
            f"{value} must be from 1 to {cpus} (the CPUs this process may use)")
    return value


# ---------------------------------------------------------------------- path argument types


def _path(text: str) -> Path:
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path")
    if "\0" in text:
        raise argparse.ArgumentTypeError("a path cannot contain a NUL character")
    return Path(text).expanduser()


def readable_dir(text: str) -> Path:
    """An existing folder whose entries can be listed and read."""
    path = _path(text)
    check_not_dangling(path)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{path}: folder not found")
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} is not a folder")
    if not os.access(path, os.R_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{path}: permission denied")
    return path


def readable_file(text: str) -> Path:
    """An existing regular file that can be read."""
    path = _path(text)
    check_readable_file(path)
    return path


def check_readable_file(path: Path, what: str = "") -> None:
    """Raise ``ArgumentTypeError`` unless ``path`` is a readable regular file."""
    label = f"{what} {path}".strip()
    check_not_dangling(path, f"{what} ".lstrip())
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{label}: file not found")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{label} is not a regular file")
    if not os.access(path, os.R_OK):
        raise argparse.ArgumentTypeError(f"{label}: permission denied")


def package_dirs() -> list[Path]:
    """The folders of dualgrad's installed packages (found without importing them)."""
    dirs = []
    for name in PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            dirs.extend(Path(p).resolve() for p in spec.submodule_search_locations)
    return dirs


def check_outside_packages(path: Path) -> None:
    """Refuse a path inside an installed dualgrad package (e.g. the shipped model's folder)."""
    real = Path(os.path.realpath(path))  # unlike Path.resolve, never raises on a link loop
    for package in package_dirs():
        if real == package or package in real.parents:
            raise argparse.ArgumentTypeError(
                f"{path} is inside the installed package {package}; write somewhere else "
                "(and copy the files in by hand if you mean to replace what ships)")


def check_not_dangling(path: Path, doing: str = "") -> None:
    """Refuse a symbolic link that leads nowhere (or round in a loop)."""
    if path.is_symlink() and not path.exists():
        raise argparse.ArgumentTypeError(
            f"{doing}{path} is a symbolic link that leads nowhere (or in a loop)")


def check_can_create_dir(path: Path) -> None:
    """Raise ``ArgumentTypeError`` unless ``path`` is a writable folder or can be created as one:
    its nearest existing ancestor must be a writable folder. Nothing is created here."""
    check_outside_packages(path)
    if path.exists():
        if not path.is_dir():
            raise argparse.ArgumentTypeError(f"{path} exists and is not a folder")
        if not os.access(path, os.W_OK | os.X_OK):
            raise argparse.ArgumentTypeError(f"{path}: folder is not writable")
        return
    ancestor = path.absolute()
    while not ancestor.exists():
        check_not_dangling(ancestor, f"cannot create {path}: ")
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise argparse.ArgumentTypeError(f"cannot create {path}: {ancestor} is a file")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"cannot create {path}: {ancestor} is not writable")


def check_writable_file(path: Path) -> None:
    """Raise ``ArgumentTypeError`` unless a file can be written at ``path`` (its folder
    existing or creatable, the path itself not a folder, an existing file writable)."""
    check_outside_packages(path)
    check_not_dangling(path)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} is a folder, not a file")
    if path.exists() and not os.access(path, os.W_OK):
        raise argparse.ArgumentTypeError(f"{path}: file is not writable")
    check_can_create_dir(path.parent)


def writable_dir(text: str) -> Path:
    """A folder to write into: existing and writable, or creatable (created only later)."""
    path = _path(text)
    check_can_create_dir(path)
    return path


def writable_file(text: str) -> Path:
    """A file to write: see :func:`check_writable_file`."""
    path = _path(text)
    check_writable_file(path)
    return path


def with_suffixes(base: Path, suffixes: Sequence[str]) -> list[Path]:
    """``base`` with each suffix, as ``GPT.save`` names its files (``x`` -> ``x.json`` ...)."""
    from shared_nn.models.gpt import model_file

    try:
        return [model_file(base, s) for s in suffixes]
    except ValueError as err:  # "." or "..": no file name to put a suffix on
        raise argparse.ArgumentTypeError(str(err)) from None


def writable_base(suffixes: Sequence[str]) -> Callable[[str], Path]:
    """An argument type: a path without suffix whose ``suffixes`` files can all be written."""

    def parse(text: str) -> Path:
        base = _path(text)
        if base.is_dir() or text.endswith(("/", os.sep)):
            raise argparse.ArgumentTypeError(
                f"{base} is a folder; give a file name without suffix, e.g. {base / 'model'}")
        for path in with_suffixes(base, suffixes):
            check_writable_file(path)
        return base

    parse.__name__ = "path"
    return parse


# ------------------------------------------------------------------------- common options


def add_engine_argument(parser: argparse.ArgumentParser, help: str | None = None) -> None:
    """``--engine {scalar,tensor}``; without it, ``$DUALGRAD_ENGINE`` or ``tensor``."""
    parser.add_argument(
        "--engine", choices=ENGINES, default=None,
        help=help or "autodiff engine (default: $DUALGRAD_ENGINE, else tensor)")


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    """``--threads N``: BLAS threads for this process (default 1)."""
    parser.add_argument(
        "--threads", type=threads, default=1,
        help="BLAS threads (default: 1; on a shared machine more threads than free cores "
        "make matrix products many times slower)")


def add_seed_argument(parser: argparse.ArgumentParser, default: int = 0) -> None:
    """``--seed`` (0 .. 2**32 - 1)."""
    parser.add_argument("--seed", type=seed, default=default,
                        help=f"random seed, 0 to {SEED_MAX} (default: {default})")


def add_seed_dtype_arguments(parser: argparse.ArgumentParser) -> None:
    """``--seed`` and ``--dtype`` (float64 by default, so both engines print the same digits)."""
    add_seed_argument(parser)
    parser.add_argument(
        "--dtype", choices=DTYPES, default="float64",
        help="tensor-engine dtype; the scalar engine always computes in float64 "
        "(default: float64)")


def resolve_engine(requested: str | None) -> str:
    """The engine to use: the ``--engine`` value, else ``$DUALGRAD_ENGINE``, else tensor.

    ``$DUALGRAD_ENGINE`` is checked even when ``--engine`` is given, so a typo in the
    environment is reported at once rather than by some later program."""
    raw = os.environ.get("DUALGRAD_ENGINE", "")
    from_env = raw.strip().lower()
    if from_env and from_env not in ENGINES:
        raise UsageError(f"DUALGRAD_ENGINE={raw!r} is not one of {', '.join(ENGINES)}")
    check_value_budget()
    return requested or from_env or "tensor"


def check_value_budget() -> None:
    """``$DUALGRAD_VALUE_BUDGET`` checked now, before any data loads (the scalar engine would
    read it only at its first tensor)."""
    import scalar_engine

    try:
        scalar_engine.value_budget()
    except ValueError as err:
        raise UsageError(str(err)) from None


# ---------------------------------------------------------------------------- BLAS threads


@contextmanager
def blas_threads(n: int) -> Iterator[str]:
    """Limit numpy's BLAS to ``n`` threads inside the block; yields what is in effect,
    e.g. ``"BLAS threads: 1 (OpenBLAS)"``, for the script's first line of output.

    Uses threadpoolctl (part of the ``examples`` extra); the previous limits come back
    when the block ends, so a caller (a test, a notebook) keeps its own settings."""
    import numpy  # noqa: F401 - loads BLAS, so that threadpoolctl can find it

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield "BLAS threads: the library's default (threadpoolctl is not installed)"
        return
    with threadpool_limits(limits=n, user_api="blas"):
        yield describe_blas()


def describe_blas() -> str:
    """``"BLAS threads: N (OpenBLAS)"``: the limits the loaded BLAS libraries report."""
    from threadpoolctl import threadpool_info

    infos = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    if not infos:
        return "BLAS threads: unknown (no BLAS library found)"
    counts = sorted({i["num_threads"] for i in infos})
    names = sorted({BLAS_NAMES.get(i["internal_api"], i["internal_api"]) for i in infos})
    return f"BLAS threads: {'/'.join(map(str, counts))} ({', '.join(names)})"


def banner(engine: str, blas: str) -> str:
    """The first line every example prints: which engine, and how many BLAS threads."""
    return f"engine: {engine}, {blas}"


# -------------------------------------------------------------------------------- training


def require_finite(loss: float, step: int, hint: str = "try a smaller --lr") -> float:
    """``loss``, unless it is NaN or infinite: then training has diverged, and going on
    (or saving the weights) would only produce NaN. ``step`` counts from 1."""
    if not math.isfinite(loss):
        raise UsageError(f"training diverged: the loss is {loss} at step {step}; {hint}")
    return loss


def format_loss(value: float) -> str:
    """A loss with 12 significant digits: enough to see two engines agree to ~1e-12."""
    return f"{value:.12g}"
