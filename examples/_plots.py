"""The pictures the example scripts save: training curves and misclassified digits.

Each script that trains takes two options, added by :func:`add_plot_arguments`:

- ``--plots DIR``: the folder for its PNG files (default ``out/<script>``, under the current
  folder, never inside the installed package);
- ``--no-plots``: save no pictures (and need no matplotlib).

Like every other option, the folder and each file the script will write there are checked
before any work starts (:func:`plot_paths`): a folder that cannot be created, a file name
taken by a folder, a path inside the package, or matplotlib missing is one line on stderr
and exit status 2. The figures use matplotlib's object API (``matplotlib.figure.Figure``:
no pyplot, no GUI backend, no global state), imported through
``shared_nn.optional.optional_import`` as ``shared_nn.viz`` does.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from _cli import check_can_create_dir, check_writable_file, writable_dir

from shared_nn.optional import INSTALL_HINT, optional_import

DPI = 100
MAX_SHOWN = 24  # misclassified digits in the grid


def add_plot_arguments(parser: argparse.ArgumentParser, default: str) -> None:
    """``--plots DIR`` (default ``default``) and ``--no-plots``, which exclude each other."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--plots", type=writable_dir, default=None, metavar="DIR",
                       help=f"folder for the PNG pictures (default: {default})")
    group.add_argument("--no-plots", action="store_true", help="save no pictures")
    parser.set_defaults(plots_default=default)


def plot_paths(parser: argparse.ArgumentParser, args: argparse.Namespace,
               names: Sequence[str]) -> dict[str, Path]:
    """The files to write, by name (none with ``--no-plots``), each checked now: a problem
    ends the script through ``parser.error`` (one line, exit status 2). Creates nothing."""
    if args.no_plots:
        return {}
    folder = args.plots if args.plots is not None else Path(args.plots_default)
    try:
        if args.plots is None:  # a default is checked here, not by argparse: --no-plots
            check_can_create_dir(folder)  # must work even where the default cannot
        for name in names:
            check_writable_file(folder / name)
    except argparse.ArgumentTypeError as err:
        parser.error(f"argument --plots: {err}")
    if not _has_matplotlib():
        parser.error(f"the plots need matplotlib, which is not installed: {INSTALL_HINT}, "
                     "or pass --no-plots")
    return {name: folder / name for name in names}


def _has_matplotlib() -> bool:
    try:
        return importlib.util.find_spec("matplotlib") is not None
    except (ImportError, ValueError):  # blocked with sys.modules["matplotlib"] = None
        return False


def _figure(width: float, height: float) -> Any:
    Figure = optional_import("matplotlib.figure", "the example plots").Figure
    return Figure(figsize=(width, height), dpi=DPI)


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    return path


# ---------------------------------------------------------------------------------- curves


@dataclass
class Panel:
    """One plot of a curves figure: named lines ``{label: (xs, ys)}`` on shared axes."""

    ylabel: str
    lines: dict[str, tuple[Sequence[float], Sequence[float]]] = field(default_factory=dict)
    xlabel: str = "epoch"
    percent: bool = False  # ys are fractions, shown as percentages


def curves_figure(panels: Sequence[Panel], title: str) -> Any:
    """A Figure with one plot per panel, side by side (a single point gets a marker)."""
    ticker = optional_import("matplotlib.ticker", "the example plots")
    fig = _figure(4.6 * len(panels) + (1.6 if len(panels) == 1 else 0.0), 3.4)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, panel in zip(axes, panels, strict=True):
        for label, (xs, ys) in panel.lines.items():
            ys = [100 * y for y in ys] if panel.percent else list(ys)
            ax.plot(list(xs), ys, marker="o" if len(ys) < 30 else None, ms=3, label=label)
        ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
        ax.set_xlabel(panel.xlabel)
        ax.set_ylabel(panel.ylabel + (" (%)" if panel.percent else ""))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def save_curves(path: Path, panels: Sequence[Panel], title: str) -> Path:
    """:func:`curves_figure`, saved as ``path`` (its folder created if needed)."""
    return _save(curves_figure(panels, title), path)


def epochs(values: Sequence[float]) -> tuple[list[int], list[float]]:
    """``values`` against epoch numbers 1, 2, ..."""
    return list(range(1, len(values) + 1)), list(values)


# ------------------------------------------------------------------------ misclassified digits


def misclassified_figure(images: np.ndarray, labels: np.ndarray, predicted: np.ndarray,
                         title: str, max_shown: int = MAX_SHOWN) -> Any:
    """A grid of the first ``max_shown`` images whose prediction is wrong, each titled
    ``true -> predicted``; one axes per digit (one with a note when none is wrong).
    ``images`` are flat rows with values in [0, 1] (see :func:`display_pixels`)."""
    wrong = np.flatnonzero(predicted != labels)[:max_shown]
    if len(wrong) == 0:
        fig = _figure(4.0, 1.2)
        ax = fig.subplots()
        ax.text(0.5, 0.5, "every test image was classified correctly", ha="center",
                va="center")
        ax.axis("off")
        return fig
    cols = min(8, len(wrong))
    rows = math.ceil(len(wrong) / cols)
    fig = _figure(1.1 * cols + 0.2, 1.25 * rows + 0.5)
    for k, i in enumerate(wrong):
        ax = fig.add_subplot(rows, cols, k + 1)
        ax.imshow(as_square(images[i]), cmap="gray_r", vmin=0.0, vmax=1.0,
                  interpolation="nearest")
        ax.set_title(f"{labels[i]} → {predicted[i]}", fontsize=9,
                     color="tab:red")
        ax.axis("off")
    total = int((predicted != labels).sum())
    fig.suptitle(f"{title}: {total} of {len(labels)} test images misclassified "
                 f"(true → predicted{', first ' + str(len(wrong)) if total > len(wrong) else ''})",
                 fontsize=9)
    fig.tight_layout()
    return fig


def save_misclassified(path: Path, images: np.ndarray, labels: np.ndarray,
                       predicted: np.ndarray, title: str) -> Path:
    """:func:`misclassified_figure`, saved as ``path``."""
    return _save(misclassified_figure(images, labels, predicted, title), path)


def display_pixels(x: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``x`` with each pixel (column) scaled to [0, 1] by its range in ``reference``.

    The digits reach the model standardised pixel by pixel, which makes a blank background
    a different grey in every pixel; the training set's range per pixel undoes that (a
    pixel's blank is its minimum, full ink its maximum). MNIST, already in [0, 1], stays."""
    low, high = reference.min(axis=0), reference.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    return np.clip((x - low) / span, 0.0, 1.0)


def as_square(image: np.ndarray) -> np.ndarray:
    """A flat image as a square (8x8 digits, 28x28 MNIST), or a strip if it is not one."""
    flat = np.asarray(image).ravel()
    side = math.isqrt(flat.size)
    return flat.reshape(side, side) if side * side == flat.size else flat.reshape(1, -1)


def report(paths: Sequence[Path]) -> None:
    """Print where the pictures went (one line)."""
    if paths:
        print("plots: " + ", ".join(str(p) for p in paths))
