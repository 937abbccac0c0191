"""GPT-2 124M on the tensor engine vs PyTorch + transformers, in one process, same weights.

Workloads (float32, batch 1):

- forward of 64 tokens (full logits), under no_grad / torch.no_grad;
- greedy generation of 32 tokens with the KV cache (prompt: 8 tokens);
- the same without the cache (every step recomputes the whole context).

Cached decoding is also profiled step by step against the host's weight-streaming limit (a
bare numpy loop of the weight products) and against the same decode written by hand in
numpy (:class:`HandDecoder`).

Weights: real GPT-2 from ``--weights DIR`` (a Hugging Face folder) when given, otherwise
random N(0, 0.02) arrays drawn with numpy, written once as a Hugging Face folder, and loaded
from it by *both* ``GPT.from_pretrained`` and ``GPT2LMHeadModel.from_pretrained``.

Threads: each workload is measured with one thread per library, then with each library's
default. Both libraries run in this one process, each with its own thread pool whose idle
workers spin; on a 2-core machine that other processes keep busy, the two-thread rows
measure contention (a decode step took 100-170 ms instead of 10-28 ms here) rather than the
kernels, while the one-thread rows stay stable. ``--threads 1`` measures only those.

Timings are medians of ``--repeats`` runs, taken alternately (ours, torch, ours, ...), so
both sides see the same machine load. Memory: the growth of the process's peak resident set
during one run of the workload (Linux: the peak is reset through /proc/self/clear_refs
before it), for both sides; for ours also tracemalloc's peak, which counts every numpy
buffer allocated during the run.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/gpt2_vs_torch.py
    python benchmarks/gpt2_vs_torch.py --quick   # tiny config, a smoke test
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import importlib
import json
import math
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _gemm import (  # noqa: E402
    GEMM_HEADER,
    RateBook,
    gemm_columns,
    record_products,
    replays,
)
from _report import blas_info, cpu_model, markdown_table, seconds_of, write_section  # noqa: E402

PROMPT = [15496, 11, 314, 1101, 257, 3303, 2746, 11]  # "Hello, I'm a language model,"


# ---------------------------------------------------------------------------------------
# Weights shared by both sides
# ---------------------------------------------------------------------------------------


def write_random_gpt2(directory: Path, n_layer: int, n_head: int, n_embd: int,
                      vocab_size: int, n_positions: int, seed: int = 0) -> None:  # fmt: skip
    """A Hugging Face GPT-2 folder with N(0, 0.02) float32 weights (LayerNorms at 1 / 0)."""
    from safetensors.numpy import save_file

    rng = np.random.default_rng(seed)

    def normal(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)).astype(
            np.float32
        )

    C = n_embd
    t = {"transformer.wte.weight": normal(vocab_size, C),
         "transformer.wpe.weight": normal(n_positions, C)}  # fmt: skip
    for i in range(n_layer):
        p = f"transformer.h.{i}."
        for ln in ("ln_1", "ln_2"):
            t[p + ln + ".weight"] = np.ones(C, np.float32)
            t[p + ln + ".bias"] = np.zeros(C, np.float32)
        for name, (n_in, n_out) in {"attn.c_attn": (C, 3 * C), "attn.c_proj": (C, C),
                                    "mlp.c_fc": (C, 4 * C), "mlp.c_proj": (4 * C, C)}.items():
            t[p + name + ".weight"] = normal(n_in, n_out)  # Conv1D layout (in, out)
            t[p + name + ".bias"] = normal(n_out)
    t["transformer.ln_f.weight"] = np.ones(C, np.float32)
    t["transformer.ln_f.bias"] = np.zeros(C, np.float32)
    save_file(t, str(directory / "model.safetensors"))
    config = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "n_layer": n_layer,
              "n_head": n_head, "n_embd": n_embd, "vocab_size": vocab_size,
              "n_positions": n_positions, "n_ctx": n_positions,
              "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
              "bos_token_id": None, "eos_token_id": None}  # fmt: skip
    (directory / "config.json").write_text(json.dumps(config))


# ---------------------------------------------------------------------------------------
# A decoder written by hand in numpy: the floor for any engine that calls numpy op by op
# ---------------------------------------------------------------------------------------

# One block's parameters, in the order the decoder unpacks them.
_BLOCK_KEYS = tuple(f"{layer}.{kind}" for layer in ("ln_1", "attn.c_attn", "attn.c_proj", "ln_2",
                                                    "mlp.c_fc", "mlp.c_proj")
                    for kind in ("weight", "bias"))  # fmt: skip
_GELU_C = math.sqrt(2.0 / math.pi)


def _gelu_(h: np.ndarray, tmp: np.ndarray) -> np.ndarray:
    """GPT-2's tanh-GELU in place, 0.5 h (1 + tanh(c (h + 0.044715 h³))) with c = √(2/π),
    as eight ufunc calls writing into ``h`` and a scratch array ``tmp`` of its shape."""
    np.multiply(h, h, out=tmp)
    np.multiply(tmp, 0.044715 * _GELU_C, out=tmp)
    np.add(tmp, _GELU_C, out=tmp)
    np.multiply(tmp, h, out=tmp)  # c (h + 0.044715 h³)
    np.tanh(tmp, out=tmp)
    np.add(tmp, 1.0, out=tmp)
    np.multiply(h, 0.5, out=h)
    return np.multiply(h, tmp, out=h)


def _layer_norm(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    """LayerNorm of each row of ``x``, into new arrays (the prompt pass's version)."""
    d = x - x.mean(axis=-1, keepdims=True)
    return d / np.sqrt((d * d).mean(axis=-1, keepdims=True) + eps) * g + b


def _softmax_(s: np.ndarray) -> None:
    """Softmax along the last axis, in place (minus each row's maximum first, so no exp
    overflows)."""
    np.subtract(s, np.maximum.reduce(s, axis=-1, keepdims=True), out=s)
    np.exp(s, out=s)
    np.divide(s, np.add.reduce(s, axis=-1, keepdims=True), out=s)


def _linear(w: np.ndarray, a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """``out = w @ a + b`` for one row ``a``: a matrix-vector product (BLAS gemv) on the
    model's own ``(out, in)`` array, which reads its rows in memory order. ``a @ w.T`` makes
    the same gemv call; only a transposed copy of ``w`` (twice the memory) would differ."""
    np.matmul(w, a, out=out)
    np.add(out, b, out=out)


class HandDecoder:
    """Greedy GPT-2 decoding with a KV cache, written out in numpy (batch 1).

    It reads the tensor-engine model's own parameter arrays (no copies, no transposes) and
    does the math of ``shared_nn.models.gpt`` directly: the prompt goes through in one pass
    (:meth:`prefill`: matrix products over all its tokens), which fills the cache; then
    :meth:`step` feeds one token at a time. The step is as lean as numpy allows: every
    buffer (cache, activations, scores, logits) is allocated once and written in place
    through ``out=``, so a token costs the weight products plus about 40 small ufunc and
    BLAS calls per layer, and nothing else: no graph, no tensor objects, no concatenation.
    """

    def __init__(self, model: Any) -> None:
        cfg = model.config
        p = {name: t.numpy() for name, t in model.named_parameters()}
        self.wte, self.wpe = p["transformer.wte.weight"], p["transformer.wpe.weight"]
        self.blocks = [tuple(p[f"transformer.h.{i}.{key}"] for key in _BLOCK_KEYS)
                       for i in range(cfg.n_layer)]  # fmt: skip
        self.ln_f = p["transformer.ln_f.weight"], p["transformer.ln_f.bias"]
        self.eps, self.block_size = cfg.layer_norm_epsilon, cfg.block_size
        self.n_head, self.scale = cfg.n_head, 1.0 / math.sqrt(cfg.head_dim)
        C, dtype = cfg.n_embd, self.wte.dtype
        # The step's workspace: x is the residual stream, a its LayerNorm'd copy, y the
        # heads' outputs side by side, o a projection's output before it joins x.
        self.x, self.a, self.y, self.o = (np.empty(C, dtype) for _ in range(4))
        self.ones = np.ones(C, dtype)
        self.qkv, self.logits = np.empty(3 * C, dtype), np.empty(len(self.wte), dtype)
        self.h, self.tmp = np.empty(4 * C, dtype), np.empty(4 * C, dtype)
        # Views: this token's query, key and value per head, (n_head, head_dim) each.
        self.q, self.k, self.v = self.qkv.reshape(3, cfg.n_head, cfg.head_dim)
        self.k_cache = self.v_cache = self.scores = np.empty(0, dtype)
        self.t = 0  # tokens in the cache

    def __call__(self, prompt_ids: Any, new_tokens: int) -> np.ndarray:
        """The prompt (ids, shape (T,) or (1, T)) followed by ``new_tokens`` greedy
        tokens, as a (1, T + new_tokens) int64 array, like ``GPT.generate``."""
        ids = [int(i) for i in np.asarray(prompt_ids).reshape(-1)]
        total = len(ids) + new_tokens
        if new_tokens > 0:
            ids.append(self.prefill(ids, capacity=total - 1))  # the last token is not fed
        while len(ids) < total:
            ids.append(self.step(ids[-1]))
        return np.array([ids], dtype=np.int64)

    def prefill(self, ids: list[int], capacity: int) -> int:
        """Empty the cache, make room for ``capacity`` tokens, run the prompt ``ids``
        through in one pass (filling the cache); return the greedy next token."""
        T, L, nh, dtype = len(ids), len(self.blocks), self.n_head, self.wte.dtype
        if not 0 < T <= capacity <= self.block_size:
            raise ValueError(f"{T} prompt tokens, room for {capacity}: over the block size")
        shape = (L, nh, capacity, len(self.x) // nh)  # per layer and head: (time, head_dim)
        self.k_cache, self.v_cache = np.empty(shape, dtype), np.empty(shape, dtype)
        self.scores = np.empty((nh, capacity), dtype)
        x = self.wte[ids] + self.wpe[:T]
        for i, (g1, b1, w_qkv, b_qkv, w_o, b_o, g2, b2, w_fc, b_fc, w_p, b_p) in enumerate(
            self.blocks
        ):
            qkv = _layer_norm(x, g1, b1, self.eps) @ w_qkv.T + b_qkv
            x = x + self._prompt_attention(i, qkv) @ w_o.T + b_o
            h = _layer_norm(x, g2, b2, self.eps) @ w_fc.T + b_fc
            x = x + _gelu_(h, np.empty_like(h)) @ w_p.T + b_p
        self.t = T
        return int(np.argmax(self.wte @ _layer_norm(x[-1], *self.ln_f, self.eps)))

    def _prompt_attention(self, layer: int, qkv: np.ndarray) -> np.ndarray:
        """Causal attention among the prompt's T tokens, (T, 3C) -> (T, C); stores their
        keys and values in the cache."""
        T = len(qkv)
        q, k, v = qkv.reshape(T, 3, self.n_head, -1).transpose(1, 2, 0, 3)  # (nh, T, hd)
        self.k_cache[layer, :, :T], self.v_cache[layer, :, :T] = k, v
        s = q @ k.transpose(0, 2, 1) * self.scale
        s[:, np.triu(np.ones((T, T), dtype=bool), 1)] = -np.inf  # no look at later tokens
        _softmax_(s)
        return (s @ v).transpose(1, 0, 2).reshape(T, -1)

    def step(self, token: int) -> int:
        """Feed ``token`` at the next position; return the greedy token after it."""
        t, x, a = self.t, self.x, self.a
        if t >= self.scores.shape[1]:
            raise ValueError(f"the cache holds {t} tokens, its capacity; prefill with more")
        np.add(self.wte[token], self.wpe[t], out=x)
        for i, (g1, b1, w_qkv, b_qkv, w_o, b_o, g2, b2, w_fc, b_fc, w_p, b_p) in enumerate(
            self.blocks
        ):
            self._norm(x, g1, b1)
            _linear(w_qkv, a, b_qkv, self.qkv)
            self._attend(i, t)
            _linear(w_o, self.y, b_o, self.o)
            np.add(x, self.o, out=x)
            self._norm(x, g2, b2)
            _linear(w_fc, a, b_fc, self.h)
            _gelu_(self.h, self.tmp)
            _linear(w_p, self.h, b_p, self.o)
            np.add(x, self.o, out=x)
        self._norm(x, *self.ln_f)
        np.matmul(self.wte, a, out=self.logits)  # the tied output layer
        self.t = t + 1
        return int(self.logits.argmax())

    def _norm(self, x: np.ndarray, g: np.ndarray, b: np.ndarray) -> None:
        """LayerNorm of the row ``x`` into ``self.a``: mean and variance as dot products,
        the rest in place."""
        a, n = self.a, len(x)
        np.subtract(x, np.dot(x, self.ones) / n, out=a)
        np.multiply(a, 1.0 / math.sqrt(np.dot(a, a) / n + self.eps), out=a)
        np.multiply(a, g, out=a)
        np.add(a, b, out=a)

    def _attend(self, layer: int, t: int) -> None:
        """This token's attention in ``layer``, into ``self.y``: its key and value are
        written into the cache at position ``t``, then each head scores the ``t + 1``
        cached keys, softmaxes and mixes the cached values (stacked gemv calls, one per
        head)."""
        keys, values = self.k_cache[layer, :, : t + 1], self.v_cache[layer, :, : t + 1]
        keys[:, t], values[:, t] = self.k, self.v
        s = self.scores[:, : t + 1]
        np.multiply(self.q, self.scale, out=self.q)
        np.matmul(keys, self.q[:, :, None], out=s[:, :, None])  # (nh, t+1, hd) @ (nh, hd, 1)
        _softmax_(s)
        np.matmul(s[:, None, :], values, out=self.y.reshape(self.n_head, 1, -1))


def numpy_decoder(model: Any) -> HandDecoder:
    """A greedy generator ``generate(prompt_ids, new_tokens) -> ids`` for ``model`` (a
    ``shared_nn`` GPT), written by hand in numpy on the model's own weight arrays: the
    fastest an engine that calls numpy one op at a time could decode. It is a
    :class:`HandDecoder`, whose ``prefill`` and ``step`` can also be timed on their own."""
    return HandDecoder(model)


# ---------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def peak_rss_growth_mib(fn: Callable[[], object]) -> float | None:
    """How far the resident set's peak rose above its starting point while ``fn`` ran."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)  # give freed heap back, so it counts again
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    except OSError:
        return None
    before = _status_kib("VmRSS")
    fn()
    peak = _status_kib("VmHWM")
    if before is None or peak is None:
        return None
    return (peak - before) / 1024


def tracemalloc_peak_mib(fn: Callable[[], object]) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def alternate_medians(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds of each function, run round-robin after one warm-up each."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(seconds_of(fn))
    return {name: statistics.median(ts) for name, ts in times.items()}


def weight_products(model: object) -> dict[str, Callable[[], object]]:
    """A bare numpy loop over a decode step's weight products (one row times every 2-D
    weight but the position table), written three ways: ``x @ W.T`` and ``(W @ xᵀ)ᵀ`` with
    the weights as stored, and ``x @ Wt`` with transposed copies ``Wt`` made for it.

    At batch 1 each product reads its whole weight once, so the loop measures how fast this
    host streams the model from memory: no decoder can beat it by more than the attention
    and elementwise work it leaves out. The fastest of the three is the host's
    weight-streaming limit.
    """
    weights = [p.numpy() for n, p in model.named_parameters()
               if p.ndim == 2 and not n.endswith("wpe.weight")]  # fmt: skip
    rows = {w.shape[1]: np.ones((1, w.shape[1]), dtype=w.dtype) for w in weights}
    copies = [np.ascontiguousarray(w.T) for w in weights]
    return {
        "x @ W.T": lambda: [rows[w.shape[1]] @ w.T for w in weights],
        "(W @ xᵀ)ᵀ": lambda: [(w @ rows[w.shape[1]].T).T for w in weights],
        "x @ Wt (transposed copies)": lambda: [rows[t.shape[0]] @ t for t in copies],
    }


def decode_breakdown(model: object, prompt: np.ndarray, hand: HandDecoder, steps: int = 16,
                     rounds: int = 15) -> tuple[str, float]:
    """A cached decode step of ours and of ``hand`` (the same model decoded by hand in
    numpy) against the host's weight-streaming limit, measured in alternating rounds (one
    round: ``steps`` decode steps of ours, as many of the hand decoder, then each bare loop
    once), so that a change in the machine's load or memory traffic hits all alike; and how
    much of our step the matrix products take (traced through the engine's ``kernels.mm``)."""
    import tensor_engine
    from shared_nn.models.gpt import KVCache

    engine = importlib.import_module("tensor_engine.kernels")
    original, spent = engine.mm, {"s": 0.0, "calls": 0}

    def timed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        out = original(a, b)
        spent["s"] += time.perf_counter() - start
        spent["calls"] += 1
        return out

    def decode(trace: bool = False) -> float:
        caches = [KVCache() for _ in range(model.config.n_layer)]
        with tensor_engine.no_grad():
            model._logits(model._hidden(prompt, caches)[:, -1, :])
            engine.mm = timed if trace else original
            try:
                start = time.perf_counter()
                for _ in range(steps):
                    h = model._hidden(prompt[:, -1:], caches)
                    model._logits(h[:, -1, :]).numpy()
                return (time.perf_counter() - start) / steps
            finally:
                engine.mm = original

    loops = weight_products(model)
    per_token, by_hand, bare = [], [], {name: [] for name in loops}
    decode()
    hand_step_seconds(hand, prompt, steps)
    for _ in range(rounds):
        per_token.append(decode())
        by_hand.append(hand_step_seconds(hand, prompt, steps))
        for name, loop in loops.items():
            bare[name].append(_time(loop))
    total = statistics.median(per_token)
    limits = {name: statistics.median(ts) for name, ts in bare.items()}
    fastest = min(limits, key=limits.__getitem__)
    decode(trace=True)
    products, calls = spent["s"] / steps, spent["calls"] // steps
    megabytes = sum(p.numpy().nbytes for n, p in model.named_parameters()
                    if p.ndim == 2 and not n.endswith("wpe.weight")) / 1e6  # fmt: skip
    ways = ", ".join(f"{name} {t * 1e3:.2f} ms" for name, t in limits.items())
    limit_gbps = megabytes / 1e3 / limits[fastest]
    return (f"{total * 1e3:.2f} ms per token, {products * 1e3:.2f} ms "
            f"({products / total:.0%}) of it in {calls} matrix products. The host's "
            f"weight-streaming limit, a bare numpy loop of the weight products "
            f"({megabytes:.1f} MB; {ways}; medians of {rounds} rounds alternating with "
            f"ours), is {limits[fastest] * 1e3:.2f} ms per token "
            f"({limit_gbps:.1f} GB/s, {fastest}): decoding runs at "
            f"**{limits[fastest] / total:.1%} of it** (target: at least 90%). "
            + _hand_sentence(statistics.median(by_hand), total, limits)), limit_gbps


def hand_step_seconds(hand: HandDecoder, prompt: np.ndarray, steps: int) -> float:
    """Seconds per cached decode step of the hand decoder: the prompt in one pass (not
    timed), then ``steps`` greedy steps, each feeding the token the last one chose."""
    token = hand.prefill(list(prompt[0]), capacity=prompt.shape[1] + steps)
    start = time.perf_counter()
    for _ in range(steps):
        token = hand.step(token)
    return (time.perf_counter() - start) / steps


def _hand_sentence(hand_s: float, ours_s: float, limits: dict[str, float]) -> str:
    """Where the hand decoder lands, and how our distance to the limit splits: the engine's
    share (ours minus the hand decoder), numpy's cost of the small ops (the hand decoder
    minus the bare loop on the same arrays) and, when transposed copies make the fastest
    loop, the layout's share (the hand decoder, like ours, keeps no copies). When ours is
    no slower than the hand decoder, the engine has no share to give."""
    limit_s = min(limits.values())
    same_arrays_s = min(t for name, t in limits.items() if "copies" not in name)
    sentence = (f"A numpy-by-hand decoder of the same model (same greedy tokens, checked) runs "
                f"at {hand_s * 1e3:.2f} ms per token, **{limit_s / hand_s:.1%} of the limit**")
    if ours_s <= hand_s:
        return (sentence + f"; ours takes {(hand_s - ours_s) * 1e3:.2f} ms per token less, so "
                "none of our time above the limit is the engine's own")
    if ours_s <= limit_s:
        return sentence + "; ours is no slower than the bare loop itself"
    shares = [f"{(ours_s - hand_s) * 1e3:.2f} ms is the engine's",
              f"{(hand_s - same_arrays_s) * 1e3:.2f} ms numpy's per-op cost"]  # fmt: skip
    if same_arrays_s > limit_s:
        shares.append(f"{(same_arrays_s - limit_s) * 1e3:.2f} ms the transposed copies' layout")
    return (sentence + f": of our {(ours_s - limit_s) * 1e3:.2f} ms per token above the limit, "
            + ", ".join(shares[:-1]) + " and " + shares[-1])


def _time(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# ---------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny config (a smoke test)")
    p.add_argument("--weights", type=Path, default=None, help="a Hugging Face GPT-2 folder")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", default="1,default",
                   help="comma-separated thread counts for numpy's BLAS and torch, each measured "
                        "in turn; 'default' leaves each library's own setting "
                        "(default: 1,default; see the module docstring)")
    p.add_argument("--forward-tokens", type=int, default=64)
    p.add_argument("--new-tokens", type=int, default=32)
    p.add_argument("--no-write", action="store_true", help="print only, leave docs alone")
    p.add_argument("--profile", action="store_true", help="cProfile one cached generation")
    args = p.parse_args(argv)
    if args.repeats < 1 or args.forward_tokens < 1 or args.new_tokens < 1:
        p.error("--repeats, --forward-tokens and --new-tokens must be positive")
    try:
        args.threads = [None if t == "default" else int(t) for t in args.threads.split(",")]
    except ValueError:
        p.error(f"--threads: expected numbers such as 1,2 or 'default', got {args.threads!r}")
    if any(t is not None and t < 1 for t in args.threads):
        p.error("--threads must be positive")
    if args.weights is not None and not args.weights.is_dir():
        p.error(f"--weights: no such folder {args.weights}")
    return args


def main(argv: list[str] | None = None) -> None:  # noqa: C901 - a linear script
    args = parse_args(argv)
    load_start = os.getloadavg()[0]
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    import torch
    import transformers

    from shared_nn.models.gpt import GPT

    transformers.logging.set_verbosity_error()

    tmp = None
    if args.weights is not None:
        folder, source = args.weights, f"real weights from {args.weights.name}"
    else:
        tmp = tempfile.TemporaryDirectory(prefix="gpt2_bench_")
        folder = Path(tmp.name)
        if args.quick:
            shape = dict(n_layer=2, n_head=2, n_embd=64, vocab_size=512, n_positions=128)
        else:
            shape = dict(n_layer=12, n_head=12, n_embd=768, vocab_size=50257, n_positions=1024)
        write_random_gpt2(folder, **shape)
        source = "random N(0, 0.02) weights (numpy), loaded by both"

    ours = GPT.from_pretrained(folder, engine="tensor", dtype="float32")
    theirs = transformers.GPT2LMHeadModel.from_pretrained(folder, torch_dtype=torch.float32)
    theirs.eval()
    if tmp is not None:
        tmp.cleanup()
    cfg = ours.config
    name = "GPT-2 124M" if cfg.n_layer == 12 and cfg.n_embd == 768 else (
        f"tiny GPT-2 (L{cfg.n_layer} H{cfg.n_head} C{cfg.n_embd} V{cfg.vocab_size})")

    rng = np.random.default_rng(0)
    T = min(args.forward_tokens, cfg.block_size)
    fwd_idx = rng.integers(0, cfg.vocab_size, size=(1, T))
    prompt = np.array([[i % cfg.vocab_size for i in PROMPT]])
    N = min(args.new_tokens, cfg.block_size - prompt.shape[1])
    fwd_t = torch.as_tensor(fwd_idx)
    prompt_t = torch.as_tensor(prompt)
    mask_t = torch.ones_like(prompt_t)

    def ours_forward() -> np.ndarray:
        import tensor_engine

        with tensor_engine.no_grad():
            return ours(fwd_idx).numpy()

    def torch_forward() -> np.ndarray:
        with torch.no_grad():
            return theirs(fwd_t).logits.numpy()

    def ours_generate(use_cache: bool) -> Callable[[], np.ndarray]:
        return lambda: ours.generate(prompt, N, temperature=0.0, use_cache=use_cache)

    def torch_generate(use_cache: bool) -> Callable[[], np.ndarray]:
        def run() -> np.ndarray:
            with torch.no_grad():
                return theirs.generate(prompt_t, attention_mask=mask_t, max_new_tokens=N,
                                       min_new_tokens=N, do_sample=False, use_cache=use_cache,
                                       pad_token_id=0).numpy()  # fmt: skip

        return run

    # Sanity: the two models compute the same function, and so does the hand decoder.
    max_diff = float(np.abs(ours_forward() - torch_forward()).max())
    same_tokens = np.array_equal(ours_generate(True)(), torch_generate(True)())
    hand = numpy_decoder(ours)
    assert np.array_equal(hand(prompt, N), ours_generate(True)()), "hand decoder differs"

    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.runcall(ours_generate(True))
        pstats.Stats(profiler).sort_stats("tottime").print_stats(20)

    workloads = {
        f"forward 1x{T}": (ours_forward, torch_forward, T),
        f"greedy {N} tokens, KV cache": (ours_generate(True), torch_generate(True), N),
        f"greedy {N} tokens, no cache": (ours_generate(False), torch_generate(False), N),
    }
    from threadpoolctl import threadpool_limits

    # The forward's products, traced. Generation is judged against the weight-streaming
    # limit instead (the profile line under the table): its one-row products stream weights
    # from memory, and timed one at a time their rates swing by 2x from run to run, where a
    # loop over all of them, in any of three layouts, holds within a few percent.
    products = {label: record_products(mine) for label, (mine, _, _) in workloads.items()
                if label.startswith("forward")}
    weight_mb = sum(p.numpy().nbytes for n, p in ours.named_parameters()
                    if p.ndim == 2 and not n.endswith("wpe.weight")) / 1e6  # fmt: skip
    rows, breakdowns = [], []
    default_torch_threads = torch.get_num_threads()
    for threads in args.threads:
        limiter = threadpool_limits(limits=threads, user_api="blas")
        torch.set_num_threads(threads or default_torch_threads)
        label_threads = "default" if threads is None else str(threads)
        book = RateBook(rounds=1 if args.quick else 5)
        breakdown, limit_gbps = decode_breakdown(ours, prompt, hand)
        breakdowns.append((label_threads, breakdown))
        for label, (mine, peer, n_tokens) in workloads.items():
            plays = replays(products[label], book) if label in products else None
            extras = {f"products {i}": fn for i, fn in enumerate(plays.runners())} if plays else {}
            med = alternate_medians({"ours": mine, "torch": peer, **extras}, args.repeats)
            rss_ours, rss_torch = peak_rss_growth_mib(mine), peak_rss_growth_mib(peer)
            traced = tracemalloc_peak_mib(mine)
            fmt = lambda v: "n/a" if v is None else f"{v:.0f}"  # noqa: E731
            gemm = ["n/a"] * len(GEMM_HEADER)
            stream = "n/a"
            if plays:
                gemm = gemm_columns(plays.summary([med[i] for i in extras]), med["ours"])
            else:  # each generated token is one pass over the weights
                stream = f"{weight_mb / 1e3 * n_tokens / med['ours']:.1f} ({limit_gbps:.1f})"
            rows.append([
                label, label_threads, f"{med['ours'] * 1e3:.1f}", f"{med['torch'] * 1e3:.1f}",
                f"{n_tokens / med['ours']:.1f}", f"{n_tokens / med['torch']:.1f}",
                f"{med['torch'] / med['ours']:.2f}x", *gemm, stream,
                f"{fmt(rss_ours)} / {traced:.0f}", fmt(rss_torch),
            ])  # fmt: skip
            print(rows[-1], flush=True)
        limiter.unregister()

    env_note = ", ".join(
        f"{v}={os.environ[v]}" if v in os.environ else f"{v} unset"
        for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
    )
    unset = not any(v in os.environ for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"))
    command = ("env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE " if unset else "") + (
        "python benchmarks/gpt2_vs_torch.py " + " ".join(sys.argv[1:]))
    load_end = os.getloadavg()[0]
    header = ["workload", "BLAS threads", "ours ms", "torch ms", "ours tok/s", "torch tok/s",
              "speed-up (torch time / ours)", *GEMM_HEADER,
              "weights streamed GB/s (host limit)", "ours peak MiB (RSS / tracemalloc)",
              "torch peak MiB (RSS)"]  # fmt: skip
    text = "\n".join([
        f"## {name}: tensor engine vs PyTorch {torch.__version__} + transformers "
        f"{transformers.__version__}",
        "",
        f"Produced by `benchmarks/gpt2_vs_torch.py` on {started}. "
        f"float32, batch 1, {source}. Medians of {args.repeats} alternating runs. "
        "tok/s = tokens processed (forward) or generated (greedy, prompt of "
        f"{prompt.shape[1]}) per second. GEMM columns (forward): the matrix products of one "
        "forward of ours, recorded (operands and all) and replayed back to back with nothing "
        "else in between, at the row's thread count, timed in the same alternating runs as "
        "the forwards (before each product its activation is read into cache, untimed): "
        "their GFLOP, numpy's rate with each product in its fastest layout "
        "(chosen by timing its eight layouts alone; a weight the layout needs transposed is "
        "copied once, outside the timing; where the engine's own layouts ran faster in "
        "sequence, theirs), numpy's rate in the layouts the engine used, "
        "PyTorch's rate with each product in its own fastest layout, and efficiency = "
        "(time the best-layout products take alone) / (our time). Generation is measured "
        "against the host's weight-streaming limit instead (profile lines below the table): "
        "its column gives the weight bytes a run reads (one pass per generated token) per "
        "second, and in brackets the bare numpy loop's rate. The profile line also times "
        "the same greedy decode written by hand in numpy on the same weight arrays (KV cache "
        "in preallocated buffers, elementwise ops in place): the floor for any engine that "
        "calls numpy op by op, so ours minus it is the engine's overhead and it minus the "
        "bare loop on the same (untransposed) arrays is the cost of numpy's small ops. "
        "Peak memory: growth of the "
        "process's peak RSS during one run (VmHWM after resetting it via "
        "/proc/self/clear_refs); for ours also tracemalloc's peak (every numpy buffer).",
        "",
        markdown_table(header, rows),
        "",
        f"- Check: max |logits ours - torch| = {max_diff:.2e}; identical greedy tokens: "
        f"{'yes' if same_tokens else 'no'}",
        *[f"- Profile of one cached decode step ({t} threads): {b}" for t, b in breakdowns],
        f"- Host: {cpu_model()}, {os.cpu_count()} CPUs. BLAS (numpy): {blas_info()}; "
        f"PyTorch's BLAS: {'MKL' if torch.backends.mkl.is_available() else 'not MKL'}; "
        f"torch's default threads: {default_torch_threads}",
        f"- Command: `{command.strip()}` ({env_note}); {os.cpu_count()} CPUs shared with "
        f"other work (1-minute load average {load_start:.1f} at the start, {load_end:.1f} at "
        "the end), so compare ratios within a row only: its two sides ran alternately.",
    ])  # fmt: skip
    print(text)
    if not args.no_write and not args.quick:
        write_section("gpt2_vs_torch", text)


if __name__ == "__main__":
    main()
