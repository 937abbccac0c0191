"""The pictures of ``compare.py``'s report (besides its scaling plot): step times, loss
curves, where the time goes per op type, and the tensor engine's numpy/bookkeeping split.

Each function takes numbers that ``compare.py`` already measured and writes one PNG. The
figures use matplotlib's object API (``matplotlib.figure.Figure``: no pyplot, no GUI
backend, no global state), imported when a picture is drawn through
``shared_nn.optional.optional_import``, so ``--no-plots`` runs without matplotlib.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shared_nn.optional import optional_import

COLOURS = {"scalar": "tab:red", "tensor": "tab:blue", "torch": "tab:green"}
MARKERS = {"scalar": "o", "tensor": "s", "torch": "^"}
SPECIAL = {  # entries of shared_nn.profile() that are not op types, and fixed colours
    "(backward pass)": "#444444",
    "(garbage collector)": "#8c564b",
    "other ops": "#bbbbbb",
    "outside ops": "#e8e8e8",
}
TOP_OPS = 7  # op types named in the chart; the rest are "other ops"
ZERO_FLOOR = 1e-18  # where a difference of exactly 0 is drawn on a log axis
DPI = 80


FEATURE = "compare.py's pictures"


def figure(width: float, height: float) -> Any:
    """A new matplotlib ``Figure`` of ``width`` x ``height`` inches."""
    return optional_import("matplotlib.figure", FEATURE).Figure(figsize=(width, height))


def _save(fig: Any, path: Path, bottom: float = 0.0) -> Path:
    """Write ``fig`` as a PNG (leaving the lowest ``bottom`` fraction for a legend)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout(rect=(0, bottom, 1, 1))
    fig.savefig(path, dpi=DPI)
    return path


# --------------------------------------------------------------------------- training


def plot_step_times(runs: Mapping[str, Any], path: Path) -> Path:
    """Median forward and backward time of a training step, and graph nodes per step, per
    engine (log scales: the engines differ by orders of magnitude)."""
    import numpy as np

    engines = list(runs)
    fig = figure(10, 3.6)
    ax_time, ax_nodes = fig.subplots(1, 2)
    x = np.arange(len(engines))
    for offset, phase, hatch in ((-0.2, "forward", ""), (0.2, "backward", "//")):
        ms = [1000 * float(np.median(getattr(runs[e], f"{phase}_s"))) for e in engines]
        bars = ax_time.bar(x + offset, ms, 0.4, color=[COLOURS[e] for e in engines],
                           hatch=hatch, edgecolor="white", label=phase)
        ax_time.bar_label(bars, [f"{v:.3g}" for v in ms], fontsize=8)
    ax_time.set(yscale="log", ylabel="ms (median of the steps)", title="time of one step")
    ax_time.set_xticks(x, [f"{e} engine" for e in engines])
    ax_time.legend(fontsize=8)
    nodes = [runs[e].nodes[0] for e in engines]
    bars = ax_nodes.bar(x, nodes, 0.5, color=[COLOURS[e] for e in engines])
    ax_nodes.bar_label(bars, [f"{n:,}" for n in nodes], fontsize=8)
    ax_nodes.set(yscale="log", ylabel="graph nodes", title="graph nodes recorded per step")
    ax_nodes.set_xticks(x, [f"{e} engine" for e in engines])
    return _save(fig, path)


def plot_loss_curves(runs: Mapping[str, Any], pairs: Sequence[tuple[str, str]],
                     path: Path) -> Path:
    """Each engine's loss per step, overlaid, and on a second (log) axis the absolute
    difference of each compared pair: rounding noise when the engines agree."""
    fig = figure(8, 4)
    ax = fig.subplots()
    for engine, run in runs.items():
        steps = range(1, len(run.losses) + 1)
        ax.plot(steps, run.losses, marker=MARKERS[engine], color=COLOURS[engine],
                markerfacecolor="none", label=f"{engine} engine: loss")
    ax.set(xlabel="SGD step", ylabel="loss", title="the same training on every engine")
    ticker = optional_import("matplotlib.ticker", FEATURE)
    ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    handles, labels = ax.get_legend_handles_labels()
    if pairs:
        diff_ax = ax.twinx()
        for a, b in pairs:
            diffs = [max(abs(p - q), ZERO_FLOOR) for p, q in zip(runs[a].losses, runs[b].losses,
                                                                 strict=True)]
            diff_ax.plot(range(1, len(diffs) + 1), diffs, linestyle="none", color=COLOURS[a],
                         marker="x" if a == "scalar" else "+", markersize=7,
                         label=f"|{a} - {b}| (right axis)")
        diff_ax.set(yscale="log", ylabel=f"|loss difference| (0 drawn at {ZERO_FLOOR:g})")
        more_handles, more_labels = diff_ax.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    fig.legend(handles, labels, fontsize=8, loc="lower center", ncol=3, frameon=False)
    return _save(fig, path, bottom=0.12)


# ----------------------------------------------------------------- where the time goes


def _op_shares(found: Mapping[str, Any], engine: str, named: Sequence[str]) -> dict[str, float]:
    """An engine's profiled time split into the ``named`` op types, "other ops" and
    "outside ops", in ms per step."""
    summary = found["engines"][engine]
    steps = found["steps"]
    shares = {op: 0.0 for op in named}
    shares["other ops"] = 0.0
    for op, row in summary["ops"].items():
        shares[op if op in shares else "other ops"] += 1000 * row["total_s"] / steps
    shares["outside ops"] = 1000 * max(found["outside_ops_s"], 0.0) / steps
    return shares


