"""Stateless functions on engine Tensors, named and shaped as ``torch.nn.functional``.

Each function is composed from protocol ops, so it runs on both engines and its gradient
comes for free. When the input's engine ships a fused version with a hand-written backward
(``tensor_engine.fused``) and fusion is on, that one is used instead: one graph node instead
of a dozen. ``set_fused(False)`` or ``with fused(False):`` switches to the composed versions,
which is how the two are compared.

Integer inputs (class targets) are numpy int arrays or lists, never tensors.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from types import ModuleType
from typing import Any

import numpy as np

from .engine import engine_of, get_engine, is_tensor

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
    name = engine_of(x)
    if name is None:
        raise TypeError(f"{fn} expects an engine Tensor, got {type(x).__name__}")
    return get_engine(name)


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


def gelu(x: Any, approximate: str = "tanh") -> Any:
    """GELU in its tanh approximation (GPT-2's):
    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    if approximate != "tanh":
        raise ValueError(
            f"gelu: only approximate='tanh' is supported (the exact form needs erf), "
            f"got {approximate!r}"
        )
    engine = _engine(x, "gelu")
    op = _fused_op(engine, "gelu")
    if op is not None:
        return op(x)
    inner = (x + x**3 * 0.044715) * math.sqrt(2.0 / math.pi)
    return x * 0.5 * (inner.tanh() + 1.0)


def softmax(x: Any, dim: int = -1) -> Any:
    """exp(x) / sum(exp(x)) along ``dim``, computed as exp(x - max) for stability."""
    engine = _engine(x, "softmax")
    op = _fused_op(engine, "softmax")
    if op is not None:
        return op(x, dim=dim)
    # Shifting by the max changes nothing mathematically, so the max is a constant (no grad).
    shift = _constant(engine, x.numpy().max(axis=dim, keepdims=True), x)
    e = (x - shift).exp()
    return e / e.sum(dim=dim, keepdim=True)


def log_softmax(x: Any, dim: int = -1) -> Any:
    """log(softmax(x)) along ``dim``, computed as (x - max) - log(sum(exp(x - max)))."""
    engine = _engine(x, "log_softmax")
    op = _fused_op(engine, "log_softmax")
    if op is not None:
        return op(x, dim=dim)
    shift = _constant(engine, x.numpy().max(axis=dim, keepdims=True), x)
    z = x - shift
    return z - z.exp().sum(dim=dim, keepdim=True).log()


# --- layers as functions ----------------------------------------------------------------------


def linear(x: Any, weight: Any, bias: Any = None) -> Any:
    """x @ weight.T + bias, with weight of shape (out_features, in_features) as in torch."""
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


# --- losses -----------------------------------------------------------------------------------


def _class_targets(input: Any, target: Any, fn: str) -> tuple[Any, np.ndarray, tuple]:
    """Check integer class targets against ``input`` and flatten both to (N, C) and (N,).

    Accepted: input (N, C) with target (N,); input (C,) with a scalar target; and, as a
    convenience for language models, input (B, T, C) with target (B, T) (torch would expect
    the class dimension second). Returns the flat input, the flat targets and target's shape.
    """
    if is_tensor(target):
        raise TypeError(f"{fn}: targets must be an integer numpy array or list, not a Tensor")
    labels = np.asarray(target)
    if labels.dtype.kind not in "iu":
        raise TypeError(
            f"{fn}: targets must be integer class indices, got dtype {labels.dtype}"
        )
    shape = tuple(input.shape)
    if len(shape) in (1, 2, 3) and labels.shape == shape[:-1]:
        classes = shape[-1]
        rows = int(np.prod(shape[:-1], dtype=np.int64))
        flat_input = input if len(shape) == 2 else input.reshape(rows, classes)
    else:
        raise ValueError(
            f"{fn}: input of shape {shape} and targets of shape {labels.shape} do not match; "
            f"expected input (N, C) with targets (N,), or (B, T, C) with (B, T)"
        )
    bad = (labels < 0) | (labels >= classes)
    if bad.any():
        raise IndexError(
            f"{fn}: target {int(labels[bad].flat[0])} is out of range for {classes} classes "
            f"(valid: 0..{classes - 1})"
        )
    return flat_input, labels.reshape(rows).astype(np.int64), labels.shape


def nll_loss(input: Any, target: Any, reduction: str = "mean") -> Any:
    """Negative log-likelihood: the mean (or sum) of ``-input[i, target[i]]`` for log-probs."""
    _engine(input, "nll_loss")
    _check_reduction(reduction, "nll_loss")
    logp, labels, target_shape = _class_targets(input, target, "nll_loss")
    rows, classes = logp.shape
    picked = logp.reshape(rows * classes)[np.arange(rows) * classes + labels]
    loss = -picked
    if reduction == "none":
        return loss.reshape(*target_shape) if target_shape != (rows,) else loss
    return _reduce(loss, reduction)


def cross_entropy(input: Any, target: Any, reduction: str = "mean") -> Any:
    """Softmax cross-entropy of logits ``input`` against integer class ``target``
    (= nll_loss(log_softmax(input), target))."""
    engine = _engine(input, "cross_entropy")
    _check_reduction(reduction, "cross_entropy")
    logits, labels, target_shape = _class_targets(input, target, "cross_entropy")
    op = _fused_op(engine, "cross_entropy")
    if op is None:
        loss = nll_loss(log_softmax(logits, dim=-1), labels, reduction=reduction)
    else:
        loss = op(logits, labels, reduction=reduction)
    if reduction == "none" and target_shape != (logits.shape[0],):
        return loss.reshape(*target_shape)
    return loss


def mse_loss(input: Any, target: Any, reduction: str = "mean") -> Any:
    """Mean (or sum) of squared differences. ``target`` may be a Tensor of the same engine,
    an ndarray or a number; its shape must equal the input's."""
    engine = _engine(input, "mse_loss")
    _check_reduction(reduction, "mse_loss")
    if not is_tensor(target):
        values = np.asarray(target, dtype=np.float64)
        if values.ndim == 0:  # a number: compare every element with it
            values = np.full(tuple(input.shape), float(values))
        target = _constant(engine, values, input)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(
            f"mse_loss: input shape {tuple(input.shape)} and target shape "
            f"{tuple(target.shape)} differ"
        )
    diff = input - target
    return _reduce(diff * diff, reduction)
