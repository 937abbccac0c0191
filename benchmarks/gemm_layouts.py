"""Every matrix product of the benchmarked workloads, at numpy's rate in each memory layout.

For each workload the products tensor_engine actually asks numpy for are traced (shapes and
operand layouts, see ``benchmarks/_gemm.py``), then each distinct product is timed alone at
one thread in all eight layouts that compute it (each operand C- or Fortran-ordered, the
product or its transpose) and with PyTorch. The table shows, per product: its FLOPs, the
fastest numpy layout and its rate, the rate in the layout the engine used, and PyTorch's
fastest rate. Workloads:

* MNIST MLP 784-256-128-10, batch 64: one SGD step (forward, backward, update);
* one GPT-2 block, 1x64 tokens, width 768, 12 heads: forward + backward;
* GPT-2 124M forward of 1x64 tokens (no_grad), weights loaded as ``gpt2_vs_torch.py`` does;
* GPT-2 124M cached decode of one token (its products stream every weight once, so they are
  timed with operands read from memory rather than cache).

Usage::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/gemm_layouts.py
    python benchmarks/gemm_layouts.py --quick     # tiny shapes, one round, prints only
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from _gemm import Call, RateBook, summarize, trace_products  # noqa: E402
from _report import blas_info, cpu_model, markdown_table, write_section  # noqa: E402

Workload = tuple[str, list[Call], bool]  # (name, traced products, timed cold)


def _traced_step(build: Callable[[], tuple[Callable, Callable]]) -> list[Call]:
    ours, _ = build()
    ours()  # a first step, so that what the trace sees is the steady state
    return trace_products(ours)


def training_workloads(quick: bool) -> list[Workload]:
    """The MLP step and the GPT-2 block of benchmarks/tensor_vs_torch.py, traced."""
    import tensor_vs_torch as tvt

    rng = np.random.default_rng(0)
    sizes, batch = ([16, 8, 8, 3], 4) if quick else ([784, 256, 128, 10], 64)
    tokens, width, heads = (8, 16, 2) if quick else (64, 768, 12)
    return [
        (f"MLP {'-'.join(map(str, sizes))} SGD step, batch {batch}",
         _traced_step(lambda: tvt.mlp_mnist(rng, batch, sizes)), False),
        (f"GPT-2 block fwd+bwd 1x{tokens}x{width}",
         _traced_step(lambda: tvt.gpt2_block(rng, tokens, width, heads, True)), False),
    ]  # fmt: skip


def gpt2_model(quick: bool) -> object:
    """GPT-2 (124M, or tiny) with random weights, loaded as gpt2_vs_torch.py loads them."""
    from gpt2_vs_torch import write_random_gpt2

    from shared_nn.models.gpt import GPT

    if quick:
        shape = dict(n_layer=2, n_head=2, n_embd=64, vocab_size=512, n_positions=128)
    else:
        shape = dict(n_layer=12, n_head=12, n_embd=768, vocab_size=50257, n_positions=1024)
    with tempfile.TemporaryDirectory(prefix="gemm_layouts_") as folder:
        write_random_gpt2(Path(folder), **shape)
        return GPT.from_pretrained(folder, engine="tensor", dtype="float32")


def inference_workloads(model: object, tokens: int) -> list[Workload]:
    """GPT-2's forward of ``tokens`` tokens and one cached decode step, traced."""
    import tensor_engine
    from shared_nn.models.gpt import KVCache

    idx = np.random.default_rng(0).integers(0, model.config.vocab_size, size=(1, tokens))
    caches = [KVCache() for _ in range(model.config.n_layer)]

    def forward() -> None:
        model(idx)

    def decode() -> None:
        model._logits(model._hidden(idx[:, -1:], caches)[:, -1, :])

    with tensor_engine.no_grad():
        forward()
        model._hidden(idx[:, :8], caches)  # a prompt in the cache
        return [(f"GPT-2 forward 1x{tokens}", trace_products(forward), False),
                ("GPT-2 cached decode, 1 token", trace_products(decode), True)]


