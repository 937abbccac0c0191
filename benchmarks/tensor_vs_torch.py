"""tensor_engine vs PyTorch (CPU), side by side in one process, float32.

Workloads (each a full training-style step: forward, backward and, for the MLPs, an SGD
update), with the same weights on both sides:

* ``mlp-tiny``: MLP(2, 16, 16, 1), ReLU, MSE loss on 100 points (micrograd's demo size);
* ``mlp-mnist``: MLP 784-256-128-10, ReLU, cross-entropy, batch 64;
* ``gpt2-block``: one GPT-2-sized transformer block, forward + backward: batch 1, 64 tokens,
  width 768, 12 heads, pre-LayerNorm, causal attention, tanh-GELU MLP 4x; once with the
  fused ops (attention, layer_norm, gelu as single nodes; PyTorch's twin then calls
  ``scaled_dot_product_attention`` too) and once composed from primitives.

The models are written here directly with tensor_engine ops, and with ``torch.nn`` layers
for PyTorch. Timings alternate between the two sides in rounds and report medians, so
machine noise hits both alike; the ratio column is what to read. The MNIST MLP and the fused
block use ``fused.linear`` (what ``shared_nn.Linear`` runs); ``mlp-tiny`` and the composed
block spell every layer ``x @ W.T + b`` in primitive ops, so they keep measuring the
engine's per-op overhead.

Each row also says how much of the step is matrix products, and how fast numpy can run
them: the products of one of our steps are traced and timed alone (``benchmarks/_gemm.py``)
in the layout we used, in numpy's fastest layout for each, and with PyTorch. *efficiency* =
(time numpy's best-layout products alone take) / (our step time): what the step loses
beyond it is the engine's; a ratio to PyTorch above 1 at high efficiency is the BLAS's.
For the MNIST MLP a third side, the same step written by hand in numpy
(:func:`numpy_mlp_step`), is timed in the same rounds: what a program that calls numpy op
by op can reach, so the floor for an engine built that way.

Usage::

    python benchmarks/tensor_vs_torch.py            # full run, writes docs/benchmarks.md
    python benchmarks/tensor_vs_torch.py --quick    # tiny sizes, 1 repeat, prints only

OpenBLAS picks its kernel from the environment (``OPENBLAS_CORETYPE``); the table records
the kernel in use and the command line.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as TF
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from _gemm import (  # noqa: E402
    GEMM_HEADER,
    GemmSummary,
    RateBook,
    gemm_columns,
    summarize,
    trace_products,
)
from _report import blas_info, cpu_model, markdown_table, median_time, write_section  # noqa: E402

import tensor_engine as te  # noqa: E402
from tensor_engine import fused  # noqa: E402

# ---------------------------------------------------------------------------- tensor_engine models


class Linear:
    """``x @ W.T + b`` with torch's layout (weight is (out, in)) and init scheme: one fused
    node, or three primitive ones (``use_fused=False``)."""

    def __init__(self, fan_in: int, fan_out: int, rng: np.random.Generator) -> None:
        bound = 1.0 / math.sqrt(fan_in)
        self.weight = te.tensor(rng.uniform(-bound, bound, (fan_out, fan_in)),
                                requires_grad=True, dtype=np.float32)
        self.bias = te.tensor(rng.uniform(-bound, bound, fan_out),
                              requires_grad=True, dtype=np.float32)

    def __call__(self, x: te.Tensor, use_fused: bool = True) -> te.Tensor:
        if use_fused:
            return fused.linear(x, self.weight, self.bias)
        return x @ self.weight.T + self.bias

    def parameters(self) -> list[te.Tensor]:
        return [self.weight, self.bias]


class MLP:
    def __init__(self, sizes: list[int], rng: np.random.Generator, use_fused: bool = True) -> None:
        self.layers = [Linear(a, b, rng) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
        self.use_fused = use_fused

    def __call__(self, x: te.Tensor) -> te.Tensor:
        for layer in self.layers[:-1]:
            x = layer(x, self.use_fused).relu()
        return self.layers[-1](x, self.use_fused)

    def parameters(self) -> list[te.Tensor]:
        return [p for layer in self.layers for p in layer.parameters()]


class LayerNorm:
    def __init__(self, width: int) -> None:
        self.weight = te.ones(width, requires_grad=True)
        self.bias = te.zeros(width, requires_grad=True)

    def __call__(self, x: te.Tensor, use_fused: bool) -> te.Tensor:
        if use_fused:
            return fused.layer_norm(x, self.weight, self.bias)
        centred = x - x.mean(-1, keepdim=True)
        var = (centred * centred).mean(-1, keepdim=True)
        return centred / (var + 1e-5).sqrt() * self.weight + self.bias

    def parameters(self) -> list[te.Tensor]:
        return [self.weight, self.bias]


def softmax(x: te.Tensor, use_fused: bool) -> te.Tensor:
    if use_fused:
        return fused.softmax(x, -1)
    e = (x - x.max(-1, keepdim=True)).exp()
    return e / e.sum(-1, keepdim=True)


def gelu(x: te.Tensor, use_fused: bool) -> te.Tensor:
    if use_fused:
        return fused.gelu(x)
    inner = (x + x * x * x * 0.044715) * math.sqrt(2.0 / math.pi)
    return x * 0.5 * (inner.tanh() + 1.0)


class Block:
    """GPT-2 block: x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

    def __init__(self, width: int, heads: int, context: int, rng: np.random.Generator) -> None:
        self.width, self.heads = width, heads
        self.ln_1, self.ln_2 = LayerNorm(width), LayerNorm(width)
        self.c_attn = Linear(width, 3 * width, rng)
        self.c_proj = Linear(width, width, rng)
        self.c_fc = Linear(width, 4 * width, rng)
        self.mlp_proj = Linear(4 * width, width, rng)
        self.future = np.triu(np.ones((context, context), dtype=bool), k=1)

    def attention(self, x: te.Tensor, use_fused: bool) -> te.Tensor:
        batch, tokens, width = x.shape
        head = width // self.heads
        q, k, v = self.c_attn(x, use_fused).split(width, dim=2)
        q, k, v = (t.reshape(batch, tokens, self.heads, head).transpose(1, 2) for t in (q, k, v))
        if use_fused:
            mixed = fused.scaled_dot_product_attention(q, k, v, ~self.future[:tokens, :tokens])
        else:
            scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(head))
            scores = scores.masked_fill(self.future[:tokens, :tokens], float("-inf"))
            mixed = softmax(scores, use_fused) @ v
        return self.c_proj(mixed.transpose(1, 2).reshape(batch, tokens, width), use_fused)

    def __call__(self, x: te.Tensor, use_fused: bool = True) -> te.Tensor:
        x = x + self.attention(self.ln_1(x, use_fused), use_fused)
        hidden = gelu(self.c_fc(self.ln_2(x, use_fused), use_fused), use_fused)
        return x + self.mlp_proj(hidden, use_fused)

    def parameters(self) -> list[te.Tensor]:
        parts = (self.ln_1, self.c_attn, self.c_proj, self.ln_2, self.c_fc, self.mlp_proj)
        return [p for part in parts for p in part.parameters()]


