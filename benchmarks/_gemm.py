"""Matrix-product rates by memory layout: what numpy's BLAS can do for a workload's products.

A product ``C = A @ B`` of shape (m, k) x (k, n) can be handed to numpy in eight ways that
compute the same numbers: each operand C- or Fortran-ordered, and the product itself or its
transpose ``Cᵀ = Bᵀ @ Aᵀ`` (which is how a Fortran-ordered result is made). BLAS libraries
run these at different rates (OpenBLAS packs a transposed operand with different copy
routines), so a workload's matrix time depends on layouts its code never mentions.

This module

* records the products a tensor_engine workload asks numpy for (every product the engine
  computes goes through ``tensor_engine.kernels.mm``): their operands, and their shapes and
  layouts as :class:`Call`\\ s;
* times each distinct product alone in all eight layouts, with numpy and with PyTorch, at
  the current thread limit (medians of alternating rounds, operands warm), which picks each
  library's fastest layout for it (and gives ``benchmarks/gemm_layouts.py`` its table);
* replays a workload's recorded products back to back, with nothing else in between: as
  the engine called them, each in numpy's fastest layout, and each with PyTorch in its
  fastest (:func:`replays`). Timed in the same rounds as the step, the faster numpy replay
  is the floor against which the step's *efficiency* is measured (efficiency = that replay's
  time / step time): whatever the step loses beyond it is the engine's, and a ratio to
  PyTorch above 1 with efficiency near 100% is the BLAS's. A replay keeps the step's order
  and operands, so the products evict each other's operands from cache as in the step,
  except that what the step had just computed for a product is read into cache before it
  (untimed); what the products lose to the elementwise work between them counts as the
  step's.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
from _report import SelfTimed

# ---------------------------------------------------------------------------- calls


def _order(strides: tuple[int, ...], shape: tuple[int, ...], itemsize: int) -> str:
    """"C" when a matrix's rows are contiguous (or it is one row or column), "F" when its
    columns are, else "C" (numpy copies such an operand to a C-ordered buffer first)."""
    rows, cols = shape
    if cols == 1 or strides[1] == itemsize:
        return "C"
    return "F" if rows == 1 or strides[0] == itemsize else "C"


@dataclass(frozen=True)
class Call:
    """One product as numpy is asked for it: ``batch`` stacked (m, k) @ (k, n) matrices,
    each operand's matrices C- or F-ordered ("left"/"right"); the result is C-ordered."""

    batch: int
    m: int
    k: int
    n: int
    left: str
    right: str
    dtype: str = "float32"

    @classmethod
    def of(cls, a: np.ndarray, b: np.ndarray) -> Call:
        """The call ``a @ b`` (1-D operands as numpy promotes them: a row, a column)."""
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        batch_shape = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
        size = np.dtype(np.result_type(a, b)).itemsize
        return cls(
            batch=math.prod(batch_shape), m=a2.shape[-2], k=a2.shape[-1], n=b2.shape[-1],
            left=_order(a2.strides[-2:], a2.shape[-2:], size),
            right=_order(b2.strides[-2:], b2.shape[-2:], size),
            dtype=str(np.result_type(a, b)),
        )  # fmt: skip

    @property
    def flops(self) -> int:
        return 2 * self.batch * self.m * self.k * self.n

    @property
    def problem(self) -> tuple[int, int, int, int, str]:
        """What is computed, whatever the layout: ``C`` and ``Cᵀ`` are one problem."""
        small, large = sorted((self.m, self.n))
        return (self.batch, self.k, small, large, self.dtype)

    def label(self) -> str:
        lead = f"{self.batch}x " if self.batch > 1 else ""
        return f"{lead}({self.m}x{self.k}){self.left} @ ({self.k}x{self.n}){self.right}"

    def layouts(self) -> list[Call]:
        """The eight calls that compute this product (or its transpose)."""
        same = [Call(self.batch, self.m, self.k, self.n, a, b, self.dtype)
                for a in "CF" for b in "CF"]  # fmt: skip
        flipped = [Call(self.batch, self.n, self.k, self.m, a, b, self.dtype)
                   for a in "CF" for b in "CF"]  # fmt: skip
        return same + flipped


Pair = tuple[np.ndarray, np.ndarray]


