"""Gradient clipping, as ``torch.nn.utils.clip_grad_norm_`` / ``clip_grad_value_``.

These functions read each parameter's ``grad`` (a Tensor of its engine, read as an array
with ``p.grad.numpy()``; a gradient assigned as an ndarray works too), compute with numpy in
the gradient's dtype and write a *new* array back with ``p.grad = new``; they never modify a
gradient array in place and never build graph nodes. Parameters whose ``grad`` is None are
skipped. ``parameters`` is one engine tensor or an iterable of them (``model.parameters()``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from ..engine import as_numpy, is_tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_", "get_total_norm", "clip_grads_with_norm_"]


def _as_list(parameters: Any) -> list[Any]:
    params = [parameters] if is_tensor(parameters) else list(parameters)
    for p in params:
        if not is_tensor(p):
            raise TypeError(f"expected engine Tensors (parameters), got {type(p).__name__}")
    return params


def _vector_norm(values: np.ndarray, norm_type: float) -> np.floating:
    """The ``norm_type``-norm of all entries as one vector (inf: max |x|, -inf: min |x|,
    0: the number of non-zeros), in the array's dtype, as ``torch.linalg.vector_norm``."""
    flat = np.asarray(values).reshape(-1)
    if flat.size == 0:
        return flat.dtype.type(0.0)
    return flat.dtype.type(np.linalg.norm(flat, ord=norm_type))


def get_total_norm(
    tensors: Any,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> np.floating:
    """The norm of the norms of ``tensors`` (gradients: engine Tensors or ndarrays): the norm
    of all their entries as if concatenated into one vector. ``foreach`` is accepted and
    ignored."""
    single = isinstance(tensors, np.ndarray) or is_tensor(tensors)
    arrays = [as_numpy(t) for t in ([tensors] if single else tensors)]
    norm_type = float(norm_type)
    if not arrays:
        return np.float32(0.0)  # torch.tensor(0.0): the default float32
    norms = [_vector_norm(a, norm_type) for a in arrays]
    total = _vector_norm(np.stack(norms), norm_type)
    if error_if_nonfinite and not math.isfinite(float(total)):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is "
            f"non-finite ({float(total)}), so it cannot be clipped. To disable this error and "
            f"scale the gradients by the non-finite norm anyway, set `error_if_nonfinite=False`"
        )
    return total


def clip_grads_with_norm_(
    parameters: Any, max_norm: float, total_norm: Any, foreach: bool | None = None
) -> None:
    """Scale every gradient by ``min(max_norm / (total_norm + 1e-6), 1)`` (always multiplied,
    as torch, so a factor of exactly 1 changes nothing)."""
    pairs = [(p, g) for p, g in ((p, p.grad) for p in _as_list(parameters)) if g is not None]
    if not pairs:
        return
    total = as_numpy(total_norm)
    coef = min(total.dtype.type(float(max_norm)) / (total + total.dtype.type(1e-6)), 1.0)
    for p, g in pairs:
        grad = as_numpy(g)
        with np.errstate(invalid="ignore"):  # inf * 0 -> nan, silently, as torch
            p.grad = grad * grad.dtype.type(coef)


def clip_grad_norm_(
    parameters: Iterable[Any] | Any,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> np.floating:
    """Rescale the gradients so that their total ``norm_type``-norm is at most ``max_norm``;
    returns the total norm *before* clipping (a numpy scalar: ``float(n)`` or ``n.item()``).

    ``error_if_nonfinite=True`` raises RuntimeError when that norm is nan or inf.
    ``norm_type`` may be ``float("inf")`` (the largest absolute entry)."""
    params = _as_list(parameters)
    grads = [as_numpy(g) for g in (p.grad for p in params) if g is not None]
    total = get_total_norm(grads, norm_type, error_if_nonfinite)
    clip_grads_with_norm_(params, max_norm, total)
    return total


def clip_grad_value_(
    parameters: Iterable[Any] | Any, clip_value: float, foreach: bool | None = None
) -> None:
    """Clamp every gradient entry into ``[-clip_value, clip_value]``."""
    limit = float(clip_value)
    for p in _as_list(parameters):
        grad = p.grad
        if grad is not None:
            grad = as_numpy(grad)
            p.grad = np.clip(grad, -limit, limit).astype(grad.dtype, copy=False)