def sgd_step(params: list[te.Tensor], lr: float) -> None:
    for p in params:
        p.assign_(p.numpy() - lr * p.grad)
        p.grad = None


# ---------------------------------------------------------------------------- torch twins


def torch_linear(layer: Linear) -> nn.Linear:
    out_features, in_features = layer.weight.shape
    twin = nn.Linear(in_features, out_features)
    with torch.no_grad():
        twin.weight.copy_(torch.from_numpy(layer.weight.numpy().copy()))
        twin.bias.copy_(torch.from_numpy(layer.bias.numpy().copy()))
    return twin


def torch_mlp(mlp: MLP) -> nn.Sequential:
    parts: list[nn.Module] = []
    for layer in mlp.layers:
        parts += [torch_linear(layer), nn.ReLU()]
    return nn.Sequential(*parts[:-1])


class TorchBlock(nn.Module):
    def __init__(self, block: Block, context: int, use_sdpa: bool) -> None:
        super().__init__()
        self.heads, self.use_sdpa = block.heads, use_sdpa
        self.ln_1, self.ln_2 = nn.LayerNorm(block.width), nn.LayerNorm(block.width)
        self.c_attn, self.c_proj = torch_linear(block.c_attn), torch_linear(block.c_proj)
        self.c_fc, self.mlp_proj = torch_linear(block.c_fc), torch_linear(block.mlp_proj)
        self.gelu = nn.GELU(approximate="tanh")
        self.register_buffer("future", torch.from_numpy(block.future))

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, width = x.shape
        head = width // self.heads
        q, k, v = self.c_attn(x).split(width, dim=2)
        q, k, v = (t.view(batch, tokens, self.heads, head).transpose(1, 2) for t in (q, k, v))
        if self.use_sdpa:
            mixed = TF.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(head))
            scores = scores.masked_fill(self.future[:tokens, :tokens], float("-inf"))
            mixed = torch.softmax(scores, dim=-1) @ v
        return self.c_proj(mixed.transpose(1, 2).reshape(batch, tokens, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.ln_1(x))
        return x + self.mlp_proj(self.gelu(self.c_fc(self.ln_2(x))))


# ---------------------------------------------------------------------------- numpy by hand


def numpy_mlp_step(layers: list[Linear], x: np.ndarray, labels: np.ndarray,
                   lr: float) -> Step:
    """One SGD step of a ReLU MLP with mean cross-entropy, written directly in numpy, on
    copies of ``layers``' weights: the fastest form found, to show what calling numpy op
    by op can reach at best.

    * Activations are feature-major, ``h = W @ h_prev`` with ``h`` of shape (features,
      batch): torch's (out, in) weight is then a C-ordered left operand, as OpenBLAS likes
      it, and the batch input is read through ``x.T`` without a copy.
    * Everything is in place where numpy allows it (``+=`` the bias as ``b[:, None]``,
      ``np.maximum(h, 0, out=h)``, softmax over axis 0 in the logits' buffer).
    * The output gradient is scaled by ``lr / batch`` once: backpropagation is linear in
      it, so every ``g @ h_prev.T`` is already the update and ``W -= gW`` is the whole SGD
      step, with no pass over the weight-sized gradients to scale them.
    (Measured against the naive batch-major form, ~0.45 ms for MNIST at 1 thread: ~0.40 ms
    as above without the lr folding, ~0.39 ms with it; preallocating every buffer for
    ``out=`` gained under 1% more, so it is left out.)
    """
    weights = [layer.weight.numpy().copy() for layer in layers]
    biases = [layer.bias.numpy().copy() for layer in layers]
    scale = np.float32(lr / len(labels))

    def step() -> float:
        acts = _hand_forward(weights, biases, x.T)
        loss = _hand_softmax_grad(acts[-1], labels, scale)  # the logits become the gradient
        _hand_backward_sgd(weights, biases, acts)
        return loss

    return step


def _hand_forward(weights: list[np.ndarray], biases: list[np.ndarray],
                  x_t: np.ndarray) -> list[np.ndarray]:
    """[input, hidden activations..., logits], each (features, batch)."""
    acts = [x_t]
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        h = w @ acts[-1]
        h += b[:, None]
        if i < len(weights) - 1:
            np.maximum(h, 0, out=h)
        acts.append(h)
    return acts


def _hand_softmax_grad(z: np.ndarray, labels: np.ndarray, scale: np.float32) -> float:
    """Mean cross-entropy of logits ``z`` (classes, batch); turns ``z`` in place into
    ``scale * (softmax(z) - onehot(labels))``, the loss gradient times ``lr``."""
    cols = np.arange(z.shape[1])
    z -= z.max(0)
    picked = z[labels, cols]  # fancy indexing copies: the shifted logits of the labels
    np.exp(z, out=z)
    total = z.sum(0)
    loss = float((np.log(total) - picked).mean())
    z *= scale / total
    z[labels, cols] -= scale
    return loss


def _hand_backward_sgd(weights: list[np.ndarray], biases: list[np.ndarray],
                       acts: list[np.ndarray]) -> None:
    """Backpropagate the (lr-scaled) gradient held in ``acts[-1]``, updating each layer as
    soon as its gradient is known (it still needs the old weights to pass ``g`` on)."""
    g = acts[-1]
    for i in reversed(range(len(weights))):
        grad_w = g @ acts[i].T
        biases[i] -= g.sum(1)
        if i:
            g = weights[i].T @ g
            g *= acts[i] > 0  # ReLU's derivative, from its output
        weights[i] -= grad_w


# ---------------------------------------------------------------------------- workloads

Step = Callable[[], float]
Sides = tuple[Step, ...]  # tensor_engine, PyTorch and, where there is one, numpy by hand


def mlp_tiny(rng: np.random.Generator, points: int) -> Sides:
    mlp = MLP([2, 16, 16, 1], rng, use_fused=False)  # primitive ops: measures per-op overhead
    twin = torch_mlp(mlp)
    x_np = rng.standard_normal((points, 2)).astype(np.float32)
    y_np = (x_np[:, :1] * x_np[:, 1:] > 0).astype(np.float32)
    x, y = te.tensor(x_np), te.tensor(y_np)
    xt, yt = torch.from_numpy(x_np), torch.from_numpy(y_np)
    opt = torch.optim.SGD(twin.parameters(), lr=0.05)

    def ours() -> float:
        diff = mlp(x) - y
        loss = (diff * diff).mean()
        loss.backward()
        sgd_step(mlp.parameters(), 0.05)
        return loss.item()

    def theirs() -> float:
        opt.zero_grad()
        loss = TF.mse_loss(twin(xt), yt)
        loss.backward()
        opt.step()
        return loss.item()

    return ours, theirs


def mlp_mnist(rng: np.random.Generator, batch: int, sizes: list[int],
              by_hand: bool = False) -> Sides:
    """tensor_engine and PyTorch steps and, with ``by_hand``, the numpy-by-hand one (off by
    default: ``benchmarks/gemm_layouts.py`` unpacks this builder's two sides)."""
    mlp = MLP(sizes, rng)
    twin = torch_mlp(mlp)
    x_np = rng.random((batch, sizes[0])).astype(np.float32)
    labels = rng.integers(0, sizes[-1], batch)
    x, xt, yt = te.tensor(x_np), torch.from_numpy(x_np), torch.from_numpy(labels)
    opt = torch.optim.SGD(twin.parameters(), lr=0.01)

    def ours() -> float:
        loss = fused.cross_entropy(mlp(x), labels)
        loss.backward()
        sgd_step(mlp.parameters(), 0.01)
        return loss.item()

    def theirs() -> float:
        opt.zero_grad()
        loss = TF.cross_entropy(twin(xt), yt)
        loss.backward()
        opt.step()
        return loss.item()

    if not by_hand:
        return ours, theirs
    return ours, theirs, numpy_mlp_step(mlp.layers, x_np, labels, 0.01)


def gpt2_block(rng: np.random.Generator, tokens: int, width: int, heads: int,
               use_fused: bool) -> Sides:
    block = Block(width, heads, tokens, rng)
    twin = TorchBlock(block, tokens, use_sdpa=use_fused)
    x_np = rng.standard_normal((1, tokens, width)).astype(np.float32)
    upstream = rng.standard_normal((1, tokens, width)).astype(np.float32)
    x = te.tensor(x_np, requires_grad=True)
    xt = torch.from_numpy(x_np.copy()).requires_grad_(True)
    up_t = torch.from_numpy(upstream)
    params = block.parameters()

    def ours() -> float:
        for p in params + [x]:
            p.grad = None
        out = block(x, use_fused)
        out.backward(upstream)
        return float(out.numpy()[0, 0, 0])

    def theirs() -> float:
        twin.zero_grad(set_to_none=True)
        xt.grad = None
        out = twin(xt)
        out.backward(up_t)
        return float(out.detach()[0, 0, 0])

    return ours, theirs


# ---------------------------------------------------------------------------- timing

HAND_HEADER = ["numpy by hand ms", "numpy by hand efficiency"]


def measure(build: Callable[[], Sides], book: RateBook, rounds: int, steps: int,
            quick: bool) -> list[str]:
    """The row cells from "tensor_engine ms" to "numpy by hand efficiency" for one
    workload."""
    sides = build()
    t_ours, t_theirs, *t_hand = side_by_side(sides, rounds, steps, warmup=0 if quick else 2)
    gemm = summarize(trace_products(sides[0]), book)
    return [f"{t_ours * 1e3:.3f}", f"{t_theirs * 1e3:.3f}", f"{t_ours / t_theirs:.2f}×",
            *gemm_columns(gemm, t_ours), *hand_columns(gemm, t_hand[0] if t_hand else None)]


def hand_columns(gemm: GemmSummary, hand_s: float | None) -> list[str]:
    """"numpy by hand ms" and its efficiency (measured like ours: the same best-layout
    product time over the hand step's time), or "-" without a hand-written step."""
    if hand_s is None:
        return ["-", "-"]
    return [f"{hand_s * 1e3:.3f}", f"{gemm.efficiency(hand_s):.0%}"]


def side_by_side(sides: Sides, rounds: int, steps: int, warmup: int) -> list[float]:
    """Median seconds per step for each side, alternating sides round by round.

    Each round starts with ``warmup`` untimed steps: numpy's OpenBLAS threads and torch's
    OpenMP threads spin for a while after their last call, and a step right after the other
    side's is measuring that handover, not the framework.
    """
    first = [side() for side in sides]  # warm-up, and a check that all compute the same
    for value in first[1:]:
        if not math.isclose(first[0], value, rel_tol=1e-3, abs_tol=1e-4):
            raise AssertionError(f"the models disagree: {first}")
    times: list[list[float]] = [[] for _ in sides]
    for _ in range(rounds):
        for side, side_times in zip(sides, times, strict=True):
            side_times.append(median_time(side, steps, warmup))
    return [statistics.median(side_times) for side_times in times]


def workloads(quick: bool) -> list[tuple[str, Callable[[], Sides], str, int, int]]:
    """(name, builder, target, rounds, timed steps per round)."""
    rng = np.random.default_rng(0)
    if quick:
        return [
            ("mlp-tiny", lambda: mlp_tiny(rng, 10), "≤ 1.5×", 1, 1),
            ("mlp-mnist", lambda: mlp_mnist(rng, 4, [16, 8, 8, 3], True), "≤ 1.0×", 1, 1),
            ("gpt2-block fused", lambda: gpt2_block(rng, 8, 16, 2, True), "≤ 1.0×", 1, 1),
            ("gpt2-block composed", lambda: gpt2_block(rng, 8, 16, 2, False), "-", 1, 1),
        ]
    return [
        ("MLP(2,16,16,1) SGD step, 100 points", lambda: mlp_tiny(rng, 100), "≤ 1.5×", 15, 20),
        ("MLP 784-256-128-10 SGD step, batch 64, cross-entropy",
         lambda: mlp_mnist(rng, 64, [784, 256, 128, 10], True), "≤ 1.0×", 15, 10),
        ("GPT-2 block fwd+bwd (1×64 tokens, 768 wide, 12 heads), fused ops",
         lambda: gpt2_block(rng, 64, 768, 12, True), "≤ 1.0×", 9, 3),
        ("same block, composed from primitive ops",
         lambda: gpt2_block(rng, 64, 768, 12, False), "-", 9, 3),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 1 repeat, no docs")
    parser.add_argument("--threads", type=int, nargs="*",
                        help="thread counts to measure (default: 1 and numpy's BLAS default)")
    parser.add_argument("--only", default="", help="run the workloads whose name contains this "
                        "text (case-insensitive); does not write docs")
    args = parser.parse_args()

    default_threads = _numpy_blas_threads()
    thread_counts = args.threads or sorted({1, default_threads})
    blas = blas_info()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_before = os.getloadavg()[0]
    rows = []
    for threads in thread_counts:
        torch.set_num_threads(threads)  # the same count for numpy's BLAS and for torch
        book = RateBook(rounds=1 if args.quick else 7)  # products timed at this thread count
        with threadpool_limits(limits=threads, user_api="blas"):
            for name, build, target, rounds, steps in workloads(args.quick):
                if args.only.lower() not in name.lower():
                    continue
                rows.append([name, threads, *measure(build, book, rounds, steps, args.quick),
                             target])
                print(f"[{threads} thread(s)] " + " | ".join(map(str, rows[-1])), flush=True)
    header = ["workload (float32)", "threads", "tensor_engine ms", "PyTorch ms", "ratio",
              *GEMM_HEADER, *HAND_HEADER, "target"]
    table = markdown_table(header, rows)
    env = {k: os.environ.get(k, "unset") for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    command = " ".join(["python benchmarks/tensor_vs_torch.py", *sys.argv[1:]])
    if "unset" in env.values():
        command = "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE " + command
    notes = (
        "## tensor_engine vs PyTorch (CPU)\n\n"
        f"Produced by `benchmarks/tensor_vs_torch.py` on {started}. "
        "Median time per step (median over rounds of the median step in each round; both "
        "sides alternate round by round in the same process, 2 untimed steps opening each "
        "round), same weights, "
        "numpy's BLAS and PyTorch limited to the same number of threads. "
        "ratio = tensor_engine / PyTorch (below 1 means faster than PyTorch). "
        "GEMM columns: the matrix products of one of our steps, traced and timed alone at "
        "the row's thread count (`benchmarks/_gemm.py`): their GFLOP, numpy's rate with each "
        "product in its fastest layout, numpy's rate in the layouts the engine used, and "
        "PyTorch's fastest rate for the same products. efficiency = (time numpy's "
        "best-layout products take alone) / (tensor_engine's step time): the rest of the "
        "step is the engine's own work (Python, elementwise ops, the update). Per-product "
        "detail: `benchmarks/gemm_layouts.py` (section below). "
        "numpy by hand: the same MNIST step written directly in numpy (feature-major "
        "activations, in-place elementwise ops, lr folded into the output gradient), timed "
        "in the same rounds, and its efficiency measured the same way: the floor for any "
        "engine that calls numpy op by op, since products run in sequence are slower than "
        "alone (each evicts the previous one's operands from cache) and the elementwise work "
        "and the update remain.\n\n"
        f"{table}\n\n"
        f"- host: {cpu_model()}, {os.cpu_count()} CPUs\n"
        f"- numpy BLAS: {blas}\n"
        f"- environment: OPENBLAS_CORETYPE={env['OPENBLAS_CORETYPE']}, "
        f"OPENBLAS_L2_SIZE={env['OPENBLAS_L2_SIZE']}\n"
        f"- PyTorch {torch.__version__}; numpy {np.__version__}; Python "
        f"{platform.python_version()}; {os.cpu_count()} CPUs\n"
        f"- command: `{command}`\n"
        f"- machine load (1-minute load average) {load_before:.1f} at the start and "
        f"{os.getloadavg()[0]:.1f} at the end, on {os.cpu_count()} CPUs. With more runnable "
        "processes than cores, multi-threaded BLAS calls stall waiting for their second "
        "thread to be scheduled, so the multi-thread rows are only meaningful on an idle "
        "machine; the 1-thread rows are the stable comparison."
    )
    print(notes)
    if not args.quick and not args.only:
        write_section("tensor_vs_torch", notes)


def _numpy_blas_threads() -> int:
    from threadpoolctl import threadpool_info

    counts = [i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"]
    return counts[0] if counts else torch.get_num_threads()


if __name__ == "__main__":
    main()
