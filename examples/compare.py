"""Scalar engine vs tensor engine, side by side: what one graph node per tensor buys.

Part 1 trains the *same* seeded model on the *same* batches of real data on both engines
(float64 on both) and prints, per engine: graph nodes recorded per step, forward and
backward time, peak memory of one step, the loss after every step, and the largest
difference between the two engines' losses and gradients (rounding noise, ~1e-15).

Part 2 is a scaling study: an n x n matmul and an MLP of width n, forward + backward, on
both engines over a range of n. A least-squares line through log(time) against log(n)
gives each engine's growth exponent. The scalar engine creates ~2n^3 Value nodes for a
matmul and its time follows the node count; the tensor engine records one node per op and
hands the arithmetic to BLAS, so at these sizes its time hardly grows at all.

    python examples/compare.py                     # what `make demo` runs (about a minute)
    python examples/compare.py --model rnn --steps 3
    python examples/compare.py --sizes 4,8,16,32 --out out/mine
    python examples/compare.py --engine tensor     # one engine's numbers only

Writes ``scaling.png`` (log-log plot) and ``scaling.md`` / ``training.md`` (tables) to --out.
Every option, and whether --out can be written, is checked before anything runs.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from _cli import (
    ArgumentParser,
    UsageError,
    add_engine_argument,
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
)
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import shared_nn
from shared_nn import functional as F
from shared_nn.data import load_digits, pydoc_text
from shared_nn.tokenizer import CharTokenizer

ENGINES = ("scalar", "tensor")
DTYPE = np.float64  # both engines in float64, so the differences shown are rounding noise
DEFAULT_SIZES = [4, 8, 12, 16, 24, 32, 48, 64]
MAX_SIZE = 128  # 2 * 128^3 = 4.2M Values, already about a gigabyte on the scalar engine
MAX_STEPS, MAX_BATCH = 10_000, 1024
MODEL_DEFAULTS = {  # (steps, batch): small enough for the scalar engine to take seconds
    "mlp": (5, 32),
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
    peak_bytes: int = 0


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
        result.grads.append({n: np.array(p.grad) for n, p in model.named_parameters()})
        optimizer.step()
        advance()
    result.peak_bytes = peak_memory(workload, model)
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


def _ms(seconds: Sequence[float]) -> float:
    return 1000.0 * statistics.median(seconds)


def _ratio(a: float, b: float) -> str:
    return f"{a / b:,.0f}x" if b > 0 else "-"


def training_rows(runs: dict[str, EngineRun]) -> list[tuple[str, ...]]:
    """The comparison as rows: what, one column per engine, and with both engines
    scalar/tensor (or |scalar - tensor| for losses and gradients)."""
    both = len(runs) == 2
    measures = [
        ("graph nodes per step", lambda r: r.nodes[0], lambda v: f"{v:,}"),
        ("forward (median ms)", lambda r: _ms(r.forward_s), lambda v: f"{v:.2f}"),
        ("backward (median ms)", lambda r: _ms(r.backward_s), lambda v: f"{v:.2f}"),
        ("peak memory of a step (KiB)", lambda r: r.peak_bytes, lambda v: f"{v / 1024:,.0f}"),
    ]
    rows = []
    for what, value, show in measures:
        values = [value(r) for r in runs.values()]
        rows.append((what, *map(show, values), *([_ratio(*values)] if both else [])))
    for i, losses in enumerate(zip(*(r.losses for r in runs.values()), strict=True), start=1):
        diff = [f"{abs(losses[0] - losses[1]):.1e}"] if both else []
        rows.append((f"loss, step {i}", *map(format_loss, losses), *diff))
    if both:
        loss_diff, grad_diff = largest_differences(runs["scalar"], runs["tensor"])
        rows.append(("largest |loss difference|", "", "", f"{loss_diff:.1e}"))
        rows.append(("largest |gradient difference|", "", "", f"{grad_diff:.1e}"))
    return rows


def table_columns(engines: Sequence[str]) -> list[str]:
    """Column titles of the training table (the last only when both engines ran)."""
    extra = ["scalar / tensor, or |diff|"] if len(engines) == 2 else []
    return ["", *(f"{e} engine" for e in engines), *extra]


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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    colours = {"scalar": "tab:red", "tensor": "tab:blue"}
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
    fig.suptitle("dualgrad: scalar engine (one node per number) vs tensor engine "
                 "(one node per op), float64")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def scaling_markdown(results: dict[str, dict[str, Series]], batch: int) -> str:
    """The scaling study as markdown tables, with the fitted exponents."""
    parts = []
    for study, title in STUDIES.items():
        runs = results[study]
        both = len(runs) == 2
        suffix = f" (batch {batch})" if study == "mlp" else ""
        header = "| n | " + " | ".join(f"{e} nodes | {e} ms" for e in runs)
        lines = [f"### {title}{suffix}", "",
                 header + (" | scalar / tensor |" if both else " |"),
                 "|---:|" + "---:|---:|" * len(runs) + ("---:|" if both else "")]
        sizes = next(iter(runs.values())).sizes
        for i, n in enumerate(sizes):
            cells = [f"{r.nodes[i]:,} | {1000 * r.seconds[i]:.3f}" for r in runs.values()]
            ratio = [f"{runs['scalar'].seconds[i] / runs['tensor'].seconds[i]:,.0f}x"] \
                if both else []
            lines.append("| " + " | ".join([str(n), *cells, *ratio]) + " |")
        fits = [f"{_k(r.node_exponent)} | {_k(r.time_exponent)}" for r in runs.values()]
        lines.append("| " + " | ".join(["growth exponent", *fits]) + (" | |" if both else " |"))
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def print_scaling(console: Console, results: dict[str, dict[str, Series]]) -> None:
    engines = list(results["matmul"])
    both = len(engines) == 2
    title = "Growth exponents (least squares on log-log: time ~ n^k)"
    table = Table(title=title, title_justify="left", min_width=len(title))
    table.add_column("study")
    for engine in engines:
        table.add_column(f"{engine}: time k", justify="right")
        table.add_column(f"{engine}: nodes k", justify="right")
    if both:
        table.add_column("speed-up at largest n", justify="right")
    for study in STUDIES:
        runs = results[study]
        cells = [c for r in runs.values() for c in (_k(r.time_exponent), _k(r.node_exponent))]
        if both:
            cells.append(_ratio(runs["scalar"].seconds[-1], runs["tensor"].seconds[-1]))
        table.add_row(SHORT[study], *cells)
    console.print(table)


# ---------------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The options, all checked: numbers in range, --out writable, $DUALGRAD_ENGINE valid."""
    parser = ArgumentParser(
        prog="compare.py",
        description="Train the same seeded model on both engines and compare them; then "
        "measure how each engine's cost grows with size.")
    add_engine_argument(parser, help="run only this engine (default: both, side by side)")
    parser.add_argument("--model", choices=sorted(WORKLOADS), default="mlp",
                        help="model to train on both engines (default: mlp)")
    parser.add_argument("--steps", type=int_in(1, MAX_STEPS), default=None,
                        help="SGD steps per engine (default: 5 for mlp/rnn, 3 for gpt)")
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
                        help="folder for scaling.png, scaling.md, training.md "
                        "(default: out/compare)")
    parser.add_argument("--no-scaling", action="store_true", help="skip the scaling study")
    add_threads_argument(parser)
    args = parser.parse_args(argv)  # a str default goes through its type: checked like the rest
    resolve_engine(args.engine)  # only checks $DUALGRAD_ENGINE: both engines run by default
    args.engines = (args.engine,) if args.engine else ENGINES
    default_steps, default_batch = MODEL_DEFAULTS[args.model]
    args.steps = args.steps or default_steps
    args.batch = args.batch or default_batch
    args.sizes = sorted(set(args.sizes))
    if args.sizes[-1] > MAX_SIZE:
        n = args.sizes[-1]
        parser.error(f"argument --sizes: n = {n} would make the scalar engine build "
                     f"~{2 * n**3:,} Values for one matmul; use n <= {MAX_SIZE}")
    names = ["training.md"] + ([] if args.no_scaling else ["scaling.png", "scaling.md"])
    for name in names:
        try:
            check_writable_file(args.out / name)
        except argparse.ArgumentTypeError as err:
            parser.error(f"argument --out: {err}")
    return args


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/"
                    "{task.total}"), TimeElapsedColumn(), console=console, transient=True)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the comparison; returns the per-engine runs, the table rows and the output paths."""
    args = parse_args(argv)
    console = Console()
    if not console.is_terminal:  # piped or captured: room for the table on one line
        console = Console(width=110)
    with blas_threads(args.threads) as blas:
        console.print(banner(" and ".join(args.engines), blas), highlight=False)
        return compare(args, console)


def compare(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    """Part 1 (training) and, unless --no-scaling, part 2 (scaling); writes the tables."""
    workload = WORKLOADS[args.model](args.steps, args.batch, args.seed)
    console.print(f"[bold]Part 1[/bold]: {workload.description}, {args.steps} SGD steps "
                  f"(lr {args.lr}), seed {args.seed}, float64")
    runs: dict[str, EngineRun] = {}
    with _progress(console) as progress:
        for engine in args.engines:
            task = progress.add_task(f"training on the {engine} engine", total=args.steps + 1)
            runs[engine] = train_steps(workload, engine, args.lr, args.seed,
                                       lambda task=task: progress.advance(task))
    rows = training_rows(runs)
    title = "two engines" if len(runs) == 2 else f"the {args.engine} engine"
    print_training(console, f"Same model, same data, {title} ({args.model})", args.engines, rows)
    args.out.mkdir(parents=True, exist_ok=True)
    training_md = args.out / "training.md"
    training_md.write_text(_rows_markdown(workload.description, args.engines, rows))
    result: dict[str, Any] = {"runs": runs, "rows": rows, "training_md": training_md}
    if args.no_scaling:
        console.print(f"wrote {training_md}", highlight=False)
        return result

    console.print(f"\n[bold]Part 2[/bold]: scaling, n = {', '.join(map(str, args.sizes))}")
    with _progress(console) as progress:
        task = progress.add_task("measuring",
                                 total=len(args.sizes) * len(STUDIES) * len(args.engines))
        scaling = scaling_study(args.sizes, args.batch, args.seed, args.engines,
                                lambda: progress.advance(task))
    print_scaling(console, scaling)
    plot = args.out / "scaling.png"
    table = args.out / "scaling.md"
    plot_scaling(scaling, plot)
    table.write_text(scaling_markdown(scaling, args.batch))
    console.print(f"wrote {plot}, {table} and {training_md}", highlight=False)
    result.update(scaling=scaling, plot=plot, scaling_md=table)
    return result


def _rows_markdown(title: str, engines: Sequence[str], rows: list[tuple[str, ...]]) -> str:
    columns = [c.replace("|", "\\|") for c in table_columns(engines)]
    lines = [f"### {title}", "", "| " + " | ".join(columns) + " |",
             "|---|" + "---:|" * (len(columns) - 1)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    run(main)
