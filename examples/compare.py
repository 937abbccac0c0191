"""The engines side by side: what one graph node per tensor buys, and where the time goes.

Part 1 trains the *same* seeded model on the *same* batches of real data on every engine
(float64 everywhere: scalar, tensor, and torch when PyTorch is installed) and prints, per
engine: graph nodes recorded per step, forward and backward time, peak memory of one step,
the loss after every step, and the largest difference between the engines' losses and
gradients (rounding noise, ~1e-15).

Part 2 is a scaling study: an n x n matmul and an MLP of width n, forward + backward, on
every engine over a range of n. A least-squares line through log(time) against log(n)
gives each engine's growth exponent. The scalar engine creates ~2n^3 Value nodes for a
matmul and its time follows the node count; the tensor engine records one node per op and
hands the arithmetic to BLAS, so at these sizes its time hardly grows at all.

Part 3 profiles a few forward + backward passes of Part 1's model on every engine with
``shared_nn.profile()``: the share of each op type, of the backward pass, of the garbage
collector and of the Python around the ops; on the tensor engine also numpy's share.

    python examples/compare.py                     # what `make demo` runs (under a minute)
    python examples/compare.py --model rnn --steps 3
    python examples/compare.py --sizes 4,8,16,32 --out out/mine
    python examples/compare.py --engine tensor     # one engine's numbers only

Writes to --out: ``report.md`` (everything below, with its pictures linked; ``--report``
puts it elsewhere), ``training.md``, ``profile.md``, ``scaling.md`` (tables) and
``scaling.png``, ``step_times.png``, ``loss_curves.png``, ``time_by_op.png``,
``tensor_split.png`` (pictures; none with ``--no-plots``). The last line of output names
the report. Every option, and whether every output can be written, is checked before
anything runs.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from _cli import (
    ArgumentParser,
    UsageError,
    add_seed_argument,
    add_threads_argument,
    banner,
    blas_threads,
    check_writable_file,
    float_in,
    format_loss,
    int_in,
    int_list,
    require_finite,
    resolve_engine,
    run,
    writable_dir,
    writable_file,
)
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import shared_nn
from shared_nn import functional as F
from shared_nn.data import load_digits, pydoc_text
from shared_nn.engine import as_numpy
from shared_nn.optional import INSTALL_HINT
from shared_nn.tokenizer import CharTokenizer

ENGINES = ("scalar", "tensor", "torch")  # torch only when PyTorch is installed
CORE_ENGINES = ("scalar", "tensor")
PAIRS = (("scalar", "tensor"), ("tensor", "torch"))  # compared side by side
SHOWN_STEPS = 6  # loss rows printed (first and last 3) when there are more steps
DTYPE = np.float64  # both engines in float64, so the differences shown are rounding noise
DEFAULT_SIZES = [4, 8, 12, 16, 24, 32, 48, 64]
MAX_SIZE = 128  # 2 * 128^3 = 4.2M Values, already about a gigabyte on the scalar engine
MAX_STEPS, MAX_BATCH = 10_000, 1024
MODEL_DEFAULTS = {  # (steps, batch): small enough for the scalar engine to take seconds
    "mlp": (20, 32),
    "rnn": (5, 16),
    "gpt": (3, 4),
}

# ----------------------------------------------------------------------------- workloads


@dataclass
class Workload:
    """A model to build on either engine, fixed batches to train on, and its loss."""

    description: str
    build: Callable[[str], shared_nn.Module]
    batches: list[tuple[np.ndarray, np.ndarray]]

    @staticmethod
    def loss(model: Any, x: np.ndarray, y: np.ndarray) -> Any:
        """Cross-entropy of the model's logits against integer targets (per token for GPT)."""
        logits = model(x)
        if logits.ndim == 3:  # GPT's (B, T, vocab): one row per token, as torch wants
            return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), np.asarray(y).reshape(-1))
        return F.cross_entropy(logits, y)


def _digit_batches(x: np.ndarray, y: np.ndarray, steps: int, batch: int, seed: int):
    rng = np.random.default_rng(seed)
    if batch > len(x):
        raise UsageError(f"--batch {batch} is larger than the {len(x)} training images")
    return [(x[idx], y[idx]) for idx in (rng.choice(len(x), batch, replace=False)
                                         for _ in range(steps))]


def mlp_workload(steps: int, batch: int, seed: int) -> Workload:
    """MLP 64-32-10 on scikit-learn's digits (8x8 pixels as 64 features)."""
    digits = load_digits(seed=seed)
    batches = _digit_batches(digits.x_train, digits.y_train, steps, batch, seed)

    def build(engine: str) -> shared_nn.Module:
        return shared_nn.models.MLP([64, 32, 10], engine=engine, dtype=DTYPE)

    return Workload(f"MLP 64-32-10 on digits, batch {batch}", build, batches)