def named_ops(profiles: Mapping[str, Any], top: int = TOP_OPS) -> list[str]:
    """The op types that get their own colour: the largest shares on any engine."""
    ranked: dict[str, float] = {}
    for engine, found in profiles.items():
        summary = found["engines"][engine]
        for op, row in summary["ops"].items():
            share = row["total_s"] / max(found["wall_s"], 1e-12)
            ranked[op] = max(ranked.get(op, 0.0), share)
    special = [op for op in ranked if op in SPECIAL]
    ordinary = sorted((op for op in ranked if op not in SPECIAL), key=lambda op: -ranked[op])
    return ordinary[:top] + special


def _colour_map(names: Sequence[str]) -> dict[str, Any]:
    tab10 = optional_import("matplotlib", FEATURE).colormaps["tab10"].colors
    palette = [tab10[i] for i in (0, 1, 2, 3, 4, 6, 8, 9)]  # not brown, not grey: taken
    ordinary = [n for n in names if n not in SPECIAL]
    colours = {n: palette[i % len(palette)] for i, n in enumerate(ordinary)}
    colours.update(SPECIAL)
    return colours


def plot_time_by_op(profiles: Mapping[str, Any], path: Path) -> Path:
    """Stacked bars, one per engine: the share of a profiled step each op type takes
    (forward + backward), the time outside ops, and by phase (forward, backward, outside)."""
    engines = list(profiles)
    named = named_ops(profiles)
    colours = _colour_map([*named, "other ops", "outside ops"])
    fig = figure(12, 0.8 * len(engines) + 2.4)
    ax_ops, ax_phase = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    for y, engine in enumerate(engines):
        _op_bar(ax_ops, y, _op_shares(profiles[engine], engine, named), colours)
        _phase_bar(ax_phase, y, profiles[engine], engine)
    for ax in (ax_ops, ax_phase):
        ax.set_yticks(range(len(engines)), [f"{e} engine" for e in engines])
        ax.set_xlim(0, 114)
        ax.invert_yaxis()
        ax.set_xlabel("% of a profiled forward + backward")
    ax_ops.set_title("where the time goes, by op type (shared_nn.profile)", fontsize=10)
    ax_phase.set_title("by phase", fontsize=10)
    handles = {}
    for ax in (ax_ops, ax_phase):
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=7, fontsize=8,
               frameon=False)
    return _save(fig, path, bottom=0.22 - 0.02 * len(engines))


def _op_bar(ax: Any, y: int, shares: Mapping[str, float], colours: Mapping[str, Any]) -> None:
    """One engine's bar: each op type's share of the step, its total in ms at the end."""
    total = sum(shares.values()) or 1.0
    left = 0.0
    for op, ms in shares.items():
        if ms > 0:
            width = 100 * ms / total
            ax.barh(y, width, left=left, color=colours[op], label=op, edgecolor="white",
                    linewidth=0.5)
            left += width
    ax.text(101, y, f"{total:.3g} ms", va="center", fontsize=8)


PHASES = (("forward (ops)", "forward_s", "#9ecae1"),
          ("backward (ops)", "backward_s", "#3182bd"), ("outside ops", None, "#e8e8e8"))


def _phase_bar(ax: Any, y: int, found: Mapping[str, Any], engine: str) -> None:
    summary = found["engines"][engine]
    parts = [summary[key] if key else max(found["outside_ops_s"], 0.0) for _, key, _ in PHASES]
    total = sum(parts) or 1.0
    left = 0.0
    for (label, _, colour), seconds in zip(PHASES, parts, strict=True):
        width = 100 * seconds / total
        ax.barh(y, width, left=left, color=colour, label=label if y == 0 else None,
                edgecolor="white", linewidth=0.5)
        if width >= 8:
            ax.text(left + width / 2, y, f"{width:.0f}%", ha="center", va="center", fontsize=8)
        left += width


def plot_tensor_split(found: Mapping[str, Any], path: Path) -> Path:
    """The tensor engine per op type: time inside numpy against the engine's own
    bookkeeping (graph recording, operand and dim checks, the backward pass's loop)."""
    summary = found["engines"]["tensor"]
    steps = found["steps"]
    ops = [(op, r) for op, r in summary["ops"].items() if r["total_s"] > 0][:12]
    fig = figure(8, 0.32 * len(ops) + 1.6)
    ax = fig.subplots()
    names = [op for op, _ in ops]
    numpy_ms = [1000 * r["numpy_s"] / steps for _, r in ops]
    engine_ms = [1000 * r["engine_s"] / steps for _, r in ops]
    ax.barh(names, numpy_ms, color="tab:blue", label="numpy (and the op's own lines)")
    ax.barh(names, engine_ms, left=numpy_ms, color="tab:orange",
            label="engine bookkeeping (_record, checks, backward loop)")
    ax.invert_yaxis()
    total_numpy = sum(r["numpy_s"] for _, r in summary["ops"].items())
    share = 100 * total_numpy / max(summary["total_s"], 1e-12)
    ax.set(xlabel="ms per step", title=f"tensor engine: {share:.0f}% of the time in ops is "
           "numpy's")
    ax.legend(fontsize=8, loc="lower right")
    return _save(fig, path)