def product_rows(name: str, calls: list[Call], book: RateBook, cold: bool) -> list[list[str]]:
    """One row per distinct product (with its count), then the workload's total."""
    rows = []
    for call, count in Counter(calls).items():
        rates = book.rates(call, cold)
        best, best_s = rates.best()
        gflop = call.flops * count / 1e9
        rows.append([
            name, f"{call.label()}", str(count), f"{gflop:.4f}", best.label(),
            f"{call.flops / best_s / 1e9:.0f}", f"{call.flops / rates.numpy_s[call] / 1e9:.0f}",
            "n/a" if rates.torch_s is None else f"{call.flops / rates.torch_s / 1e9:.0f}",
        ])  # fmt: skip
    total = summarize(calls, book, cold)
    torch_rate = total.rate(total.torch_s)
    rows.append([f"**{name}: all**", "", str(len(calls)), f"{total.flops / 1e9:.4f}", "",
                 f"{total.rate(total.best_s):.0f}", f"{total.rate(total.engine_s):.0f}",
                 "n/a" if torch_rate is None else f"{torch_rate:.0f}"])  # fmt: skip
    return rows


HEADER = ["workload", "product as tensor_engine calls numpy (C/F: operand memory order)",
          "count", "GFLOP", "numpy's fastest layout for it", "numpy best GFLOP/s",
          "numpy as called GFLOP/s", "torch GFLOP/s"]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny shapes, one round, no docs")
    parser.add_argument("--rounds", type=int, default=7, help="alternating timing rounds")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    load_start = os.getloadavg()[0]
    book = RateBook(rounds=1 if args.quick else args.rounds)
    rows: list[list[str]] = []
    with threadpool_limits(limits=1, user_api="blas"):
        workloads = training_workloads(args.quick)
        workloads += inference_workloads(gpt2_model(args.quick), 8 if args.quick else 64)
        for name, calls, cold in workloads:
            rows += product_rows(name, calls, book, cold)
            print(f"measured {name}", flush=True)
        blas = blas_info()
    text = report(markdown_table(HEADER, rows), blas, load_start)
    print(text)
    if not args.quick:
        write_section("gemm_layouts", text)


def report(table: str, blas: str, load_start: float) -> str:
    env = {k: os.environ.get(k, "unset") for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    import torch

    return "\n".join([
        "## Matrix products by memory layout (numpy's BLAS vs PyTorch's), one thread",
        "",
        "Each product a workload's tensor_engine step asks numpy for, traced, then timed "
        "alone in all eight layouts that compute it (each operand C- or Fortran-ordered, "
        "the product or its transpose; median of alternating rounds, each block of repeats "
        "opened by an untimed call so that the operands are warm) and with PyTorch "
        "(fastest of the same eight). The *all* rows add up these times: products timed "
        "one by one with their operands in cache, faster than the same products run back "
        "to back in a step (the efficiency columns of the tables above time that replay). "
        "`(m x k)C @ (k x n)F` is numpy's `a @ b` with `a` "
        "C-ordered and `b` Fortran-ordered, e.g. `x @ W.T` for a C-ordered W. Decode "
        "products stream weights, so they are timed with operands read from memory; timed "
        "one at a time their rates swing by up to 2x between runs, while a loop over all of "
        "them holds within a few percent in any of three layouts (`gpt2_vs_torch.py`'s "
        "weight-streaming limit), so read the decode rows as orders of magnitude. Rates of "
        "the other products vary by 5-20% between runs on this shared host; the layouts "
        "where the right operand is column-major and the product's output column-major "
        "(what the engine asks for `x @ W.T`) varied least.",
        "",
        table,
        "",
        f"- numpy BLAS: {blas}; PyTorch {torch.__version__} "
        f"({'MKL' if torch.backends.mkl.is_available() else 'no MKL'}, 1 thread)",
        f"- environment: OPENBLAS_CORETYPE={env['OPENBLAS_CORETYPE']}, "
        f"OPENBLAS_L2_SIZE={env['OPENBLAS_L2_SIZE']}; {cpu_model()}, {os.cpu_count()} CPUs; "
        f"numpy {np.__version__}, Python {platform.python_version()}",
        "- command: `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python "
        "benchmarks/gemm_layouts.py`",
        f"- machine load (1-minute load average): {load_start:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end, on {os.cpu_count()} CPUs shared with other work",
    ])  # fmt: skip


if __name__ == "__main__":
    main()