def rnn_workload(steps: int, batch: int, seed: int) -> Workload:
    """RNN classifier reading each digit row by row: 8 steps of 8 pixels, hidden 16."""
    digits = load_digits(seed=seed)
    batches = [(x.reshape(-1, 8, 8), y) for x, y in
               _digit_batches(digits.x_train, digits.y_train, steps, batch, seed)]

    def build(engine: str) -> shared_nn.Module:
        return shared_nn.models.RNNClassifier(8, 16, 10, engine=engine, dtype=DTYPE)

    return Workload(f"RNN (hidden 16) on digit rows, batch {batch}", build, batches)


def gpt_workload(steps: int, batch: int, seed: int, block: int = 16) -> Workload:
    """A tiny GPT (1 layer, 2 heads, width 16) predicting the next character of Python's docs."""
    from shared_nn.models import GPT, GPTConfig

    text = pydoc_text()
    vocab = CharTokenizer.from_text(text)
    ids = np.asarray(vocab.encode(text))
    rng = np.random.default_rng(seed)
    batches = []
    for _ in range(steps):
        starts = rng.integers(0, len(ids) - block - 1, size=batch)
        windows = np.stack([ids[s : s + block + 1] for s in starts])
        batches.append((windows[:, :-1], windows[:, 1:]))
    config = GPTConfig(vocab_size=len(vocab), block_size=block, n_layer=1, n_head=2, n_embd=16)

    def build(engine: str) -> shared_nn.Module:
        return GPT(config, engine=engine, dtype=DTYPE)

    return Workload(f"GPT 1 layer, 2 heads, width 16, {block} chars, batch {batch}",
                    build, batches)


WORKLOADS = {"mlp": mlp_workload, "rnn": rnn_workload, "gpt": gpt_workload}

# ------------------------------------------------------------------------- part 1: training


@dataclass
class EngineRun:
    """What one engine did on the workload, step by step."""

    engine: str
    losses: list[float] = field(default_factory=list)
    nodes: list[int] = field(default_factory=list)
    forward_s: list[float] = field(default_factory=list)
    backward_s: list[float] = field(default_factory=list)
    grads: list[dict[str, np.ndarray]] = field(default_factory=list)
    peak_bytes: int | None = 0  # None on the torch engine: its memory is not Python's


def train_steps(workload: Workload, engine: str, lr: float, seed: int, advance) -> EngineRun:
    """Seed, build, and take one SGD step per batch, timing forward and backward apart."""
    backend = shared_nn.get_engine(engine)
    shared_nn.manual_seed(seed)
    model = workload.build(engine)
    optimizer = shared_nn.optim.SGD(model.parameters(), lr=lr)
    result = EngineRun(engine)
    for x, y in workload.batches:
        optimizer.zero_grad()
        backend.reset_nodes_created()
        start = time.perf_counter()
        loss = workload.loss(model, x, y)
        middle = time.perf_counter()
        loss.backward()
        end = time.perf_counter()
        result.nodes.append(backend.nodes_created())
        result.forward_s.append(middle - start)
        result.backward_s.append(end - middle)
        result.losses.append(require_finite(loss.item(), len(result.losses) + 1))
        result.grads.append({n: np.array(as_numpy(p.grad)) for n, p in model.named_parameters()})
        optimizer.step()
        advance()
    # tracemalloc sees Python's and numpy's allocations, not PyTorch's own allocator
    result.peak_bytes = None if engine == "torch" else peak_memory(workload, model)
    advance()
    return result


def peak_memory(workload: Workload, model: Any) -> int:
    """Peak bytes allocated (tracemalloc) by one forward + backward on the first batch.

    Measured apart from the timed steps because tracing slows every allocation."""
    x, y = workload.batches[0]
    model.zero_grad()
    tracemalloc.start()
    try:
        workload.loss(model, x, y).backward()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def largest_differences(a: EngineRun, b: EngineRun) -> tuple[float, float]:
    """max |loss_a - loss_b| over steps, and max |grad_a - grad_b| over steps and parameters."""
    loss_diff = max(abs(p - q) for p, q in zip(a.losses, b.losses, strict=True))
    grad_diff = max(
        float(np.max(np.abs(ga[name] - gb[name])))
        for ga, gb in zip(a.grads, b.grads, strict=True)
        for name in ga
    )
    return loss_diff, grad_diff


def engine_pairs(engines: Sequence[str]) -> list[tuple[str, str]]:
    """The pairs compared side by side: scalar with tensor, tensor with torch (when run)."""
    return [pair for pair in PAIRS if set(pair) <= set(engines)]


