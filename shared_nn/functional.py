"""Stateless functions on engine Tensors, named and shaped as ``torch.nn.functional``.

Each function is composed from protocol ops, so it runs on both engines and its gradient
comes for free. When the input's engine ships a fused version with a hand-written backward
(``tensor_engine.fused``) and fusion is on, that one is used instead: one graph node instead
of a dozen. ``set_fused(False)`` or ``with fused(False):`` switches to the composed versions,
which is how the two are compared.

Integer inputs (class targets, indices) are int64 Tensors of the input's engine, integer
numpy arrays or lists of ints: ``cross_entropy(logits, E.tensor([0, 2, 1]))`` and
``cross_entropy(logits, np.array([0, 2, 1]))`` are the same loss. They are never
differentiable; a float Tensor target of the input's shape holds class probabilities, as in
torch.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from types import ModuleType
from typing import Any

import numpy as np

from engine_api.errors import float_only_error

from .engine import engine_of, get_engine, index_array, is_tensor
from .init import generator

_fusion_default = True  # set_fused: the process-wide choice
_fusion_in_block: ContextVar[bool | None] = ContextVar("dualgrad_fused", default=None)
_REDUCTIONS = ("mean", "sum", "none")


def set_fused(enabled: bool) -> None:
    """Use the engine's fused ops (True, the default) or always compose from protocol ops,
    for the whole process (``with fused(...)`` overrides it in one context)."""
    global _fusion_default
    _fusion_default = bool(enabled)


def is_fused() -> bool:
    """Whether fused ops are used where an engine has them (in this context)."""
    in_block = _fusion_in_block.get()
    return _fusion_default if in_block is None else in_block


@contextmanager
def fused(enabled: bool) -> Iterator[None]:
    """``with fused(False):`` composes every function from protocol ops inside the block
    (in this thread or task only)."""
    token = _fusion_in_block.set(bool(enabled))
    try:
        yield
    finally:
        _fusion_in_block.reset(token)


def _engine(x: Any, fn: str) -> ModuleType:
    """The engine module ``x`` belongs to; a TypeError if ``x`` is not a Tensor."""
    module = _engine_module_of_class.get(type(x))  # every op asks, a decoded token ~100 times
    if module is not None:
        return module
    name = engine_of(x)
    if name is None:
        raise TypeError(f"{fn} expects an engine Tensor, got {type(x).__name__}")
    module = _engine_module_of_class[type(x)] = get_engine(name)
    return module


_engine_module_of_class: dict[type, ModuleType] = {}


def _require_float(x: Any, fn: str) -> None:
    """``fn`` is defined on float tensors only: an int64 or bool input is a RuntimeError, as
    torch's "not implemented for 'Long'" (convert with ``.float()`` / ``.double()``)."""
    if x.dtype.kind != "f":
        raise float_only_error(fn, x.dtype)


def _fused_op(engine: ModuleType, op: str) -> Any:
    """The engine's fused ``op`` if fusion is on and the engine has it, else None."""
    if not is_fused():
        return None
    return getattr(getattr(engine, "fused", None), op, None)


def _constant(engine: ModuleType, values: Any, like: Any) -> Any:
    """A tensor that needs no grad, on ``like``'s engine and dtype."""
    return engine.tensor(np.asarray(values), dtype=like.dtype)