def record_products(fn: Callable[[], object]) -> list[Pair]:
    """The operands of every product numpy computes for tensor_engine while ``fn()`` runs,
    in order: the arrays themselves (kept alive), so that the products can be replayed."""
    import importlib

    te_kernels = importlib.import_module("tensor_engine.kernels")
    pairs: list[Pair] = []
    original = te_kernels.mm

    def recording(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        pairs.append((a, b))
        return original(a, b)

    te_kernels.mm = recording
    try:
        fn()
    finally:
        te_kernels.mm = original
    return pairs


def trace_products(fn: Callable[[], object]) -> list[Call]:
    """Every product numpy computes for tensor_engine while ``fn()`` runs, in order."""
    return [Call.of(a, b) for a, b in record_products(fn)]


# ---------------------------------------------------------------------------- timing


def _operands(call: Call, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Arrays of ``call``'s shapes and layouts (an F operand is a transposed C array)."""

    def matrix(rows: int, cols: int, order: str) -> np.ndarray:
        shape = (call.batch, rows, cols) if order == "C" else (call.batch, cols, rows)
        data = rng.standard_normal(shape, dtype=np.float32).astype(call.dtype)
        data = data if order == "C" else np.swapaxes(data, -1, -2)
        return data[0] if call.batch == 1 else data

    return matrix(call.m, call.k, call.left), matrix(call.k, call.n, call.right)


COLD_BYTES = 96 * 2**20  # more than this host's last-level cache (32 MiB)


def _runner(call: Call, rng: np.random.Generator, cold: bool,
            product: Callable[[object, object], object], convert: Callable) -> Callable:
    """A function computing ``call``; with ``cold``, each run uses the next of enough copies
    of the operands that they are read from memory, as in a pass over a whole model."""
    copies = 1
    if cold:
        a, b = _operands(call, rng)
        copies = max(1, min(32, math.ceil(COLD_BYTES / (a.nbytes + b.nbytes))))
    pairs = [tuple(convert(x) for x in _operands(call, rng)) for _ in range(copies)]
    if copies == 1:
        (a, b), = pairs
        return lambda: product(a, b)
    turn = iter(range(1 << 62))
    return lambda: product(*pairs[next(turn) % copies])


def _timed_block(fn: Callable[[], object], reps: int) -> float:
    """Seconds per call over ``reps`` calls, after one untimed call: the rounds alternate
    between runners whose operands evict each other's from cache, so without it the first
    call of a short block would be timed cold and the rest warm, a mix that depends on the
    block's length and reads a product as slower than it is in a warm loop."""
    fn()
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - start) / reps


def time_calls(runners: dict[object, Callable[[], object]], rounds: int,
               block_s: float = 0.004) -> dict[object, float]:
    """Median seconds per run of each runner: after a warm-up, ``rounds`` rounds that each
    time every runner once (a block of repeats lasting about ``block_s``), alternating."""
    reps = {}
    for key, fn in runners.items():
        once = _timed_block(fn, 1)  # also the warm-up
        reps[key] = max(1, min(1000, int(block_s / max(once, 1e-7))))
    times: dict[object, list[float]] = {key: [] for key in runners}
    for _ in range(rounds):
        for key, fn in runners.items():
            times[key].append(_timed_block(fn, reps[key]))
    return {key: statistics.median(ts) for key, ts in times.items()}


@dataclass
class LayoutRates:
    """Seconds per call of one problem in each layout, with numpy and with PyTorch."""

    numpy_s: dict[Call, float]
    torch_layouts_s: dict[Call, float]  # empty when PyTorch was not measured

    @property
    def torch_s(self) -> float | None:
        """PyTorch's fastest time for the problem."""
        return self.torch_best()[1] if self.torch_layouts_s else None

    def best(self) -> tuple[Call, float]:
        """numpy's fastest layout and its time."""
        return _fastest(self.numpy_s)

    def torch_best(self) -> tuple[Call, float]:
        return _fastest(self.torch_layouts_s)


def _fastest(seconds: dict[Call, float]) -> tuple[Call, float]:
    call = min(seconds, key=seconds.__getitem__)
    return call, seconds[call]


def measure_problem(call: Call, rounds: int, with_torch: bool = True, cold: bool = False,
                    seed: int = 0) -> LayoutRates:
    """Time ``call``'s eight numpy layouts (and PyTorch on the same eight) alternately.

    ``cold``: operands come from memory, not cache (for products that stream weights)."""
    rng = np.random.default_rng(seed)
    runners: dict[object, Callable[[], object]] = {}
    for variant in call.layouts():
        runners[variant] = _runner(variant, rng, cold, np.matmul, lambda x: x)
        if with_torch:
            import torch

            runners[("torch", variant)] = _runner(variant, rng, cold, torch.matmul,
                                                  torch.from_numpy)
    with _torch_no_grad(with_torch):
        seconds = time_calls(runners, rounds)
    numpy_s = {k: v for k, v in seconds.items() if isinstance(k, Call)}
    torch_s = {k[1]: v for k, v in seconds.items() if not isinstance(k, Call)}
    return LayoutRates(numpy_s, torch_s)


class _torch_no_grad:
    def __init__(self, active: bool) -> None:
        self.active = active

    def __enter__(self) -> None:
        if self.active:
            import torch

            self._guard = torch.no_grad()
            self._guard.__enter__()

    def __exit__(self, *exc: object) -> None:
        if self.active:
            self._guard.__exit__(*exc)


@dataclass
class RateBook:
    """Measured layouts per problem, measured once each (problems repeat across workloads)."""

    rounds: int = 7
    with_torch: bool = True
    problems: dict[tuple, LayoutRates] = field(default_factory=dict)

    def rates(self, call: Call, cold: bool = False) -> LayoutRates:
        key = (call.problem, cold)
        if key not in self.problems:
            self.problems[key] = measure_problem(call, self.rounds, self.with_torch, cold)
        return self.problems[key]

    def engine_s(self, call: Call, cold: bool = False) -> float:
        """Seconds of ``call`` in the layout the engine used."""
        return self.rates(call, cold).numpy_s[call]


# ---------------------------------------------------------------------------- replays


def _matrices_in(x: np.ndarray, order: str) -> bool:
    """Whether the matrices (last two dims) of ``x`` are stored exactly in ``order``: rows
    ("C") or columns ("F") contiguous and packed one after the other."""
    m = x if order == "C" else np.swapaxes(x, -1, -2)
    rows, cols = m.shape[-2:]
    return (cols <= 1 or m.strides[-1] == m.itemsize) and (
        rows <= 1 or m.strides[-2] == cols * m.itemsize)


def _laid_out(x: np.ndarray, order: str, made: dict[tuple, np.ndarray]) -> np.ndarray:
    """``x`` itself if its matrices are in ``order``, else a copy that is (made once per
    view: a weight used by two products is copied once, as a program keeping it so would)."""
    if _matrices_in(x, order):
        return x
    key = (x.__array_interface__["data"][0], x.shape, x.strides, order)
    if key not in made:
        if order == "C":
            made[key] = np.ascontiguousarray(x)
        else:
            made[key] = np.swapaxes(np.ascontiguousarray(np.swapaxes(x, -1, -2)), -1, -2)
    return made[key]


def _in_layout(a: np.ndarray, b: np.ndarray, variant: Call,
               made: dict[tuple, np.ndarray]) -> Pair:
    """Operands computing ``a @ b`` in layout ``variant``: the product itself, or its
    transpose ``bᵀ @ aᵀ`` when the variant is the flipped form (its result is ``(a @ b)ᵀ``,
    the same numbers in the other memory order)."""
    if (variant.m, variant.n) == (a.shape[-2], b.shape[-1]):
        return _laid_out(a, variant.left, made), _laid_out(b, variant.right, made)
    a_t, b_t = np.swapaxes(a, -1, -2), np.swapaxes(b, -1, -2)
    return _laid_out(b_t, variant.left, made), _laid_out(a_t, variant.right, made)


def _recently_made(a: np.ndarray, b: np.ndarray, call: Call) -> list[np.ndarray]:
    """The operands a step has usually just computed when it asks for this product
    (activations, gradients), as opposed to those it reads from far away (weights, and
    the weight-sized results of weight gradients): the ones at most a quarter the size of
    the largest of the two operands and the result."""
    result_nbytes = call.batch * call.m * call.n * np.dtype(call.dtype).itemsize
    largest = max(a.nbytes, b.nbytes, result_nbytes)
    return [x for x in (a, b) if 4 * x.nbytes <= largest]


def replay(pairs: list[Pair], layout: Callable[[Call], Call] | None = None,
           product: Callable[[object, object], object] = np.matmul,
           convert: Callable = lambda x: x,
           prepare: Callable[[np.ndarray], np.ndarray] = lambda x: x,
           ) -> Callable[[], SelfTimed]:
    """A function that runs the recorded products back to back, on the recorded arrays,
    each in the layout ``layout(call)`` picks (``None``: as the engine called it) — the
    step's products alone, as a program doing nothing else would run them — and returns the
    seconds spent inside the products.

    Before each product, the operands the step has just computed at that point (see
    :func:`_recently_made`) are read into cache, untimed: in the step they are warm, while in
    the replay they were last touched during recording. ``product``, ``convert`` and
    ``prepare`` run the products with another library (``torch.matmul`` on
    ``torch.from_numpy`` of writeable arrays)."""
    made: dict[tuple, np.ndarray] = {}
    operands = []
    for a, b in pairs:
        call = Call.of(a, b)
        if layout is not None and a.ndim >= 2 and b.ndim >= 2:
            a, b = _in_layout(a, b, layout(call), made)
        a, b = prepare(a), prepare(b)
        operands.append((convert(a), convert(b), _recently_made(a, b, call)))

    def run() -> SelfTimed:
        seconds = 0.0
        for left, right, warm in operands:
            for x in warm:
                np.add.reduce(x, axis=None)  # reads it into cache
            start = time.perf_counter()
            product(left, right)
            seconds += time.perf_counter() - start
        return SelfTimed(seconds)

    return run


@dataclass
class Replays:
    """A workload's recorded products, ready to be timed back to back three ways."""

    flops: int
    best: Callable[[], SelfTimed]  # each product in numpy's fastest layout for it
    as_called: Callable[[], SelfTimed]  # each in the layout the engine used
    torch: Callable[[], SelfTimed] | None  # each with PyTorch, in its fastest layout

    def runners(self) -> list[Callable[[], SelfTimed]]:
        return [self.best, self.as_called] + ([self.torch] if self.torch else [])

    def summary(self, seconds: list[float]) -> GemmSummary:
        """The summary from the runners' timed seconds (in :meth:`runners` order). The
        layouts fastest alone are not always fastest in sequence (a transposed copy of a
        weight is more memory to stream), so numpy's best is the faster of the two replays:
        never slower than the engine's own layouts."""
        best_s, engine_s = seconds[:2]
        torch_s = seconds[2] if self.torch else None
        return GemmSummary(self.flops, best_s=min(best_s, engine_s), engine_s=engine_s,
                           torch_s=torch_s)


def replays(pairs: list[Pair], book: RateBook) -> Replays:
    """Replays of ``pairs``, with layouts chosen from ``book``'s per-problem timings."""
    flops = sum(Call.of(a, b).flops for a, b in pairs)
    best = replay(pairs, lambda call: book.rates(call).best()[0])
    torch_run = None
    if book.with_torch:
        import torch

        def writeable(x: np.ndarray) -> np.ndarray:  # torch warns on read-only arrays
            return x if x.flags.writeable else x.copy()

        torch_run = replay(pairs, lambda call: book.rates(call).torch_best()[0],
                           torch.matmul, torch.from_numpy, writeable)
    return Replays(flops, best, replay(pairs), torch_run)


# ---------------------------------------------------------------------------- per workload


@dataclass
class GemmSummary:
    """A workload's products: FLOPs and the seconds they take alone, three ways."""

    flops: int
    best_s: float  # every product in numpy's fastest layout for it
    engine_s: float  # every product in the layout the engine used
    torch_s: float | None  # every product at PyTorch's fastest

    def rate(self, seconds: float | None) -> float | None:
        """GFLOP/s over the workload's products."""
        return None if not seconds else self.flops / seconds / 1e9

    def efficiency(self, step_s: float) -> float:
        """Best-layout product time / step time: 1.0 means the step is nothing but BLAS
        running at numpy's best rate; what is missing is the engine's doing."""
        return self.best_s / step_s


def summarize(calls: Iterable[Call], book: RateBook, cold: bool = False) -> GemmSummary:
    """Sum a workload's traced products (``cold``: timed with operands from memory)."""
    calls = list(calls)
    rates = [book.rates(c, cold) for c in calls]
    torch_s = [r.torch_s for r in rates]
    return GemmSummary(
        flops=sum(c.flops for c in calls),
        best_s=sum(r.best()[1] for r in rates),
        engine_s=sum(book.engine_s(c, cold) for c in calls),
        torch_s=None if None in torch_s else sum(torch_s),
    )


def gemm_columns(summary: GemmSummary, step_s: float) -> list[str]:
    """The table cells the benchmarks add per workload: GEMM GFLOP, numpy's best-layout
    rate, the rate as the engine ran the products, PyTorch's best rate, and efficiency."""
    torch_rate = summary.rate(summary.torch_s)
    return [
        f"{summary.flops / 1e9:.4g}",
        f"{summary.rate(summary.best_s):.0f}",
        f"{summary.rate(summary.engine_s):.0f}",
        "n/a" if torch_rate is None else f"{torch_rate:.0f}",
        f"{summary.efficiency(step_s):.1%}",  # one decimal: 89.6% does not meet 90%
    ]


GEMM_HEADER = ["GEMM GFLOP", "numpy best-layout GFLOP/s", "numpy as called GFLOP/s",
               "torch GFLOP/s", "efficiency"]  # fmt: skip