def _ms(seconds: Sequence[float]) -> float:
    return 1000.0 * statistics.median(seconds)


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b <= 0:
        return "-"
    return f"{a / b:,.0f}x" if a / b >= 10 else f"{a / b:,.2f}x"


def _kib(value: int | None) -> str:
    return "n/a" if value is None else f"{value / 1024:,.0f}"


MEASURES = [  # (row title, value of a run, how it is shown)
    ("graph nodes per step", lambda r: r.nodes[0], lambda v: f"{v:,}"),
    ("forward (median ms)", lambda r: _ms(r.forward_s), lambda v: f"{v:.2f}"),
    ("backward (median ms)", lambda r: _ms(r.backward_s), lambda v: f"{v:.2f}"),
    ("peak memory of a step (KiB)", lambda r: r.peak_bytes, _kib),
]


def training_rows(runs: dict[str, EngineRun]) -> list[tuple[str, ...]]:
    """The comparison as rows: what, one column per engine, then one column per compared
    pair (scalar/tensor, tensor/torch): the ratio, or |a - b| for losses and gradients."""
    pairs = engine_pairs(list(runs))
    rows = []
    for what, value, show in MEASURES:
        values = {e: value(r) for e, r in runs.items()}
        ratios = [_ratio(values[a], values[b]) for a, b in pairs]
        rows.append((what, *map(show, values.values()), *ratios))
    for i, losses in enumerate(zip(*(r.losses for r in runs.values()), strict=True), start=1):
        by_engine = dict(zip(runs, losses, strict=True))
        diffs = [f"{abs(by_engine[a] - by_engine[b]):.1e}" for a, b in pairs]
        rows.append((f"loss, step {i}", *map(format_loss, losses), *diffs))
    blanks = [""] * len(runs)
    for k, what in enumerate(("largest |loss difference|", "largest |gradient difference|")):
        if pairs:
            found = [f"{largest_differences(runs[a], runs[b])[k]:.1e}" for a, b in pairs]
            rows.append((what, *blanks, *found))
    return rows


def table_columns(engines: Sequence[str]) -> list[str]:
    """Column titles of the training table (the pair columns only when both engines ran)."""
    pairs = [f"{a}/{b} or |diff|" for a, b in engine_pairs(engines)]
    return ["", *(f"{e} engine" for e in engines), *pairs]


def shown_rows(rows: list[tuple[str, ...]], steps: int) -> list[tuple[str, ...]]:
    """The rows to print: with many steps, the first and last few losses and "..." between
    (the markdown table keeps every step)."""
    if steps <= SHOWN_STEPS:
        return rows
    first = len(MEASURES)
    keep = SHOWN_STEPS // 2
    gap = tuple(["..."] + [""] * (len(rows[0]) - 1))
    return [*rows[:first + keep], gap, *rows[first + steps - keep:]]


