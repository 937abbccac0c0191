"""tensor_engine vs PyTorch (CPU), side by side in one process, float32.

Workloads (each a full training-style step: forward, backward and, for the MLPs, an SGD
update by ``shared_nn.optim.SGD`` against ``torch.optim.SGD``), with the same weights on both
sides:

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
them: the products of one of our steps are recorded, operands and all, and replayed back to
back with nothing else in between (``benchmarks/_gemm.py``): in the layouts we used, with
each product in numpy's fastest layout for it (or in ours, where those ran faster in
sequence), and with PyTorch in its fastest. The replays
are timed in the same alternating rounds as the steps, each product with the operands the
step had just computed for it warm in cache. *efficiency* = (time numpy's
best-layout products alone take) / (our step time): what the step loses beyond it is the
engine's; a ratio to PyTorch above 1 at high efficiency is the BLAS's.
For the MNIST MLP and the fused GPT-2 block a third side, the same step written by hand in
numpy (:func:`numpy_mlp_step`, :func:`numpy_block_step`), is timed in the same rounds: what
a program that calls numpy op by op can reach, so the floor for an engine built that way.

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
from collections.abc import Callable, Sequence
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
    record_products,
    replays,
)
from _report import blas_info, cpu_model, markdown_table, median_time, write_section  # noqa: E402

import tensor_engine as te  # noqa: E402
from shared_nn.engine import as_numpy  # noqa: E402
from shared_nn.layers import weight_memory_layout  # noqa: E402
from shared_nn.optim import SGD  # noqa: E402
from tensor_engine import fused  # noqa: E402

# ---------------------------------------------------------------------------- tensor_engine models


class Linear:
    """``x @ W.T + b`` with torch's layout (weight is (out, in)), init scheme and
    ``shared_nn.Linear``'s memory layout for the weight: one fused node, or three primitive
    ones (``use_fused=False``)."""

    def __init__(self, fan_in: int, fan_out: int, rng: np.random.Generator) -> None:
        bound = 1.0 / math.sqrt(fan_in)
        weight = weight_memory_layout(rng.uniform(-bound, bound, (fan_out, fan_in)))
        self.weight = te.tensor(weight, requires_grad=True, dtype=np.float32)
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
    e = (x - x.max(-1, keepdim=True).values).exp()
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


def numpy_block_step(block: Block, x: np.ndarray, upstream: np.ndarray) -> Step:
    """The GPT-2 block's forward and its whole backward for ``out.backward(upstream)`` (the
    gradients of every weight and bias, both LayerNorms' included, and of ``x``), written
    directly in numpy on copies of ``block``'s weights: what a program calling numpy op by
    op can reach for this block (layouts: :class:`HandBlock`). Checked once, before it is
    timed, against tensor_engine's output and ``p.grad`` for the same ``x`` and
    ``upstream``."""
    hand = HandBlock(block)
    _check_hand_block(hand, block, x, upstream)

    def step() -> float:
        out = hand.forward(x)
        hand.backward(upstream)
        return float(out[0, 0, 0])

    return step


class HandBlock:
    """:class:`Block` in numpy float32, batch 1, with its activations feature-major:
    (features, tokens), as in :func:`numpy_mlp_step`.

    The layouts were picked by timing the candidates alone (``benchmarks/_gemm.py`` times
    all eight of a product) and then in the step, at 1 thread. Weights stay in torch's
    (out, in) layout, C-ordered, one copy each, as an optimizer would update them.

    * forward ``h = W @ h_prev``: the weight is a C-ordered left operand, the layout OpenBLAS
      runs fastest for these shapes;
    * input gradients ``(g.T @ W).T``, read back as a transposed view: ``W.T @ g`` hands
      OpenBLAS a transposed (F-ordered) weight, 3-14% slower. The exception is d gelu,
      ``W.T @ g``: its token-major twin made GELU's backward mix layouts, slower overall;
    * weight gradients ``g @ h_prev.T``, except ``mlp_proj``'s, computed transposed as
      ``gelu @ upstream`` (a 3072-row left operand: ~15% faster) and returned as the
      transposed view of that (3072, 768) array;
    * bias gradients (and LayerNorm's) as products with a vector of ones: numpy's
      ``sum(axis=1)`` over 64-long rows is 7x slower;
    * attention keeps each head's weights as (keys, queries), so the softmax reduces along
      axis 1, across whole rows; the heads' products are batched ``np.matmul`` calls, and
      backward writes dq, dk and dv straight into one (3 width, tokens) buffer.
    """

    def __init__(self, block: Block) -> None:
        self.params = [p.numpy().copy() for p in block.parameters()]
        self.heads = block.heads
        self.future_t = block.future.T  # (keys, queries): True where the key is in the future

    def forward(self, x: np.ndarray) -> np.ndarray:
        """The block's output for ``x`` (1, tokens, width), as a (1, tokens, width) view;
        what backward needs stays on ``self``."""
        ln1_w, ln1_b, w_attn, b_attn, w_proj, b_proj, ln2_w, ln2_b, w_fc, b_fc, w_out, b_out = (
            self.params)
        self.ln_1 = _hand_layer_norm(x[0].T, ln1_w, ln1_b)  # x[0].T: a view, F-ordered
        qkv = w_attn @ self.ln_1.out
        qkv += b_attn[:, None]
        self.mixed = self._attend(qkv)
        x2 = w_proj @ self.mixed
        x2 += b_proj[:, None]
        x2 += x[0].T
        self.ln_2 = _hand_layer_norm(x2, ln2_w, ln2_b)
        self.fc = w_fc @ self.ln_2.out
        self.fc += b_fc[:, None]
        self.half, self.gelu = _hand_gelu(self.fc)
        out = w_out @ self.gelu
        out += b_out[:, None]
        out += x2
        return out.T[None]

    def _attend(self, qkv: np.ndarray) -> np.ndarray:
        """Causal attention from (3 width, tokens) ``qkv`` to the heads' mixed values,
        (width, tokens) with head h in rows h*head to (h+1)*head."""
        tokens = qkv.shape[1]
        self.q, self.k, self.v = qkv.reshape(3, self.heads, -1, tokens)  # (heads, head, tokens)
        self.scale = np.float32(1.0 / math.sqrt(self.q.shape[1]))
        p = np.matmul(self.k.transpose(0, 2, 1), self.q)  # scores, (heads, keys, queries)
        p *= self.scale
        np.copyto(p, -np.inf, where=self.future_t[:tokens, :tokens])
        p -= p.max(1, keepdims=True)
        np.exp(p, out=p)
        p /= np.add.reduce(p, axis=1, keepdims=True)
        self.weights = p
        return np.matmul(self.v, p).reshape(-1, tokens)

    def backward(self, upstream: np.ndarray) -> list[np.ndarray]:
        """Gradients for ``out.backward(upstream)``, in ``block.parameters()`` order, then
        the input's (1, tokens, width)."""
        ln1_w, _, w_attn, _, w_proj, _, ln2_w, _, w_fc, _, w_out, _ = self.params
        g = upstream[0]  # (tokens, width): g.T is the output's gradient, feature-major
        ones = np.ones(len(g), dtype=np.float32)
        grad_w_out, grad_b_out = (self.gelu @ g).T, ones @ g
        d_fc = w_out.T @ g.T  # d gelu, turned into d fc in place
        _hand_gelu_backward(d_fc, self.fc, self.half)
        grad_w_fc, grad_b_fc = d_fc @ self.ln_2.out.T, d_fc @ ones
        d_x2, grad_ln2_w, grad_ln2_b = _hand_layer_norm_backward(
            (d_fc.T @ w_fc).T, self.ln_2, ln2_w, ones)
        d_x2 += g.T
        grad_w_proj, grad_b_proj = d_x2 @ self.mixed.T, d_x2 @ ones
        d_qkv = self._attend_backward((d_x2.T @ w_proj).T)
        grad_w_attn, grad_b_attn = d_qkv @ self.ln_1.out.T, d_qkv @ ones
        d_ln1, grad_ln1_w, grad_ln1_b = _hand_layer_norm_backward(
            (d_qkv.T @ w_attn).T, self.ln_1, ln1_w, ones)
        d_x2 += d_ln1  # d x, summed into the C-ordered one (F-ordered += C-ordered: 6x slower)
        return [grad_ln1_w, grad_ln1_b, grad_w_attn, grad_b_attn, grad_w_proj, grad_b_proj,
                grad_ln2_w, grad_ln2_b, grad_w_fc, grad_b_fc, grad_w_out, grad_b_out,
                d_x2.T[None]]

    def _attend_backward(self, d_mixed: np.ndarray) -> np.ndarray:
        """d qkv (3 width, tokens) from d mixed (width, tokens)."""
        q, k, v, p = self.q, self.k, self.v, self.weights
        d_mixed = d_mixed.reshape(v.shape)
        d_qkv = np.empty((3, *v.shape), dtype=np.float32)
        np.matmul(d_mixed, p.transpose(0, 2, 1), out=d_qkv[2])
        d_s = np.matmul(v.transpose(0, 2, 1), d_mixed)  # d weights, (heads, keys, queries)
        d_s -= np.add.reduce(d_s * p, axis=1, keepdims=True)
        d_s *= p  # d scores (softmax backward); 0 where masked, since p is
        d_s *= self.scale
        np.matmul(k, d_s, out=d_qkv[0])
        np.matmul(q, d_s.transpose(0, 2, 1), out=d_qkv[1])
        return d_qkv.reshape(-1, v.shape[2])


class _Normed:
    """What a LayerNorm keeps for backward: its output, ``xhat`` and 1/std per token."""

    def __init__(self, out: np.ndarray, xhat: np.ndarray, rstd: np.ndarray) -> None:
        self.out, self.xhat, self.rstd = out, xhat, rstd


def _hand_layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> _Normed:
    """LayerNorm (eps 1e-5) over axis 0 of feature-major ``x`` (features, tokens)."""
    width = np.float32(len(x))
    xhat = x - np.add.reduce(x, axis=0) / width
    var = np.add.reduce(np.square(xhat), axis=0) / width
    var += np.float32(1e-5)
    rstd = np.reciprocal(np.sqrt(var, out=var), out=var)
    xhat *= rstd
    out = xhat * weight[:, None]
    out += bias[:, None]
    return _Normed(out, xhat, rstd)


def _hand_layer_norm_backward(g: np.ndarray, saved: _Normed, weight: np.ndarray,
                              ones: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(d input, d weight, d bias) of a LayerNorm from ``g`` = d output (features, tokens);
    d input is laid out like ``xhat``, whatever ``g``'s layout."""
    width = np.float32(len(g))
    grad_w, grad_b = np.einsum("ij,ij->i", g, saved.xhat), g @ ones
    d_xhat = np.multiply(g, weight[:, None], out=np.empty_like(saved.xhat))
    mean_d = np.add.reduce(d_xhat, axis=0) / width
    mean_dx = np.add.reduce(d_xhat * saved.xhat, axis=0) / width
    d_xhat -= mean_d
    d_xhat -= saved.xhat * mean_dx
    d_xhat *= saved.rstd
    return d_xhat, grad_w, grad_b


_GELU_C = np.float32(math.sqrt(2.0 / math.pi))
_GELU_A = np.float32(0.044715)


def _hand_gelu(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """tanh-GELU ``x * h`` with ``h = (1 + tanh(c (x + a x³))) / 2``: returns ``h`` (what
    backward needs besides ``x``) and the output."""
    h = np.square(x)
    h *= _GELU_A
    h += 1.0
    h *= x
    h *= _GELU_C
    np.tanh(h, out=h)
    h *= 0.5
    h += 0.5
    return h, x * h


def _hand_gelu_backward(g: np.ndarray, x: np.ndarray, h: np.ndarray) -> None:
    """Turn ``g`` (d output) into d input in place. With ``t = tanh(u)``, ``1 - t² =
    4 h (1 - h)``, so d/dx [x h] = h + x (1 - t²)/2 du/dx = h + 2 x h (1 - h) c (1 + 3 a x²).
    """
    du = np.square(x)
    du *= 6.0 * _GELU_A * _GELU_C
    du += 2.0 * _GELU_C  # 2 du/dx
    grad = np.subtract(1.0, h)
    grad *= h
    grad *= x
    grad *= du
    grad += h
    g *= grad


_BLOCK_GRADS = [f"{part}.{kind}" for part in ("ln_1", "c_attn", "c_proj", "ln_2", "c_fc",
                                              "mlp_proj") for kind in ("weight", "bias")]


def _check_hand_block(hand: HandBlock, block: Block, x: np.ndarray,
                      upstream: np.ndarray) -> None:
    """Raise AssertionError unless ``hand``'s output and gradients match tensor_engine's
    for the same step (float32 tolerance: rtol 1e-3, atol 1e-4 of the largest entry)."""
    xt = te.tensor(x, requires_grad=True)
    out = block(xt, use_fused=True)
    out.backward(upstream)
    params = block.parameters()
    expected = [out.numpy(), *(as_numpy(p.grad) for p in params), as_numpy(xt.grad)]
    got = [hand.forward(x), *hand.backward(upstream)]
    for p in params:
        p.grad = None
    for name, want, have in zip(["output", *_BLOCK_GRADS, "x"], expected, got, strict=True):
        scale = float(np.abs(want).max())
        if have.shape != want.shape or not np.allclose(have, want, rtol=1e-3, atol=1e-4 * scale):
            err = float(np.abs(have - want).max()) if have.shape == want.shape else "shape"
            raise AssertionError(f"numpy_block_step: {name} differs from tensor_engine's "
                                 f"(max abs error {err}, largest entry {scale:.3g})")


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
    opt, our_opt = torch.optim.SGD(twin.parameters(), lr=0.05), SGD(mlp.parameters(), lr=0.05)

    def ours() -> float:
        diff = mlp(x) - y
        loss = (diff * diff).mean()
        loss.backward()
        our_opt.step()
        our_opt.zero_grad()
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
    opt, our_opt = torch.optim.SGD(twin.parameters(), lr=0.01), SGD(mlp.parameters(), lr=0.01)

    def ours() -> float:
        loss = fused.cross_entropy(mlp(x), labels)
        loss.backward()
        our_opt.step()
        our_opt.zero_grad()
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
               use_fused: bool, by_hand: bool = False) -> Sides:
    """tensor_engine and PyTorch steps and, with ``by_hand``, the numpy-by-hand one (off by
    default: ``benchmarks/gemm_layouts.py`` unpacks this builder's two sides)."""
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

    if not by_hand:
        return ours, theirs
    return ours, theirs, numpy_block_step(block, x_np, upstream)


# ---------------------------------------------------------------------------- timing

HAND_HEADER = ["numpy by hand ms", "numpy by hand efficiency"]


def measure(build: Callable[[], Sides], book: RateBook, rounds: int, steps: int,
            quick: bool) -> list[str]:
    """The row cells from "tensor_engine ms" to "numpy by hand efficiency" for one
    workload."""
    sides = build()
    first: list[float] = []
    pairs = record_products(lambda: first.append(sides[0]()))  # our first step, recorded
    check_agree(first + [side() for side in sides[1:]])
    products = replays(pairs, book)
    seconds = side_by_side([*sides, *products.runners()], rounds, steps,
                           warmup=0 if quick else 2)
    t_ours, t_theirs, *t_hand = seconds[:len(sides)]
    gemm = products.summary(seconds[len(sides):])
    return [f"{t_ours * 1e3:.3f}", f"{t_theirs * 1e3:.3f}", f"{t_ours / t_theirs:.2f}×",
            *gemm_columns(gemm, t_ours), *hand_columns(gemm, t_hand[0] if t_hand else None)]


def hand_columns(gemm: GemmSummary, hand_s: float | None) -> list[str]:
    """"numpy by hand ms" and its efficiency (measured like ours: the same best-layout
    product time over the hand step's time), or "-" without a hand-written step."""
    if hand_s is None:
        return ["-", "-"]
    return [f"{hand_s * 1e3:.3f}", f"{gemm.efficiency(hand_s):.1%}"]


def check_agree(values: list[float]) -> None:
    """AssertionError unless every side's first step computed the same value as ours."""
    for value in values[1:]:
        if not math.isclose(values[0], value, rel_tol=1e-3, abs_tol=1e-4):
            raise AssertionError(f"the models disagree: {values}")


def side_by_side(fns: Sequence[Callable[[], object]], rounds: int, steps: int,
                 warmup: int) -> list[float]:
    """Median seconds per call of each function (the sides' steps, then the products'
    replays), alternating round by round, so that a slower spell of the shared machine hits
    every column alike.

    Each round starts with ``warmup`` untimed calls: numpy's OpenBLAS threads and torch's
    OpenMP threads spin for a while after their last call, and a step right after the other
    side's is measuring that handover, not the framework.
    """
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(rounds):
        for fn, fn_times in zip(fns, times, strict=True):
            fn_times.append(median_time(fn, steps, warmup))
    return [statistics.median(fn_times) for fn_times in times]


def workloads(quick: bool) -> list[tuple[str, Callable[[], Sides], str, int, int]]:
    """(name, builder, target, rounds, timed steps per round)."""
    rng = np.random.default_rng(0)
    if quick:
        return [
            ("mlp-tiny", lambda: mlp_tiny(rng, 10), "≤ 1.5×", 1, 1),
            ("mlp-mnist", lambda: mlp_mnist(rng, 4, [16, 8, 8, 3], True), "≤ 1.0×", 1, 1),
            ("gpt2-block fused", lambda: gpt2_block(rng, 8, 16, 2, True, True), "≤ 1.0×", 1, 1),
            ("gpt2-block composed", lambda: gpt2_block(rng, 8, 16, 2, False), "-", 1, 1),
        ]
    return [
        ("MLP(2,16,16,1) SGD step, 100 points", lambda: mlp_tiny(rng, 100), "≤ 1.5×", 15, 20),
        ("MLP 784-256-128-10 SGD step, batch 64, cross-entropy",
         lambda: mlp_mnist(rng, 64, [784, 256, 128, 10], True), "≤ 1.0×", 15, 10),
        ("GPT-2 block fwd+bwd (1×64 tokens, 768 wide, 12 heads), fused ops",
         lambda: gpt2_block(rng, 64, 768, 12, True, True), "≤ 1.0×", 9, 3),
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
        "GEMM columns: the matrix products of one of our steps, recorded (operands and all) "
        "and replayed back to back with nothing else in between, at the row's thread count, "
        "timed in the same alternating rounds as the steps (`benchmarks/_gemm.py`; before "
        "each product the operands the step had just computed, a quarter of the largest "
        "array's size or less, are read into cache, untimed): their "
        "GFLOP, numpy's rate with each product in its fastest layout (chosen by timing its "
        "eight layouts alone; a weight the layout needs transposed is copied once, outside "
        "the timing; where the engine's own layouts ran faster in sequence, theirs), numpy's "
        "rate in the layouts the engine used, and PyTorch's rate with "
        "each product in its own fastest layout. efficiency = (time numpy's best-layout "
        "products take alone) / (tensor_engine's step time): the rest of the step is the "
        "engine's own work (Python, elementwise ops, the update) and the cache misses it "
        "causes the products. Per-product detail: `benchmarks/gemm_layouts.py` (section "
        "below). "
        "numpy by hand (the MNIST and fused-block rows): the same step written directly in "
        "numpy, timed in the same rounds, its efficiency measured the same way; feature-major "
        "activations and in-place elementwise ops in both, the MNIST step with lr folded into "
        "the output gradient, the block with each product in the layout measured fastest in "
        "the step, weights kept in torch's layout. It is the floor for any engine that calls "
        "numpy op by op with the weights in torch's layout (tensor_engine's step stores the "
        "block's 4x-narrowing projection weight transposed, `shared_nn.layers."
        "weight_memory_layout`): some best layouts need a weight transposed in memory, which "
        "one copy of it cannot offer both forward and backward, and the elementwise work "
        "(and the update) remain, and evict the products' operands from cache.\n\n"
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