def _check_reduction(reduction: str, fn: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{fn}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _reduce(loss: Any, reduction: str) -> Any:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


# --- activations ------------------------------------------------------------------------------


def relu(x: Any) -> Any:
    """max(x, 0) elementwise."""
    return x.relu()


def tanh(x: Any) -> Any:
    """tanh elementwise."""
    return x.tanh()


def sigmoid(x: Any) -> Any:
    """1 / (1 + exp(-x)) elementwise."""
    return x.sigmoid()


def gelu(x: Any, approximate: str = "none") -> Any:
    """GELU. ``approximate="none"`` (torch's default, and ``GELU()``'s): the exact
    0.5 x (1 + erf(x / sqrt(2))). ``approximate="tanh"`` (GPT-2's): 0.5 x (1 + tanh(sqrt(2/pi)
    (x + 0.044715 x^3))), fused into one node on the tensor engine."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    engine = _engine(x, "gelu")
    if approximate == "none":
        return x * 0.5 * ((x * (1.0 / math.sqrt(2.0))).erf() + 1.0)
    op = _fused_op(engine, "gelu")
    if op is not None:
        return op(x)
    inner = (x + x**3 * 0.044715) * math.sqrt(2.0 / math.pi)
    return x * 0.5 * (inner.tanh() + 1.0)


def _check_dropout_p(p: float) -> float:
    """p as a float; ValueError unless 0 <= p < 1. (torch also takes p = 1, which zeroes
    everything and has no 1 / (1 - p) scale: almost always a mistake, so it is refused.)"""
    if isinstance(p, bool) or not isinstance(p, (int, float, np.floating)) or not 0 <= p < 1:
        raise ValueError(f"dropout probability has to be in [0, 1) (0 <= p < 1), but got {p!r}")
    return float(p)


def dropout(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Any:
    """Zero each element with probability ``p`` and scale the rest by 1 / (1 - p), when
    ``training``; otherwise return ``input`` itself.

    The mask comes from shared_nn's seeded generator, ``keep = shared_nn.init.generator()
    .random(input.shape) >= p`` (float64 uniforms, drawn the same way on both engines), so
    one ``manual_seed`` drops the same elements on the scalar and the tensor engine. ``p`` is
    in [0, 1). ``inplace=True`` is accepted and computes out of place."""
    p = _check_dropout_p(p)
    engine = _engine(input, "dropout")
    if not training or p == 0.0:
        return input
    shape = tuple(input.shape)
    keep = generator().random(shape) >= p
    return input * _constant(engine, keep * (1.0 / (1.0 - p)), input)


def softmax(x: Any, dim: int = -1) -> Any:
    """exp(x) / sum(exp(x)) along ``dim``, computed as exp(x - max) for stability."""
    return _softmax(x, dim, "softmax")


def log_softmax(x: Any, dim: int = -1) -> Any:
    """log(softmax(x)) along ``dim``, computed as (x - max) - log(sum(exp(x - max)))."""
    return _softmax(x, dim, "log_softmax")


def _softmax(x: Any, dim: int, fn: str) -> Any:
    """``fn`` ("softmax" or "log_softmax"): the engine's fused op, or composed from x - max."""
    engine = _engine(x, fn)
    op = _fused_op(engine, fn)
    if op is not None:
        return op(x, dim=dim)
    _require_float(x, fn)
    # Shifting by the max changes nothing mathematically, so the max is a constant (no grad).
    z = x - _constant(engine, x.numpy().max(axis=dim, keepdims=True), x)
    if fn == "log_softmax":
        return z - z.exp().sum(dim=dim, keepdim=True).log()
    e = z.exp()
    return e / e.sum(dim=dim, keepdim=True)


# --- layers as functions ----------------------------------------------------------------------


def linear(x: Any, weight: Any, bias: Any = None) -> Any:
    """x @ weight.T + bias, with weight of shape (out_features, in_features) as in torch."""
    op = _fused_op(_engine(x, "linear"), "linear")
    if op is not None:
        return op(x, weight, bias)
    y = x @ weight.T
    return y if bias is None else y + bias


def layer_norm(
    x: Any,
    normalized_shape: int | tuple[int, ...],
    weight: Any = None,
    bias: Any = None,
    eps: float = 1e-5,
) -> Any:
    """Normalise the last dimension to mean 0, variance 1 (biased variance, as torch), then
    scale by ``weight`` and shift by ``bias`` when given."""
    engine = _engine(x, "layer_norm")
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if len(shape) != 1 or x.ndim == 0 or x.shape[-1] != shape[0]:
        raise ValueError(
            f"layer_norm: normalized_shape {shape} must be the last dimension of the input "
            f"(input shape {tuple(x.shape)}); only the last dimension is supported"
        )
    op = _fused_op(engine, "layer_norm")
    if op is not None:
        return op(x, weight, bias, eps=eps)
    mean = x.mean(dim=-1, keepdim=True)
    centred = x - mean
    var = (centred * centred).mean(dim=-1, keepdim=True)
    y = centred / (var + float(eps)).sqrt()
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y



def scaled_dot_product_attention(
    query: Any,
    key: Any,
    value: Any,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Any:
    """Attention as torch computes it: ``softmax(scale * query @ keyᵀ + mask) @ value``.

    ``query`` is ``(..., L, E)``, ``key`` ``(..., S, E)``, ``value`` ``(..., S, Ev)``; batch
    dims broadcast and the result is ``(..., L, Ev)``. ``attn_mask`` broadcasts to
    the scores' shape ``(..., L, S)``: bool (True where a query may look) or float (added), as
    an ndarray, a list or a tensor of the same engine. ``is_causal`` lets query ``i`` see keys
    ``0..i`` (torch's top-left alignment). ``scale`` defaults to ``1/sqrt(E)``. A query that
    may look nowhere gets zeros, as in torch. ``dropout_p`` drops attention weights (pass 0 in
    eval, as torch code does: ``dropout_p=p if self.training else 0.0``).

    On the tensor engine this is one fused node; a float mask that requires grad, or
    dropout, composes it from protocol ops instead (so the mask gets its gradient).
    """
    fn = "scaled_dot_product_attention"
    engine = _engine(query, fn)
    if not type(query) is type(key) is type(value):  # one class: one engine, no more to check
        for name, t in (("key", key), ("value", value)):
            if not is_tensor(t):
                raise TypeError(f"{fn}: {name} must be a tensor, got {type(t).__name__}")
            _same_engine(engine, t, fn, name)
    _check_attention_shapes(query, key, value)
    if enable_gqa:
        raise NotImplementedError(f"{fn}: enable_gqa=True is not supported (repeat the key and "
                                  "value heads to the query's head count instead)")
    dropout_p = _check_dropout_p(dropout_p)
    mask = _attention_mask(engine, attn_mask, is_causal, query, key, fn)
    op = _fused_op(engine, fn)
    if op is not None and dropout_p == 0.0 and not is_tensor(mask):
        return op(query, key, value, mask=mask, scale=scale)
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    scores = (query @ key.transpose(-2, -1)) * scale
    dead = None
    if is_tensor(mask):
        scores = scores + mask
    elif mask is not None and mask.dtype == bool:
        scores = scores.masked_fill(~mask, float("-inf"))
        dead = ~mask.any(axis=-1, keepdims=True)
    elif mask is not None:
        scores = scores + _constant(engine, mask, query)
        dead = np.all(mask == -np.inf, axis=-1, keepdims=True)
    if dead is not None and dead.any():  # softmax of 0s, then zeroed: no NaN, no gradient
        scores = scores.masked_fill(dead, 0.0)
    weights = softmax(scores, dim=-1)
    if dead is not None and dead.any():
        weights = weights.masked_fill(dead, 0.0)
    return dropout(weights, dropout_p) @ value


def _check_attention_shapes(query: Any, key: Any, value: Any) -> None:
    fn = "scaled_dot_product_attention"
    q, k, v = shapes = tuple(query.shape), tuple(key.shape), tuple(value.shape)
    if len(q) < 2 or len(k) < 2 or len(v) < 2:
        raise ValueError(f"{fn}: query, key and value need at least 2 dims (..., seq, features),"
                         f" got shapes {shapes}")
    if q[-1] != k[-1] or k[-2] != v[-2]:
        raise ValueError(f"{fn}: query {q}, key {k} and value {v} do not fit: expected query "
                         "(..., L, E), key (..., S, E) and value (..., S, Ev)")
    if not q[:-2] == k[:-2] == v[:-2]:
        try:
            np.broadcast_shapes(q[:-2], k[:-2], v[:-2])
        except ValueError:
            raise ValueError(f"{fn}: the batch dims of query {q}, key {k} and value {v} cannot "
                             "be broadcast together") from None
    if not query.dtype == key.dtype == value.dtype:
        raise TypeError(f"{fn}: query, key and value must share a dtype, got "
                        f"{query.dtype}, {key.dtype} and {value.dtype}")


def _attention_mask(engine: ModuleType, attn_mask: Any, is_causal: bool, like: Any,
                    key: Any, fn: str) -> Any:
    """The mask as a bool or float ndarray (or a float tensor that requires grad), or None."""
    L, S, batch = like.shape[-2], key.shape[-2], tuple(key.shape[:-2])
    if is_causal:
        if attn_mask is not None:
            raise ValueError(f"{fn}: give attn_mask or is_causal=True, not both (as torch)")
        return np.tril(np.ones((L, S), dtype=bool))
    if attn_mask is None:
        return None
    if is_tensor(attn_mask):
        _same_engine(engine, attn_mask, fn, "attn_mask")
        if attn_mask.requires_grad:
            return attn_mask
        attn_mask = attn_mask.numpy()
    mask = np.asarray(attn_mask)
    if mask.dtype == bool and mask.shape == (L, S):  # the usual case, checked in full below
        return mask
    if mask.dtype != bool:
        if mask.dtype.kind not in "fiu":
            raise TypeError(f"{fn}: attn_mask must be bool or float, got dtype {mask.dtype}")
        mask = mask.astype(like.dtype)
    scores = (*np.broadcast_shapes(tuple(like.shape[:-2]), batch), L, S)
    try:
        if np.broadcast_shapes(mask.shape, scores) != scores:  # widening them: torch refuses
            raise ValueError
    except ValueError:
        raise ValueError(f"{fn}: attn_mask of shape {mask.shape} does not broadcast to the "
                         f"scores' shape {scores}") from None
    return mask


# --- indices ----------------------------------------------------------------------------------


def one_hot(tensor: Any, num_classes: int = -1) -> Any:
    """torch's ``one_hot``: class indices ``tensor`` of shape ``(*)`` become an int64 tensor of
    shape ``(*, num_classes)`` with a 1 at each index and 0 elsewhere.

    ``tensor`` is an int64 Tensor (the result is on its engine) or an integer ndarray or list
    (the result is on the current engine). ``num_classes=-1`` means ``max + 1`` (an empty
    input then has no classes to infer: a ValueError, as torch refuses it too). A negative
    class or one ``>= num_classes`` is a ValueError naming it. The result never requires
    grad (it is integer), so ``one_hot(y, C).float()`` is the usual next step."""
    engine = _engine(tensor, "one_hot") if is_tensor(tensor) else get_engine()
    if is_tensor(tensor) and tensor.dtype.kind not in "iu":
        raise TypeError(f"one_hot is only applicable to int64 (index) tensors, got dtype "
                        f"{tensor.dtype}")
    values = index_array(tensor, "one_hot")
    if values.dtype.kind not in "iu":
        raise TypeError(f"one_hot: class values must be integers, got dtype {values.dtype}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise TypeError(f"one_hot: num_classes must be an int, got {type(num_classes).__name__}")
    num_classes = int(num_classes)
    if num_classes < -1:
        raise ValueError(f"one_hot: num_classes must be -1 (infer) or >= 0, got {num_classes}")
    if values.size and values.min() < 0:
        raise ValueError(f"one_hot: class values must be non-negative, got {int(values.min())}")
    if num_classes == -1:
        if not values.size:
            raise ValueError("one_hot: cannot infer the number of classes of an empty tensor; "
                             "pass num_classes")
        num_classes = int(values.max()) + 1
    elif values.size and values.max() >= num_classes:
        raise ValueError(f"one_hot: class value {int(values.max())} is not smaller than "
                         f"num_classes={num_classes}")
    out = np.zeros((*values.shape, num_classes), dtype=np.int64)
    np.put_along_axis(out, values[..., None], 1, axis=-1)
    return engine.tensor(out, dtype="int64")


def embedding(input: Any, weight: Any) -> Any:
    """Rows of ``weight`` (num_embeddings, embedding_dim) picked by the ids ``input`` (an int64
    Tensor of the weight's engine, an integer ndarray or a list, any shape): a tensor of shape
    ``input.shape + (embedding_dim,)``; the gradient reaches the picked rows of ``weight``.
    Ids outside ``[0, num_embeddings)`` are an IndexError naming the first one."""
    return lookup_rows(weight, input, "embedding")


def lookup_rows(weight: Any, ids: Any, fn: str) -> Any:
    """:func:`embedding`'s work, with errors naming ``fn`` (``Embedding`` uses it too)."""
    engine = _engine(weight, fn)
    values = index_array(ids, fn, engine.NAME)
    if values.dtype.kind not in "iu":
        raise TypeError(f"{fn}: ids must be integers, got dtype {values.dtype}")
    count = weight.shape[0]
    bad = (values < 0) | (values >= count)
    if bad.any():
        raise IndexError(
            f"{fn}: id {int(values[bad].flat[0])} is out of range for "
            f"num_embeddings={count} (valid: 0..{count - 1})"
        )
    rows = weight[values.reshape(-1)]
    return rows.reshape(*values.shape, weight.shape[1])


# --- losses -----------------------------------------------------------------------------------
#
# Class losses follow torch's layout: input (N, C) with targets (N,), input (N, C, d1, ...)
# with targets (N, d1, ...) (the class dimension is always dim 1), or unbatched input (C,)
# with one target. Internally the class dimension is moved last and everything flattened to
# (M, C) rows; a "none" reduction is reshaped back to the targets' shape.


def legacy_reduction(size_average: bool | None, reduce: bool | None, reduction: str) -> str:
    """torch's deprecated ``size_average`` / ``reduce`` flags, translated to ``reduction``
    (only when one of them is given; both None keep ``reduction``)."""
    if size_average is None and reduce is None:
        return reduction
    warnings.warn("size_average and reduce are deprecated (as in torch); use reduction=",
                  UserWarning, stacklevel=3)
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if size_average and reduce:
        return "mean"
    return "sum" if reduce else "none"


class _Rows:
    """A class-loss input as flat rows: ``logits`` (M, C), ``shape`` = the targets' shape
    (what a "none" reduction is reshaped to), and for index targets ``labels`` (M,) plus
    ``valid`` (M,) (False where the target is ``ignore_index``); for probability targets
    ``probs``, an (M, C) ndarray or tensor."""

    def __init__(self, logits: Any, shape: tuple, classes: int) -> None:
        self.logits, self.shape, self.classes = logits, shape, classes
        self.labels: np.ndarray | None = None
        self.valid: np.ndarray | None = None
        self.probs: Any = None


def _rows(input: Any, fn: str) -> tuple[Any, tuple[int, ...], int]:
    """Move the class dim of ``input`` last and flatten: (rows (M, C), targets' shape, C)."""
    shape = tuple(input.shape)
    if len(shape) == 0:
        raise ValueError(f"{fn}: input must have a class dimension, got a 0-d tensor")
    if len(shape) == 1:
        return input.reshape(1, shape[0]), (), shape[0]
    if len(shape) == 2:
        return input, (shape[0],), shape[1]
    moved = input.permute(0, *range(2, len(shape)), 1)
    return moved.reshape(-1, shape[1]), (shape[0], *shape[2:]), shape[1]


def _index_rows(input: Any, labels: np.ndarray, ignore_index: int, fn: str) -> _Rows:
    logits, shape, classes = _rows(input, fn)
    if labels.shape != shape:
        expected = "(N, d1, ...)" if len(shape) > 1 else "(N,)" if shape else "a scalar"
        hint = ""
        if len(input.shape) == 3 and labels.shape == tuple(input.shape[:2]):
            hint = (f"; for (B, T, C) logits of a sequence pass input.reshape(-1, "
                    f"{input.shape[2]}) with targets.reshape(-1)")
        raise ValueError(
            f"{fn}: input of shape {tuple(input.shape)} needs targets of shape {shape} "
            f"({expected}: the class dimension is dim 1, as in torch), got targets of "
            f"shape {labels.shape}{hint}"
        )
    rows = _Rows(logits, shape, classes)
    flat = labels.reshape(-1).astype(np.int64)
    valid = flat != ignore_index
    bad = valid & ((flat < 0) | (flat >= rows.classes))
    if bad.any():
        raise IndexError(
            f"{fn}: target {int(flat[bad][0])} is out of range for {rows.classes} classes "
            f"(valid: 0..{rows.classes - 1}, or ignore_index={ignore_index})"
        )
    rows.labels, rows.valid = np.where(valid, flat, 0), valid
    return rows


def _prob_rows(engine: ModuleType, input: Any, target: Any, fn: str) -> _Rows:
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(
            f"{fn}: class-probability targets must have the input's shape "
            f"{tuple(input.shape)}, got {tuple(target.shape)}"
        )
    logits, shape, classes = _rows(input, fn)
    rows = _Rows(logits, shape, classes)
    if is_tensor(target):
        _same_engine(engine, target, fn, "target")
        rows.probs = _rows(target, fn)[0]
    else:
        values = np.asarray(target, dtype=np.float64)
        values = values.reshape(1, -1) if values.ndim == 1 else np.moveaxis(values, 1, -1)
        rows.probs = values.reshape(-1, classes)
    return rows


def _class_rows(
    engine: ModuleType, input: Any, target: Any, ignore_index: int, fn: str, probs: bool
) -> _Rows:
    """Check ``target`` against ``input`` and flatten both (see :class:`_Rows`). Integer
    targets (an int64 Tensor, an int ndarray or a list) are class indices; float targets (a
    Tensor or an ndarray) are class probabilities of the input's shape, accepted only where
    ``probs``. Bool targets are neither (torch refuses them too)."""
    if is_tensor(target):
        _same_engine(engine, target, fn, "target")
        kind = target.dtype.kind
    else:
        target = np.asarray(target)
        kind = target.dtype.kind
    if kind == "f":
        if not probs:
            raise TypeError(
                f"{fn}: targets must be integer class indices (an int64 tensor, a numpy "
                f"array or a list), got float values"
            )
        return _prob_rows(engine, input, target, fn)
    if kind not in "iu":
        raise TypeError(
            f"{fn}: targets must be integer class indices"
            f"{' or float class probabilities' if probs else ''}, got dtype {target.dtype}"
        )
    return _index_rows(input, index_array(target, fn, engine.NAME), ignore_index, fn)


def _same_engine(engine: ModuleType, x: Any, fn: str, what: str) -> None:
    if engine_of(x) != engine.NAME:
        raise TypeError(f"{fn}: the input is a {engine.NAME} tensor but {what} is a "
                        f"{engine_of(x)} tensor")


def _class_weight(weight: Any, classes: int, fn: str) -> np.ndarray | None:
    """``weight`` (C,) as a float64 ndarray (a constant, as torch's weights are in practice)."""
    if weight is None:
        return None
    values = np.asarray(weight.numpy() if is_tensor(weight) else weight, dtype=np.float64)
    if values.shape != (classes,):
        raise ValueError(f"{fn}: weight must have shape ({classes},) (one per class), got "
                         f"{values.shape}")
    return values


def _finish(loss: Any, rows: _Rows, reduction: str) -> Any:
    """A per-row loss (M,) reduced; "none" reshaped to the targets' shape."""
    if reduction == "none":
        return loss.reshape(rows.shape) if tuple(loss.shape) != rows.shape else loss
    return _reduce(loss, reduction)


def _divide(total: Any, count: float) -> Any:
    """``total / count``; when nothing counted, nan with a zero gradient (as torch)."""
    return total / count if count != 0 else total * 0.0 + math.nan


def _nll_rows(
    engine: ModuleType, logp: Any, rows: _Rows, weight: np.ndarray | None, reduction: str
) -> Any:
    """torch's nll_loss on flat rows: ``-weight[y] * logp[i, y]``; "mean" divides by the sum
    of the weights of the counted rows; ignored rows count 0."""
    m, c = logp.shape
    picked = logp.reshape(m * c)[np.arange(m) * c + rows.labels]
    if weight is None and rows.valid.all():
        return _finish(-picked, rows, reduction)  # the plain case: mean is a mean
    row_weight = (np.ones(m) if weight is None else weight[rows.labels]) * rows.valid
    loss = -(picked * _constant(engine, row_weight, logp))
    if reduction == "mean":
        return _divide(loss.sum(), float(row_weight.sum()))
    return _finish(loss, rows, reduction)


def nll_loss(
    input: Any,
    target: Any,
    weight: Any = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Any:
    """Negative log-likelihood of log-probabilities ``input`` (class dim 1) at integer
    ``target``: ``-weight[t] * input[i, t]``; targets equal to ``ignore_index`` count 0 and
    leave the mean's denominator (the sum of the counted rows' weights)."""
    engine = _engine(input, "nll_loss")
    _require_float(input, "nll_loss")
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "nll_loss")
    rows = _class_rows(engine, input, target, ignore_index, "nll_loss", probs=False)
    weights = _class_weight(weight, rows.classes, "nll_loss")
    return _nll_rows(engine, rows.logits, rows, weights, reduction)


def _check_label_smoothing(label_smoothing: float, fn: str) -> float:
    if not 0.0 <= float(label_smoothing) <= 1.0:
        raise ValueError(f"{fn}: label_smoothing must be between 0.0 and 1.0, got "
                         f"{label_smoothing!r}")
    return float(label_smoothing)


def _smoothing_term(
    engine: ModuleType, logp: Any, rows: _Rows, weight: np.ndarray | None, reduction: str
) -> Any:
    """torch's label-smoothing term before its factor eps / C: ``-sum_c weight[c] logp[i, c]``
    per counted row, reduced like the nll term (weighted mean over the counted rows)."""
    per_class = logp if weight is None else logp * _constant(engine, weight, logp)
    smooth = -per_class.sum(dim=1)
    if not rows.valid.all():
        smooth = smooth * _constant(engine, rows.valid.astype(np.float64), logp)
    if reduction != "mean":
        return _finish(smooth, rows, reduction)
    if weight is None:
        return _divide(smooth.sum(), float(rows.valid.sum()))
    return _divide(smooth.sum(), float((weight[rows.labels] * rows.valid).sum()))


def _soft_cross_entropy(
    engine: ModuleType, rows: _Rows, weight: np.ndarray | None, reduction: str, eps: float
) -> Any:
    """Cross-entropy against class probabilities: ``-sum_c weight[c] p[i, c] logp[i, c]``,
    with ``p`` smoothed to ``p (1 - eps) + eps / C``; "mean" divides by the number of rows."""
    logp = log_softmax(rows.logits, dim=-1)
    probs = rows.probs
    if eps > 0:
        probs = probs * (1 - eps) + eps / rows.classes
    if not is_tensor(probs):
        probs = _constant(engine, probs, logp)
    product = logp * probs
    if weight is not None:
        product = product * _constant(engine, weight, logp)
    if reduction == "none":
        return _finish(-product.sum(dim=1), rows, reduction)
    total = -product.sum()
    return total if reduction == "sum" else _divide(total, float(logp.shape[0]))


def cross_entropy(
    input: Any,
    target: Any,
    weight: Any = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Any:
    """Softmax cross-entropy of logits ``input`` (class dim 1, as torch) against ``target``.

    ``target`` holds integer class indices (shape: the input's without dim 1) or float class
    probabilities (the input's shape). ``weight`` (C,) scales each class; ``ignore_index``
    targets count 0; ``label_smoothing`` in [0, 1] mixes the targets with the uniform
    distribution (torch's formula: ``(1 - eps) * nll + eps / C * smoothing term``).

    The tensor engine's fused kernel is used only for the plain case (index targets, no
    weight, no smoothing, nothing ignored); everything else is composed from protocol ops.
    Language-model logits (B, T, C) go in as ``input.reshape(-1, C)`` with
    ``target.reshape(-1)``, as in torch."""
    engine = _engine(input, "cross_entropy")
    _require_float(input, "cross_entropy")
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "cross_entropy")
    eps = _check_label_smoothing(label_smoothing, "cross_entropy")
    rows = _class_rows(engine, input, target, ignore_index, "cross_entropy", probs=True)
    weights = _class_weight(weight, rows.classes, "cross_entropy")
    if rows.probs is not None:
        return _soft_cross_entropy(engine, rows, weights, reduction, eps)
    plain = weights is None and eps == 0 and rows.valid.all()
    op = _fused_op(engine, "cross_entropy") if plain else None
    if op is not None:  # the fused kernel reduces by itself; "none" only needs the shape back
        loss = op(rows.logits, rows.labels, reduction=reduction)
        return _finish(loss, rows, reduction) if reduction == "none" else loss
    logp = log_softmax(rows.logits, dim=-1)
    loss = _nll_rows(engine, logp, rows, weights, reduction)
    if eps == 0:
        return loss
    smooth = _smoothing_term(engine, logp, rows, weights, reduction)
    return loss * (1 - eps) + smooth * (eps / rows.classes)


def _float_target(engine: ModuleType, input: Any, target: Any, fn: str) -> Any:
    """``target`` as a tensor of the input's shape: a tensor of the same engine as is, an
    ndarray as a constant, a number broadcast to every element."""
    if is_tensor(target):
        _same_engine(engine, target, fn, "target")
    else:
        values = np.asarray(target, dtype=np.float64)
        if values.ndim == 0:  # a number: compare every element with it
            values = np.full(tuple(input.shape), float(values))
        target = _constant(engine, values, input)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(
            f"{fn}: input shape {tuple(input.shape)} and target shape "
            f"{tuple(target.shape)} differ"
        )
    return target


def mse_loss(input: Any, target: Any, reduction: str = "mean") -> Any:
    """Mean (or sum) of squared differences. ``target`` may be a Tensor of the same engine,
    an ndarray or a number; its shape must equal the input's."""
    engine = _engine(input, "mse_loss")
    _require_float(input, "mse_loss")
    _check_reduction(reduction, "mse_loss")
    diff = input - _float_target(engine, input, target, "mse_loss")
    return _reduce(diff * diff, reduction)


def l1_loss(input: Any, target: Any, reduction: str = "mean") -> Any:
    """Mean (or sum) of absolute differences, ``|input - target|`` (needs ``Tensor.abs``).
    ``target`` as in :func:`mse_loss`."""
    engine = _engine(input, "l1_loss")
    _require_float(input, "l1_loss")
    _check_reduction(reduction, "l1_loss")
    diff = input - _float_target(engine, input, target, "l1_loss")
    if not hasattr(diff, "abs"):
        raise NotImplementedError(
            f"l1_loss needs Tensor.abs, which the {engine.NAME} engine does not have yet"
        )
    return _reduce(diff.abs(), reduction)


def _broadcast_constant(engine: ModuleType, value: Any, like: Any, fn: str, what: str) -> Any:
    """A weight: a tensor of the same engine as is, else a constant (broadcast by the op)."""
    if is_tensor(value):
        _same_engine(engine, value, fn, what)
        return value
    return _constant(engine, np.asarray(value, dtype=np.float64), like)


def binary_cross_entropy_with_logits(
    input: Any,
    target: Any,
    weight: Any = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    pos_weight: Any = None,
) -> Any:
    """Sigmoid + binary cross-entropy in one stable formula (torch's):

        loss = (1 - t) x + (1 + (pos_weight - 1) t) * softplus(-x)
        softplus(-x) = max(-x, 0) + log(1 + exp(-|x|))

    so no exp overflows. ``target`` (the input's shape) holds probabilities in [0, 1];
    ``weight`` scales each element, ``pos_weight`` the positive term (broadcast, e.g. (C,))."""
    engine = _engine(input, "binary_cross_entropy_with_logits")
    _require_float(input, "binary_cross_entropy_with_logits")
    fn = "binary_cross_entropy_with_logits"
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, fn)
    if not is_tensor(target) and np.asarray(target).ndim == 0:
        raise ValueError(f"{fn}: target must have the input's shape {tuple(input.shape)}")
    target = _float_target(engine, input, target, fn)
    # |x| and max(-x, 0) through where(), so that at x == 0 the gradient is torch's
    # sigmoid(0) - t (the derivative of |x| is taken as +1 there, of max(-x, 0) as 0).
    non_negative = input.numpy() >= 0  # a constant mask: no graph, on every engine
    magnitude = engine.where(non_negative, input, -input)
    softplus = engine.where(non_negative, 0.0, -input) + ((-magnitude).exp() + 1.0).log()
    if pos_weight is not None:
        scale = (_broadcast_constant(engine, pos_weight, input, fn, "pos_weight") - 1.0)
        softplus = softplus * (scale * target + 1.0)
    loss = (1.0 - target) * input + softplus
    if weight is not None:
        loss = loss * _broadcast_constant(engine, weight, input, fn, "weight")
    return _reduce(loss, reduction)