def print_training(console: Console, title: str, engines: Sequence[str],
                   rows: list[tuple[str, ...]]) -> None:
    table = Table(title=title, title_justify="left", min_width=len(title))
    for i, column in enumerate(table_columns(engines)):
        table.add_column(column, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    console.print(table)


# -------------------------------------------------------------------------- part 2: scaling


def measure(engine: str, step: Callable[[Any], None], budget_s: float = 0.3,
            max_repeats: int = 5) -> tuple[float, int]:
    """(median seconds, graph nodes of one run) of ``step(engine_module)``.

    Cheap steps are repeated (at most ``max_repeats`` times, until ``budget_s`` is spent).
    Garbage left by earlier measurements is collected first, so this one does not pay for it."""
    backend = shared_nn.get_engine(engine)
    times: list[float] = []
    nodes = 0
    gc.collect()
    while len(times) < max_repeats and (not times or sum(times) < budget_s):
        backend.reset_nodes_created()
        start = time.perf_counter()
        step(backend)
        times.append(time.perf_counter() - start)
        nodes = backend.nodes_created()
    return statistics.median(times), nodes


def matmul_step(n: int, seed: int) -> Callable[[Any], None]:
    """Forward + backward of ``(A @ B).sum()`` for random n x n A and B."""
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((2, n, n))

    def step(backend: Any) -> None:
        ta = backend.tensor(a, requires_grad=True, dtype=DTYPE)
        tb = backend.tensor(b, requires_grad=True, dtype=DTYPE)
        (ta @ tb).sum().backward()

    return step


def mlp_step(width: int, batch: int, seed: int) -> Callable[[Any], None]:
    """Forward + backward of an MLP width-width-width-10's cross-entropy on a random batch."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, width))
    y = rng.integers(0, 10, batch)
    models: dict[str, Any] = {}

    def step(backend: Any) -> None:
        if backend.NAME not in models:
            shared_nn.manual_seed(seed)
            models[backend.NAME] = shared_nn.models.MLP(
                [width, width, width, 10], engine=backend.NAME, dtype=DTYPE)
        model = models[backend.NAME]
        model.zero_grad()
        F.cross_entropy(model(x), y).backward()

    return step


def fit_exponent(sizes: Sequence[float], values: Sequence[float]) -> float:
    """Slope k of the least-squares line log(value) = k log(size) + c: value grows as size^k."""
    if len(sizes) < 2:
        return float("nan")
    slope, _ = np.polyfit(np.log(sizes), np.log(values), 1)
    return float(slope)


@dataclass
class Series:
    """One curve of the scaling study: sizes, seconds and graph nodes on one engine."""

    sizes: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    nodes: list[int] = field(default_factory=list)

    @property
    def time_exponent(self) -> float:
        return fit_exponent(self.sizes, self.seconds)

    @property
    def node_exponent(self) -> float:
        return fit_exponent(self.sizes, self.nodes)


STUDIES = {
    "matmul": "n x n matmul, forward + backward",
    "mlp": "MLP n-n-n-10, forward + backward",
}
SHORT = {"matmul": "n x n matmul", "mlp": "MLP n-n-n-10"}
COLOURS = {"scalar": "tab:red", "tensor": "tab:blue", "torch": "tab:green"}


def _k(exponent: float) -> str:
    """An exponent with two decimals (never "-0.00")."""
    return f"{round(exponent, 2) + 0.0:.2f}"


def scaling_study(sizes: list[int], batch: int, seed: int, engines: Sequence[str],
                  advance) -> dict[str, dict[str, Series]]:
    """``{study: {engine: Series}}`` for every size, engines measured alternately."""
    results = {study: {e: Series() for e in engines} for study in STUDIES}
    for n in sizes:
        steps = {"matmul": matmul_step(n, seed), "mlp": mlp_step(n, batch, seed)}
        for study, step in steps.items():
            for engine in engines:
                seconds, nodes = measure(engine, step)
                series = results[study][engine]
                series.sizes.append(n)
                series.seconds.append(seconds)
                series.nodes.append(nodes)
                advance()
    return results


def plot_scaling(results: dict[str, dict[str, Series]], path: Path) -> None:
    """Log-log plot: time of each study, and the matmul's node count, with fitted slopes."""
    from _charts import figure

    fig = figure(13, 4)
    axes = fig.subplots(1, 3)
    colours = COLOURS
    panels = [
        (axes[0], "matmul", "seconds", "time_exponent", STUDIES["matmul"]),
        (axes[1], "mlp", "seconds", "time_exponent", STUDIES["mlp"]),
        (axes[2], "matmul", "nodes", "node_exponent", "graph nodes of the n x n matmul"),
    ]
    for ax, study, attr, exponent, title in panels:
        for engine, series in results[study].items():
            ys = getattr(series, attr)
            k = getattr(series, exponent)
            ax.loglog(series.sizes, ys, "o-", color=colours[engine],
                      label=f"{engine} engine  ~ n^{_k(k)}")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("n")
        sizes = next(iter(results[study].values())).sizes
        ax.set_xticks(sizes, [str(n) for n in sizes], minor=False)
        ax.set_xticks([], minor=True)
        ax.set_ylabel("seconds" if attr == "seconds" else "nodes")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    with_torch = " and PyTorch" if "torch" in results["matmul"] else ""
    fig.suptitle("dualgrad: scalar engine (one node per number) vs tensor engine "
                 f"(one node per op){with_torch}, float64")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)


