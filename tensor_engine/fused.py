"""Fused composite ops: one graph node each, with a hand-written backward.

Composed from primitive ops, ``softmax`` costs five nodes (max, sub, exp, sum, div) and
keeps five arrays alive for backward; fused it is one node that keeps only its output
(``softmax`` and ``log_softmax`` are those of ``Tensor``, which records them as one node
each). The backward rules are the textbook ones:

* softmax ``y``: ``dx = y * (dy - sum(dy * y))``
* log_softmax ``y``: ``dx = dy - exp(y) * sum(dy)``
* cross-entropy: ``dlogits = (softmax(logits) - onehot(targets)) * dloss``
* layer_norm with ``x̂ = (x - mean) / std``: ``dx = (dx̂ - mean(dx̂) - x̂ * mean(dx̂ * x̂)) / std``
* GELU (tanh approximation, as GPT-2): the derivative of ``x/2 * (1 + tanh(u))`` with
  ``u = sqrt(2/pi) * (x + 0.044715 x³)``.
* linear ``y = x @ Wᵀ + b``: ``dx = dy @ W``, ``dW = dyᵀ @ x``, ``db = sum(dy)`` over rows.
* attention ``o = softmax(s q kᵀ + mask) v`` with ``p`` the softmax: ``dv = pᵀ do``,
  ``dp = do vᵀ``, ``ds = p * (dp - sum(dp * p))``, ``dq = s ds k``, ``dk = s dsᵀ q``.

All sums above run over the normalised dimension. shared_nn prefers these when they
exist and can be told not to, which makes "composed vs fused" easy to measure.

One op here has no backward: ``decoder_block_step``, a whole GPT-2 block on one decoded
token, for generation under ``no_grad`` (where a block's dozen small ops would otherwise
each pay the engine's per-op bookkeeping).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from engine_api import errors, rules

from . import kernels
from .kernels import product, product_laid_out_like, swap, unbroadcast
from .tensor import NAME, Tensor, grad_mode, note_write, record

__all__ = ["softmax", "log_softmax", "cross_entropy", "layer_norm", "gelu", "linear",
           "scaled_dot_product_attention", "decoder_block_step"]


def _check_tensor(x: Any, op: str) -> Tensor:
    if not isinstance(x, Tensor):
        if rules.foreign_tensor(x) or type(x).__name__ == "Tensor":
            raise errors.mixing_error(op, NAME, x)
        raise TypeError(f"{op}: expected a tensor_engine Tensor, got {type(x).__name__}")
    return x


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``dim``: the one node of ``Tensor.softmax``."""
    return _check_tensor(x, "softmax").softmax(dim)


def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    """``x - log(sum(exp(x)))`` along ``dim``, computed stably: the one node of
    ``Tensor.log_softmax``."""
    return _check_tensor(x, "log_softmax").log_softmax(dim)


def _check_targets(targets: Any, n: int, classes: int, logits_shape: tuple) -> np.ndarray:
    if isinstance(targets, Tensor):
        targets = targets._data
    elif rules.foreign_tensor(targets) or type(targets).__name__ == "Tensor":
        raise errors.mixing_error("cross_entropy", NAME, targets)
    targets = np.asarray(targets)
    if targets.dtype.kind not in "iu" and targets.size:
        raise TypeError(f"cross_entropy: targets must be integers (an int64 tensor, an int "
                        f"ndarray or a list of class indices), got dtype {targets.dtype}")
    if targets.shape != (n,):
        raise ValueError(f"cross_entropy: targets of shape {targets.shape} do not match logits "
                         f"of shape {logits_shape} (expected ({n},))")
    targets = targets.astype(np.intp, copy=False)
    bad = (targets < 0) | (targets >= classes)
    if bad.any():
        raise IndexError(f"cross_entropy: target {int(targets[bad][0])} is out of range for "
                         f"{classes} classes")
    return targets