def scaling_markdown(results: dict[str, dict[str, Series]], batch: int) -> str:
    """The scaling study as markdown tables, with the fitted exponents."""
    parts = []
    for study, title in STUDIES.items():
        runs = results[study]
        pairs = engine_pairs(list(runs))
        suffix = f" (batch {batch})" if study == "mlp" else ""
        header = "| n | " + " | ".join(f"{e} nodes | {e} ms" for e in runs)
        header += "".join(f" | {a} / {b}" for a, b in pairs) + " |"
        lines = [f"### {title}{suffix}", "", header,
                 "|---:|" + "---:|---:|" * len(runs) + "---:|" * len(pairs)]
        sizes = next(iter(runs.values())).sizes
        for i, n in enumerate(sizes):
            cells = [f"{r.nodes[i]:,} | {1000 * r.seconds[i]:.3f}" for r in runs.values()]
            ratios = [_ratio(runs[a].seconds[i], runs[b].seconds[i]) for a, b in pairs]
            lines.append("| " + " | ".join([str(n), *cells, *ratios]) + " |")
        fits = [f"{_k(r.node_exponent)} | {_k(r.time_exponent)}" for r in runs.values()]
        lines.append("| " + " | ".join(["growth exponent", *fits, *[""] * len(pairs)]) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def print_scaling(console: Console, results: dict[str, dict[str, Series]]) -> None:
    """Per study and engine: the fitted exponents, the time at the largest n, and that time
    against the tensor engine's."""
    title = "Growth exponents (least squares on log-log: time ~ n^k)"
    table = Table(title=title, title_justify="left", min_width=len(title))
    largest = next(iter(results["matmul"].values())).sizes[-1]
    for i, column in enumerate(("study", "engine", "time k", "nodes k",
                                f"ms at n = {largest}", "/ tensor engine")):
        table.add_column(column, justify="left" if i < 2 else "right")
    for study in STUDIES:
        runs = results[study]
        reference = runs.get("tensor")
        for engine, series in runs.items():
            ratio = _ratio(series.seconds[-1], reference.seconds[-1]) if reference else "-"
            table.add_row(SHORT[study], engine, _k(series.time_exponent),
                          _k(series.node_exponent), f"{1000 * series.seconds[-1]:.3g}", ratio)
    console.print(table)


# --------------------------------------------------------------- part 3: where the time goes

PROFILE_STEPS = 3  # profiled forward + backward passes per engine (after one warm-up)


def profile_engine(workload: Workload, engine: str, seed: int) -> dict[str, Any]:
    """``shared_nn.profile()`` of forward + backward on the first batches, after one
    unprofiled warm-up pass (first calls pay for imports and caches). Garbage left by
    earlier parts is collected first, as before every measurement of part 2, so these
    passes do not pay for it. Returns the profile's ``results()`` plus ``steps``, the number
    of profiled passes."""
    shared_nn.manual_seed(seed)
    model = workload.build(engine)
    batches = workload.batches[:PROFILE_STEPS]
    workload.loss(model, *batches[0]).backward()
    gc.collect()
    with shared_nn.profile(engine) as prof:
        for x, y in batches:
            model.zero_grad()
            workload.loss(model, x, y).backward()
    return {**prof.results(), "steps": len(batches)}


def _largest_ops(found: dict[str, Any], engine: str, count: int = 3) -> str:
    summary = found["engines"][engine]
    wall = found["wall_s"] or 1.0
    return ", ".join(f"{op} {100 * r['total_s'] / wall:.0f}%"
                     for op, r in list(summary["ops"].items())[:count])


def print_profiles(console: Console, profiles: dict[str, dict[str, Any]]) -> None:
    """One row per engine: a profiled step's time, its split, and the largest op types."""
    title = "Where the time goes (shared_nn.profile, one forward + backward)"
    table = Table(title=title, title_justify="left", min_width=len(title))
    for i, column in enumerate(("", "ms per step", "forward", "backward", "outside ops",
                                "largest op types (% of the step)")):
        table.add_column(column, justify="left" if i in (0, 5) else "right")
    for engine, found in profiles.items():
        summary, wall = found["engines"][engine], found["wall_s"] or 1.0
        table.add_row(f"{engine} engine", f"{1000 * wall / found['steps']:.3g}",
                      f"{100 * summary['forward_s'] / wall:.0f}%",
                      f"{100 * summary['backward_s'] / wall:.0f}%",
                      f"{100 * found['outside_ops_s'] / wall:.0f}%",
                      _largest_ops(found, engine))
    console.print(table)


def profile_markdown(profiles: dict[str, dict[str, Any]]) -> str:
    """Every engine's profile table (ms per profiled step) with how it was attributed."""
    from shared_nn.profiling import markdown_table

    parts = []
    for engine, found in profiles.items():
        summary = per_step(found)["engines"][engine]
        parts.append(f"### {engine} engine\n\n{markdown_table(engine, summary)}\n\n"
                     f"Outside ops: {1000 * found['outside_ops_s'] / found['steps']:.3f} ms per "
                     f"step. Attribution: {summary['attribution']}.")
    return "\n\n".join(parts) + "\n"


def per_step(found: dict[str, Any]) -> dict[str, Any]:
    """A profile's results with every time and count divided by its number of steps."""
    steps = found["steps"]

    def scaled(row: dict[str, Any]) -> dict[str, Any]:
        return {k: (v / steps if isinstance(v, (int, float)) and k != "steps" else v)
                for k, v in row.items()}

    engines = {name: {**scaled(e), "ops": {op: scaled(r) for op, r in e["ops"].items()}}
               for name, e in found["engines"].items()}
    return {**scaled(found), "engines": engines}


# ---------------------------------------------------------------------------------- main

OUTPUTS = {  # result key: file name under --out
    "training_md": "training.md", "profile_md": "profile.md", "scaling_md": "scaling.md",
    "plot": "scaling.png", "steps_png": "step_times.png", "loss_png": "loss_curves.png",
    "time_png": "time_by_op.png", "split_png": "tensor_split.png", "report": "report.md",
}
PICTURES = ("plot", "steps_png", "loss_png", "time_png", "split_png")
SCALING_OUTPUTS = ("plot", "scaling_md")
TORCH_MISSING = 'torch is not installed: no torch column (pip install "dualgrad[torch]" adds it)'


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The options, all checked: numbers in range, every output writable, the engines
    importable, $DUALGRAD_ENGINE valid."""
    parser = ArgumentParser(
        prog="compare.py",
        description="Train the same seeded model on every engine and compare them; profile "
        "where each one's time goes; measure how each engine's cost grows with size; write "
        "one report of it all.")
    parser.add_argument("--engine", choices=ENGINES, default=None,
                        help="run only this engine (default: scalar, tensor and, when PyTorch "
                        "is installed, torch, side by side)")
    parser.add_argument("--model", choices=sorted(WORKLOADS), default="mlp",
                        help="model to train on every engine (default: mlp)")
    parser.add_argument("--steps", type=int_in(1, MAX_STEPS), default=None,
                        help="SGD steps per engine (default: 20 for mlp, 5 rnn, 3 gpt)")
    parser.add_argument("--batch", type=int_in(1, MAX_BATCH), default=None,
                        help="batch size (default: 32 mlp, 16 rnn, 4 gpt; also the MLP "
                        "scaling study's batch)")
    parser.add_argument("--sizes", type=int_list(), default=DEFAULT_SIZES,
                        help="sizes n for the scaling study, comma-separated "
                        f"(default: {','.join(map(str, DEFAULT_SIZES))})")
    parser.add_argument("--lr", type=float_in(0.0, 10.0, low_open=True), default=0.1,
                        help="SGD learning rate (default: 0.1)")
    add_seed_argument(parser)
    parser.add_argument("--out", type=writable_dir, default="out/compare",
                        help="folder for the report, its pictures and tables (default: "
                        "out/compare)")
    parser.add_argument("--report", type=writable_file, default=None,
                        help="the report, a markdown file (default: OUT/report.md); its "
                        "pictures stay in --out and are linked relative to it")
    parser.add_argument("--no-scaling", action="store_true", help="skip the scaling study")
    parser.add_argument("--no-plots", action="store_true",
                        help="write the tables and the report without pictures (no matplotlib)")
    add_threads_argument(parser)
    args = parser.parse_args(argv)  # a str default goes through its type: checked like the rest
    resolve_engine(args.engine)  # only checks $DUALGRAD_ENGINE: every engine runs by default
    default_steps, default_batch = MODEL_DEFAULTS[args.model]
    args.steps = args.steps or default_steps
    args.batch = args.batch or default_batch
    args.sizes = sorted(set(args.sizes))
    if args.sizes[-1] > MAX_SIZE:
        n = args.sizes[-1]
        parser.error(f"argument --sizes: n = {n} would make the scalar engine build "
                     f"~{2 * n**3:,} Values for one matmul; use n <= {MAX_SIZE}")
    args.paths = output_paths(parser, args)
    if not args.no_plots and not has_matplotlib():
        parser.error(f"the pictures need matplotlib, which is not installed: {INSTALL_HINT}, "
                     "or pass --no-plots")
    args.engines, args.note = choose_engines(parser, args.engine)
    return args


def has_matplotlib() -> bool:
    """Whether matplotlib can be imported (found without importing it)."""
    try:
        return importlib.util.find_spec("matplotlib") is not None
    except (ImportError, ValueError):  # blocked with sys.modules["matplotlib"] = None
        return False


def output_paths(parser: ArgumentParser, args: argparse.Namespace) -> dict[str, Path]:
    """Every file this run writes, each checked writable before anything runs."""
    keys = [k for k in OUTPUTS if not (args.no_scaling and k in SCALING_OUTPUTS)
            and not (args.no_plots and k in PICTURES)]
    paths = {k: args.out / OUTPUTS[k] for k in keys}
    for key, path in paths.items():
        if key != "report" or args.report is None:
            _check_output(parser, "--out", path)
    if args.report is not None:
        if args.report.suffix != ".md":
            parser.error(f"argument --report: {args.report} must be a markdown file "
                         "(ending in .md)")
        others = {_real(p): p.name for k, p in paths.items() if k != "report"}
        if _real(args.report) in others:
            parser.error(f"argument --report: {args.report} would overwrite the "
                         f"{others[_real(args.report)]} this run writes")
        paths["report"] = args.report
    return paths


def _real(path: Path) -> str:
    return os.path.realpath(path)


def _check_output(parser: ArgumentParser, option: str, path: Path) -> None:
    try:
        check_writable_file(path)
    except argparse.ArgumentTypeError as err:
        parser.error(f"argument {option}: {err}")


def choose_engines(parser: ArgumentParser, requested: str | None) -> tuple[tuple[str, ...], str]:
    """The engines to run and a note for the output: torch joins the default only when
    PyTorch can be imported; asked for by name without it, it is an error."""
    if requested is not None:
        if requested == "torch" and not torch_available():
            parser.error('argument --engine: torch needs PyTorch, which is not installed '
                         '(pip install "dualgrad[torch]")')
        return (requested,), ""
    if torch_available():
        return ENGINES, ""
    return CORE_ENGINES, TORCH_MISSING


def torch_available() -> bool:
    """Whether the torch engine imports here (it imports PyTorch)."""
    try:
        shared_nn.get_engine("torch")
    except ImportError:
        return False
    return True


@contextmanager
def torch_threads(n: int, engines: Sequence[str]) -> Iterator[None]:
    """PyTorch's own thread pool limited to ``n`` threads (as BLAS is) inside the block."""
    if "torch" not in engines:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/"
                    "{task.total}"), TimeElapsedColumn(), console=console, transient=True)


def _listing(names: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the comparison; returns the per-engine runs, the table rows and the output paths."""
    args = parse_args(argv)
    console = Console()
    if not console.is_terminal:  # piped or captured: room for the table on one line
        console = Console(width=140)
    with blas_threads(args.threads) as blas, torch_threads(args.threads, args.engines):
        args.blas = blas
        console.print(banner(_listing(args.engines), blas), highlight=False)
        if args.note:
            console.print(args.note, highlight=False, markup=False)
        return compare(args, console)


def compare(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    """Part 1 (training), part 2 (scaling, unless --no-scaling), part 3 (where the time
    goes); then the tables, the pictures (unless --no-plots) and the report."""
    workload = WORKLOADS[args.model](args.steps, args.batch, args.seed)
    result: dict[str, Any] = {"workload": workload.description}
    result.update(part_training(args, console, workload))
    if not args.no_scaling:
        result.update(part_scaling(args, console))
    result.update(part_profile(args, console, workload))
    written = write_outputs(args, result)
    result.update(written)
    console.print(f"wrote {_listing([str(p) for p in written.values()])}", highlight=False,
                  markup=False)
    console.print(f"report: {written['report']}", highlight=False, markup=False, soft_wrap=True)
    return result


def part_training(args: argparse.Namespace, console: Console,
                  workload: Workload) -> dict[str, Any]:
    console.print(f"[bold]Part 1[/bold]: {workload.description}, {args.steps} SGD steps "
                  f"(lr {args.lr}), seed {args.seed}, float64")
    runs: dict[str, EngineRun] = {}
    with _progress(console) as progress:
        for engine in args.engines:
            task = progress.add_task(f"training on the {engine} engine", total=args.steps + 1)
            runs[engine] = train_steps(workload, engine, args.lr, args.seed,
                                       lambda task=task: progress.advance(task))
    rows = training_rows(runs)
    title = f"{len(runs)} engines" if len(runs) > 1 else f"the {args.engine} engine"
    print_training(console, f"Same model, same data, {title} ({args.model})", args.engines,
                   shown_rows(rows, args.steps))
    return {"runs": runs, "rows": rows}


def part_scaling(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    console.print(f"\n[bold]Part 2[/bold]: scaling, n = {', '.join(map(str, args.sizes))}")
    with _progress(console) as progress:
        task = progress.add_task("measuring",
                                 total=len(args.sizes) * len(STUDIES) * len(args.engines))
        scaling = scaling_study(args.sizes, args.batch, args.seed, args.engines,
                                lambda: progress.advance(task))
    print_scaling(console, scaling)
    return {"scaling": scaling}


def part_profile(args: argparse.Namespace, console: Console,
                 workload: Workload) -> dict[str, Any]:
    console.print(f"\n[bold]Part 3[/bold]: where the time goes, {PROFILE_STEPS} profiled "
                  "forward + backward passes per engine")
    with _progress(console) as progress:
        task = progress.add_task("profiling", total=len(args.engines))
        profiles = {}
        for engine in args.engines:
            profiles[engine] = profile_engine(workload, engine, args.seed)
            progress.advance(task)
    print_profiles(console, profiles)
    return {"profiles": profiles}


def write_outputs(args: argparse.Namespace, result: dict[str, Any]) -> dict[str, Path]:
    """The tables, the pictures and the report; returns ``{key: path}`` of what was written."""
    paths = args.paths
    args.out.mkdir(parents=True, exist_ok=True)
    written = {"training_md": paths["training_md"], "profile_md": paths["profile_md"]}
    paths["training_md"].write_text(
        _rows_markdown(result["workload"], args.engines, result["rows"]))
    paths["profile_md"].write_text(profile_markdown(result["profiles"]))
    if "scaling" in result:
        paths["scaling_md"].write_text(scaling_markdown(result["scaling"], args.batch))
        written["scaling_md"] = paths["scaling_md"]
    if not args.no_plots:
        written.update(draw_pictures(paths, result))
    paths["report"].parent.mkdir(parents=True, exist_ok=True)
    paths["report"].write_text(report_markdown(args, result, written))
    written["report"] = paths["report"]
    return written


def draw_pictures(paths: dict[str, Path], result: dict[str, Any]) -> dict[str, Path]:
    """Every picture the results allow (no tensor-engine split without the tensor engine)."""
    import _charts

    runs, profiles = result["runs"], result["profiles"]
    drawn = {"steps_png": _charts.plot_step_times(runs, paths["steps_png"]),
             "loss_png": _charts.plot_loss_curves(runs, engine_pairs(list(runs)),
                                                  paths["loss_png"]),
             "time_png": _charts.plot_time_by_op(profiles, paths["time_png"])}
    if "tensor" in profiles:
        drawn["split_png"] = _charts.plot_tensor_split(profiles["tensor"], paths["split_png"])
    if "scaling" in result:
        plot_scaling(result["scaling"], paths["plot"])
        drawn["plot"] = paths["plot"]
    return drawn


# ------------------------------------------------------------------------------- report

REPORT_TEXT = {
    "steps_png": "Median time of one training step, and the graph nodes each engine records "
                 "for it.",
    "loss_png": "The loss curves overlaid (they coincide), and on the right axis how far "
                "apart they are: float64 rounding noise.",
    "time_png": "Where a profiled forward + backward spends its time, per op type and per "
                "phase (means over the profiled passes; part 1 shows medians). *Outside ops* "
                "is the Python around the ops (shared_nn's layers, the loop) and the "
                "profiler's own cost.",
    "split_png": "The tensor engine's time in ops, split into numpy and the engine's own "
                 "bookkeeping.",
    "plot": "How each engine's time and node count grow with n (log-log, fitted exponents in "
            "the legend).",
}


def _picture(key: str, written: dict[str, Path], report: Path) -> str:
    if key not in written:
        return ""
    link = Path(os.path.relpath(written[key], report.parent)).as_posix()
    return f"![{REPORT_TEXT[key]}]({link})\n\n{REPORT_TEXT[key]}\n\n"


def report_markdown(args: argparse.Namespace, result: dict[str, Any],
                    written: dict[str, Path]) -> str:
    """The report: every table of the run and every picture, linked relative to it."""
    report = args.paths["report"]
    parts = [f"# dualgrad: {_listing(args.engines)} engines compared\n\n"
             f"`{command_line(args)}`: {_versions()}; {args.blas}\n\n",
             f"## 1. Training: the same model on the same data\n\n"
             f"{_rows_markdown(result['workload'], args.engines, result['rows'])}\n",
             _picture("steps_png", written, report), _picture("loss_png", written, report),
             "## 2. Where the time goes\n\n"
             f"`shared_nn.profile()` around {PROFILE_STEPS} forward + backward passes per "
             "engine (times per pass).\n\n",
             _picture("time_png", written, report), _picture("split_png", written, report),
             profile_markdown(result["profiles"]) + "\n"]
    if "scaling" in result:
        parts += ["## 3. Scaling\n\n", _picture("plot", written, report),
                  scaling_markdown(result["scaling"], args.batch)]
    if args.no_plots:
        parts.append("\n(Run without `--no-plots` for the pictures.)\n")
    return "".join(parts)


def command_line(args: argparse.Namespace) -> str:
    """The options this run used, as a command (paths as given)."""
    words = ["python examples/compare.py", f"--model {args.model}", f"--steps {args.steps}",
             f"--batch {args.batch}", f"--lr {args.lr}", f"--seed {args.seed}"]
    if args.engine:
        words.append(f"--engine {args.engine}")
    if not args.no_scaling:
        words.append(f"--sizes {','.join(map(str, args.sizes))}")
    return " ".join(words)


def _versions() -> str:
    import platform

    found = [f"Python {platform.python_version()}", f"numpy {np.__version__}"]
    torch = sys.modules.get("torch")
    if torch is not None:
        found.append(f"PyTorch {torch.__version__}")
    return ", ".join(found)


def _rows_markdown(title: str, engines: Sequence[str], rows: list[tuple[str, ...]]) -> str:
    columns = [c.replace("|", "\\|") for c in table_columns(engines)]
    lines = [f"### {title}", "", "| " + " | ".join(columns) + " |",
             "|---|" + "---:|" * (len(columns) - 1)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    run(main)