def cross_entropy(logits: Tensor, targets: Any, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of integer ``targets`` (N,) under ``softmax(logits)`` (N, C);
    ``targets`` is an int64 tensor, an int ndarray or a list of class indices.

    ``reduction``: ``"mean"`` (default) or ``"sum"`` over the batch, or ``"none"`` for
    the per-example losses.
    """
    logits = _check_tensor(logits, "cross_entropy")
    if logits.ndim != 2:
        raise ValueError(f"cross_entropy: logits must have shape (N, C), got {logits.shape}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', "
                         f"got {reduction!r}")
    n, classes = logits.shape
    targets = _check_targets(targets, n, classes, logits.shape)
    rows = np.arange(n)
    logp = kernels.log_softmax(logits._data, 1)
    losses = -logp[rows, targets]
    if reduction == "none":
        out = losses
    elif reduction == "sum":
        out = losses.sum()
    else:
        out = losses.mean() if n else np.asarray(np.nan, dtype=logits.dtype)

    def backward(g: np.ndarray) -> tuple:
        grad = np.exp(logp)
        grad[rows, targets] -= 1.0
        if reduction == "none":
            grad *= g[:, None]
        else:
            grad *= g / n if reduction == "mean" else g
        return (grad,)

    return record(out, (logits,), backward)


def layer_norm(x: Tensor, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Normalise the last dimension to zero mean and unit variance, then scale and shift."""
    data = _check_tensor(x, "layer_norm")._data
    if data.ndim == 0:
        raise ValueError("layer_norm: input must have at least 1 dimension, got shape ()")
    width = data.shape[-1]
    if not (type(weight) is type(bias) is Tensor and weight._data.shape == bias._data.shape
            == (width,)):  # the usual affine pair passes without the loop
        for name, p in (("weight", weight), ("bias", bias)):
            if p is not None and _check_tensor(p, "layer_norm")._data.shape != (width,):
                raise ValueError(f"layer_norm: {name} of shape {p.shape} does not match the "
                                 f"last dim of input shape {x.shape} (expected ({width},))")
    parents = (x, weight, bias) if weight is not None and bias is not None else (
        (x,) + tuple(t for t in (weight, bias) if t is not None))
    if not (grad_mode.flag.enabled and any(t._rg for t in parents)):
        return record(_normalized(data, weight, bias, eps), parents, None)
    centred, squares, rstd = _centred(data, eps)
    xhat = np.multiply(centred, rstd, out=squares)  # the squares are no longer needed
    out = xhat if weight is None else xhat * weight._data
    if bias is not None:
        out = _add_into(out, bias._data) if out is not xhat else out + bias._data

    def backward(g: np.ndarray) -> tuple:
        lead_axes = tuple(range(g.ndim - 1))
        grads = []
        if x._rg:
            dxhat = g if weight is None else g * weight._data
            mean_d = _mean_last(dxhat)
            t = dxhat * xhat
            mean_dx = _mean_last(t)
            dx = np.subtract(dxhat, mean_d, out=t)  # t's values are no longer needed
            dx -= np.multiply(xhat, mean_dx, out=dxhat if dxhat is not g else None)
            dx *= rstd
            grads.append(dx)
        else:
            grads.append(None)
        if weight is not None:
            grads.append(np.add.reduce(g * xhat, axis=lead_axes) if weight._rg else None)
        if bias is not None:
            grads.append(np.add.reduce(g, axis=lead_axes) if bias._rg else None)
        return tuple(grads)

    return record(out, parents, backward)


def _centred(data: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``data`` minus its mean along the last dim, the squares of that, and
    ``1 / sqrt(var + eps)`` (the variance being the squares' mean)."""
    centred = data - _mean_last(data)
    squares = np.square(centred)
    var = _mean_last(squares)
    var += float(eps)
    return centred, squares, np.reciprocal(np.sqrt(var, out=var), out=var)  # in place


def _normalized(data: np.ndarray, weight: Tensor | None, bias: Tensor | None,
                eps: float) -> np.ndarray:
    """layer_norm's values when nothing is recorded: nothing is saved for a backward, so
    every step after the centring writes in place."""
    if data.size == data.shape[-1] > 0 and data.dtype.kind == "f":
        return _normalize_one_row(data, weight, bias, eps)
    centred, _, rstd = _centred(data, eps)
    out = np.multiply(centred, rstd, out=centred)
    if weight is not None:
        out *= weight._data
    return out if bias is None else _add_into(out, bias._data)


def _normalize_one_row(data: np.ndarray, weight: Tensor | None, bias: Tensor | None,
                       eps: float) -> np.ndarray:
    """layer_norm of a single row (one token while decoding), with nothing to record.

    A ufunc call has a fixed cost whatever its size, and a GPT-2-wide row is no more work
    than that, so the call count decides: the mean and the variance are dot products
    returning Python floats and the scalar steps are Python arithmetic, four numpy calls
    where the general path makes ten."""
    row = data.reshape(-1)
    n = row.shape[0]
    centred = row - float(row.dot(_ones(n, row.dtype))) / n
    rstd = 1.0 / math.sqrt(float(centred.dot(centred)) / n + float(eps))
    centred *= rstd
    if weight is not None:
        centred *= weight._data
    if bias is not None:
        centred = _add_into(centred, bias._data)
    return centred.reshape(data.shape)


@functools.lru_cache(maxsize=16)
def _ones(n: int, dtype: np.dtype) -> np.ndarray:
    ones = np.ones(n, dtype)
    ones.flags.writeable = False
    return ones


def _mean_last(a: np.ndarray) -> np.ndarray:
    """``a.mean(axis=-1, keepdims=True)`` (the same numbers: a pairwise sum, then a
    division) without the Python wrapper around ``ndarray.mean``."""
    if a.shape[-1] == 0:
        return a.mean(axis=-1, keepdims=True)  # numpy's warning and NaN
    total = np.add.reduce(a, axis=-1, keepdims=True)
    total /= a.shape[-1]
    return total


_GELU_C = math.sqrt(2.0 / math.pi)
_GELU_A = 0.044715


def gelu(x: Tensor) -> Tensor:
    """GELU, tanh approximation: ``x * h`` with ``h = (1 + tanh(u)) / 2`` and
    ``u = sqrt(2/pi) * (x + 0.044715 x³)``.

    Written with in-place numpy ops, eight passes forward and nine backward (the textbook
    expression takes a buffer per operation). Backward uses ``1 - tanh(u)² = 4 h (1 - h)``:
    ``d(x h)/dx = h + x h (1 - h) (2 du/dx)``, so only ``h`` is kept."""
    x = _check_tensor(x, "gelu")
    data = x._data.reshape(-1) if x.ndim == 0 else x._data  # in-place ops need an array
    h = _gelu_gate(data)
    out = data * h

    def backward(g: np.ndarray) -> tuple:
        du2 = np.square(data)  # 2 du/dx = 2 sqrt(2/pi) (1 + 3 a x²)
        du2 *= 6.0 * _GELU_A * _GELU_C
        du2 += 2.0 * _GELU_C
        grad = np.subtract(1.0, h)
        grad *= h
        grad *= data
        grad *= du2
        grad += h
        grad *= g.reshape(grad.shape)
        return (grad.reshape(x.shape),)

    return record(out.reshape(x.shape), (x,), backward)


def _gelu_gate(data: np.ndarray) -> np.ndarray:
    """GELU's ``h = (1 + tanh(u)) / 2`` for ``data`` (an array of at least 1 dim), in a
    buffer of its own: GELU is ``data * h``."""
    h = np.square(data)
    h *= _GELU_A * _GELU_C
    h += _GELU_C
    h *= data  # u
    np.tanh(h, out=h)
    h *= 0.5
    h += 0.5
    return h


def _add_into(out: np.ndarray, other: np.ndarray) -> np.ndarray:
    """``out + other``, written into ``out`` (a fresh buffer of ours) when that loses
    nothing: ``other`` broadcasts to ``out``'s shape and does not promote its dtype."""
    if other.dtype == out.dtype and other.ndim <= out.ndim:
        np.add(out, other, out=out)
        return out
    return out + other


def _check_linear(x: Tensor, weight: Tensor, bias: Tensor | None) -> None:
    if type(x) is not Tensor or type(weight) is not Tensor or (
            bias is not None and type(bias) is not Tensor):
        for t in (x, weight, bias):  # subclasses pass; anything else is a TypeError
            if t is not None:
                _check_tensor(t, "linear")
    xs, ws = x._data.shape, weight._data.shape
    if len(ws) != 2 or not xs or xs[-1] != ws[1]:
        raise ValueError(f"linear: input of shape {xs} does not fit weight of shape "
                         f"{ws} (expected a 2-D weight (out_features, in_features) "
                         "with in_features the input's last dimension)")
    if bias is not None and bias._data.shape != ws[:1]:
        raise ValueError(f"linear: bias of shape {bias.shape} does not match weight of shape "
                         f"{weight.shape} (expected ({weight.shape[0]},))")


def _column_sums(g: np.ndarray) -> np.ndarray:
    """``g.sum(axis=0)`` for a 2-D ``g``. A column-major ``g`` is summed as a product with a
    row of ones (BLAS reads each column once), where numpy's reduction would sum each short
    column separately, a loop per column."""
    if g.flags.fnc:
        return np.dot(np.ones(g.shape[0], dtype=g.dtype), g)
    return np.add.reduce(g, axis=0)


def _linear_rows(X2: np.ndarray, W: np.ndarray, bias: Tensor | None) -> np.ndarray:
    """``X2 @ W.T + bias`` for rows ``X2``, the product in its fastest layout and the bias
    added into the product's buffer."""
    out = product(X2, W.T)
    return out if bias is None else _add_into(out, bias._data)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x @ weight.T + bias`` as one node, with torch's layout: ``weight`` is
    (out_features, in_features), ``x`` is (..., in_features).

    Composed, a linear layer is three nodes (a transpose, a product, an add) and two output
    buffers. Fused, the leading dims of ``x`` fold into the rows of one 2-D product, which
    runs in the memory layout measured fastest for it (``kernels.product``), and the bias
    is added into the product's own buffer. Backward: ``dx = dy @ W`` in ``x``'s layout,
    ``dW = dyᵀ @ x`` in ``W``'s layout (so an optimizer's update never mixes layouts) and
    ``db`` = ``dy`` summed over rows.
    """
    _check_linear(x, weight, bias)
    X, W = x._data, weight._data
    lead, (n, k) = X.shape[:-1], W.shape
    rows = math.prod(lead)  # not reshape(-1, k): k may be 0
    X2 = X if len(lead) == 1 else X.reshape(rows, k)
    out = _linear_rows(X2, W, bias)
    parents = (x, weight) if bias is None else (x, weight, bias)

    def backward(g: np.ndarray) -> tuple:
        g2 = g.reshape(rows, n)
        grads = [
            product_laid_out_like(X2, g2, W).reshape(X.shape) if x._rg else None,
            product_laid_out_like(W, g2.T, X2) if weight._rg else None,
        ]
        if bias is not None:
            grads.append(_column_sums(g2) if bias._rg else None)
        return tuple(grads)

    return record(out if len(lead) == 1 else out.reshape(lead + (n,)), parents, backward)


def scaled_dot_product_attention(q: Tensor, k: Tensor, v: Tensor, mask: np.ndarray | None = None,
                                 scale: float | None = None) -> Tensor:
    """``softmax(scale * q @ kᵀ + mask) @ v`` as one node: queries ``(..., L, E)``, keys
    ``(..., S, E)``, values ``(..., S, Ev)``; batch dims broadcast.

    ``mask`` broadcasts to the scores' shape ``(..., L, S)``: a bool array or tensor (True
    where a query may look, as in torch) or a float one added to the scores. ``scale`` defaults to
    ``1/sqrt(E)``. A query that may look nowhere gets zeros (torch's rule), not the NaN of a
    softmax over nothing. Composed, attention is six nodes and keeps the scores, the masked
    scores and the weights alive for backward; fused it keeps only the weights ``p``.
    """
    for t in (q, k, v):
        _check_tensor(t, "scaled_dot_product_attention")
    if isinstance(mask, Tensor):
        mask = mask._data
    Q, K, V = q._data, k._data, v._data
    scale = 1.0 / math.sqrt(Q.shape[-1]) if scale is None else float(scale)
    p, out = _attention(Q, K, V, mask, scale)

    def backward(g: np.ndarray) -> tuple:
        dv = unbroadcast(kernels.mm(swap(p), g), V.shape) if v._rg else None
        ds = swap(kernels.mm(V, swap(g)))  # d(weights) in p's layout, then d(scores)
        ds -= np.add.reduce(ds * p, axis=-1, keepdims=True)
        ds *= p
        ds *= scale
        dq = unbroadcast(kernels.mm(ds, K), Q.shape) if q._rg else None
        dk = unbroadcast(kernels.mm(swap(ds), Q), K.shape) if k._rg else None
        return dq, dk, dv

    return record(out, (q, k, v), backward)


def _attention(Q: np.ndarray, K: np.ndarray, V: np.ndarray, mask: np.ndarray | None,
               scale: float) -> tuple[np.ndarray, np.ndarray]:
    """The attention weights ``p = softmax(scale * Q Kᵀ + mask)`` and the output ``p V``."""
    # The scores as (k qᵀ)ᵀ: each (L, S) matrix column-major, which makes the softmax's
    # reductions along S run across contiguous memory, which is faster than striding.
    p = swap(kernels.mm(K, swap(Q)))
    p *= scale
    if mask is not None:
        if mask.dtype == bool:
            np.copyto(p, -np.inf, where=~mask)
        else:
            p += mask
    _safe_softmax_last(p)
    return p, kernels.mm(p, V)


def _safe_softmax_last(s: np.ndarray) -> None:
    """Softmax over the last dim in place, with rows of only ``-inf`` set to zeros."""
    top = np.maximum.reduce(s, axis=-1, keepdims=True)
    some_dead = top.size and np.minimum.reduce(top, axis=None) == -np.inf
    dead = top == -np.inf if some_dead else None
    if dead is not None:
        top[dead] = 0.0  # exp(-inf - 0) = 0: the row sums to 0 ...
    s -= top
    np.exp(s, out=s)
    total = np.add.reduce(s, axis=-1, keepdims=True)
    if dead is not None:
        total[dead] = np.inf  # ... and 0 / inf = 0
    s /= total


_BLOCK_WEIGHTS = ("ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias",
                  "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight", "ln_2.bias",
                  "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias")
_BLOCK_MATRICES = frozenset({2, 4, 8, 10})  # the positions of the four linear weights


def decoder_block_step(x: Tensor, weights: Sequence[Tensor | None], k_cache: Tensor,
                       v_cache: Tensor, position: int, n_head: int, scale: float | None = None,
                       eps: float = 1e-5) -> Tensor:
    """One GPT-2 block (pre-LayerNorm) on one new token per row, forward only, as one op:
    ``h = x + c_proj(attention(c_attn(ln_1(x))))``, then ``h + mlp(ln_2(h))``.

    ``x`` is ``(B, 1, C)``. ``weights`` are the block's twelve parameters in the order of
    ``_BLOCK_WEIGHTS`` (torch's layouts: linear weights ``(out, in)``; a LayerNorm's or
    linear's bias, or a LayerNorm's weight, may be None). The token's key and value are
    written into the cache buffers ``(B, n_head, capacity, C / n_head)`` at ``position``,
    and its query attends to positions ``0 .. position`` of them.

    Decoding runs each block once per token, and at one token a block is its four weight
    products (each streams its weight from memory) plus about thirty small numpy calls. As
    a dozen graph nodes, each with its tensor objects, checks and layer calls, the
    bookkeeping around those small calls is a visible share of a decoded token's time; as
    one op a step costs what numpy by hand does. Like torch's inference fast path
    for ``nn.TransformerEncoderLayer``, there is no backward rule: the op refuses inputs
    that require grad while grad mode is on. The values are those of the layers run one by
    one (the same numpy calls, in the same order).
    """
    B, C, hd = _check_block_step(x, weights, k_cache, v_cache, position, n_head)
    (g1, b1, w_attn, b_attn, w_proj, b_proj, g2, b2, w_fc, b_fc, w_out, b_out) = weights
    X = x._data.reshape(B, C)
    qkv = _linear_rows(_normalized(X, g1, b1, eps), w_attn._data, b_attn)
    split = qkv.reshape(B, 3, n_head, 1, hd)
    q, k, v = split[:, 0], split[:, 1], split[:, 2]  # (B, nh, 1, hd) each
    K, V = k_cache._data, v_cache._data
    K[:, :, position], V[:, :, position] = k[:, :, 0], v[:, :, 0]
    note_write(K)
    note_write(V)
    scale = 1.0 / math.sqrt(hd) if scale is None else float(scale)
    heads = _attention(q, K[:, :, : position + 1], V[:, :, : position + 1], None, scale)[1]
    h = X + _linear_rows(heads.reshape(B, C), w_proj._data, b_proj)
    f = _linear_rows(_normalized(h, g2, b2, eps), w_fc._data, b_fc)
    f *= _gelu_gate(f)
    h += _linear_rows(f, w_out._data, b_out)
    return record(h.reshape(B, 1, C), (), None)


def _check_block_step(x: Tensor, weights: Sequence[Tensor | None], k_cache: Tensor,
                      v_cache: Tensor, position: int, n_head: int) -> tuple[int, int, int]:
    """(B, C, head size) of a valid ``decoder_block_step`` call; a clear error otherwise."""
    op = "decoder_block_step"
    shape = _check_tensor(x, op)._data.shape
    if len(shape) != 3 or shape[1] != 1:
        raise ValueError(f"{op}: x must be (batch, 1, width), one token per row; got {shape}")
    B, _, C = shape
    if len(weights) != len(_BLOCK_WEIGHTS):
        raise ValueError(f"{op}: expected {len(_BLOCK_WEIGHTS)} weights "
                         f"({', '.join(_BLOCK_WEIGHTS)}), got {len(weights)}")
    if type(weights[8]) is not Tensor:  # the MLP's width comes from its first weight
        _check_tensor(weights[8], f"{op} ({_BLOCK_WEIGHTS[8]})")
    wide = (weights[8]._data.shape or (0,))[0]  # a 0-d one fails the shape check below
    expected = ((C,), (C,), (3 * C, C), (3 * C,), (C, C), (C,), (C,), (C,), (wide, C), (wide,),
                (C, wide), (C,))
    for i, (w, want) in enumerate(zip(weights, expected, strict=True)):
        if w is None and i not in _BLOCK_MATRICES:
            continue
        if type(w) is not Tensor:  # the name is only worth formatting for an error
            _check_tensor(w, f"{op} ({_BLOCK_WEIGHTS[i]})")
        data = w._data
        if data.shape != want or data.dtype != x.dtype:
            raise ValueError(f"{op}: {_BLOCK_WEIGHTS[i]} is {data.dtype} {data.shape}; a block "
                             f"of width {C} on {x.dtype} input needs {x.dtype} {want}")
    for name, n in (("position", position), ("n_head", n_head)):
        if not rules.is_int(n):
            raise TypeError(f"{op}: {name} must be an int, got {type(n).__name__}")
    if n_head < 1 or C % n_head:
        raise ValueError(f"{op}: width {C} does not split into {n_head} heads")
    hd = C // n_head
    for name, cache in (("k_cache", k_cache), ("v_cache", v_cache)):
        buf = _check_tensor(cache, op)._data
        if (buf.ndim != 4 or buf.shape[:2] != (B, n_head) or buf.shape[3] != hd
                or buf.dtype != x.dtype):
            raise ValueError(f"{op}: {name} is {buf.dtype} {buf.shape}; expected {x.dtype} "
                             f"(batch={B}, heads={n_head}, capacity, head size={hd})")
        if not 0 <= position < buf.shape[2]:
            raise ValueError(f"{op}: position {position} is outside {name}'s capacity "
                             f"{buf.shape[2]}")
        if cache._rg or not buf.flags.writeable:
            raise RuntimeError(f"{op}: {name} must be a writable buffer that needs no grad")
    if grad_mode.flag.enabled and any(w is not None and w._rg for w in (x, *weights)):
        raise RuntimeError(f"{op}: forward only (it records no graph); call it under "
                           "no_grad(), or run the block's layers one by one to train")
    return B, C, hd
