"""torch.nn.functional as the torch engine's "fused" ops.

``shared_nn.functional`` looks for ``engine.fused.<op>`` and, while fusion is on, calls it
instead of composing the function from protocol ops. For the torch engine the fused kernels
are PyTorch's own (``torch.nn.functional.softmax`` and friends), so a shared_nn model on
``engine="torch"`` computes exactly what the equivalent ``torch.nn`` model computes: the
reference behaviour. ``shared_nn.functional.fused(False)`` composes them from protocol ops on
torch tensors instead, which the equivalence suite compares too.

Signatures are tensor_engine.fused's: ``softmax(x, dim=-1)``, ``log_softmax(x, dim=-1)``,
``cross_entropy(logits, targets, reduction="mean")`` (logits ``(N, C)``, integer targets
``(N,)`` as an int64 Tensor, an ndarray or a list), ``layer_norm(x, weight, bias,
eps=1e-5)`` (the last dim; weight/bias may be None), ``gelu(x)`` (tanh approximation),
``linear(x, weight, bias)`` and ``scaled_dot_product_attention(q, k, v, mask=None,
scale=None)`` (mask: an ndarray or a Tensor, bool True where a query may look, or float
added to the scores).

softmax and log_softmax refuse int64 / bool input as the Tensor methods do
(``engine_api.errors.float_only_error``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as torch_F

from engine_api import errors, rules

from ._convert import numpy_dtype
from .tensor import NAME, Tensor, wrap

__all__ = ["softmax", "log_softmax", "cross_entropy", "layer_norm", "gelu", "linear",
           "scaled_dot_product_attention"]

_REDUCTIONS = ("mean", "sum", "none")


def _check_tensor(x: Any, op: str) -> torch.Tensor:
    if not isinstance(x, Tensor):
        if rules.foreign_tensor(x):
            raise errors.mixing_error(op, NAME, x)
        raise TypeError(f"{op}: expected a torch_engine Tensor, got "
                        f"{type(x).__module__}.{type(x).__name__}")
    return x.to_torch()


def _optional(x: Any, op: str) -> torch.Tensor | None:
    return None if x is None else _check_tensor(x, op)


def _float_input(x: Any, op: str) -> torch.Tensor:
    t = _check_tensor(x, op)
    if not t.is_floating_point():
        raise errors.float_only_error(op, numpy_dtype(t.dtype))
    return t


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``dim``."""
    t = _float_input(x, "softmax")
    return wrap(torch_F.softmax(t, dim=rules.normalize_dim(dim, max(t.ndim, 1), "softmax")))


def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    """``x - log(sum(exp(x)))`` along ``dim``."""
    t = _float_input(x, "log_softmax")
    d = rules.normalize_dim(dim, max(t.ndim, 1), "log_softmax")
    return wrap(torch_F.log_softmax(t, dim=d))


def cross_entropy(logits: Tensor, targets: Any, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy of logits ``(N, C)`` against integer class targets ``(N,)``."""
    t = _check_tensor(logits, "cross_entropy")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"cross_entropy: reduction must be one of {_REDUCTIONS}, "
                         f"got {reduction!r}")
    if isinstance(targets, Tensor):
        ids = targets.to_torch().detach().to(device=t.device, dtype=torch.int64)
    elif rules.foreign_tensor(targets):
        raise errors.mixing_error("cross_entropy", NAME, targets)
    else:
        ids = torch.from_numpy(np.asarray(targets, dtype=np.int64).copy()).to(t.device)
    return wrap(torch_F.cross_entropy(t, ids, reduction=reduction))


def layer_norm(x: Tensor, weight: Tensor | None, bias: Tensor | None,
               eps: float = 1e-5) -> Tensor:
    """Normalise the last dimension (biased variance), then scale and shift."""
    t = _check_tensor(x, "layer_norm")
    w, b = _optional(weight, "layer_norm"), _optional(bias, "layer_norm")
    return wrap(torch_F.layer_norm(t, (t.shape[-1],), w, b, float(eps)))


def gelu(x: Tensor) -> Tensor:
    """GELU in its tanh approximation (GPT-2's)."""
    return wrap(torch_F.gelu(_check_tensor(x, "gelu"), approximate="tanh"))


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x @ weight.T + bias`` (weight ``(out_features, in_features)``): torch's own kernel."""
    t, w = _check_tensor(x, "linear"), _check_tensor(weight, "linear")
    if t.shape[-1:] != w.shape[-1:]:
        raise ValueError(f"linear: input of shape {tuple(t.shape)} does not fit weight of "
                         f"shape {tuple(w.shape)} (last dims differ)")
    return wrap(torch_F.linear(t, w, _optional(bias, "linear")))


def scaled_dot_product_attention(q: Tensor, k: Tensor, v: Tensor, mask: Any = None,
                                 scale: float | None = None) -> Tensor:
    """``softmax(scale * q @ kᵀ + mask) @ v``: torch's own kernel."""
    tq = _check_tensor(q, "scaled_dot_product_attention")
    tk = _check_tensor(k, "scaled_dot_product_attention")
    tv = _check_tensor(v, "scaled_dot_product_attention")
    attn_mask = None
    if isinstance(mask, Tensor):
        attn_mask = mask.to_torch().detach().to(tq.device)
    elif mask is not None:
        attn_mask = torch.from_numpy(np.array(mask)).to(tq.device)  # a writable copy
    if attn_mask is not None and attn_mask.dtype != torch.bool:
        attn_mask = attn_mask.to(tq.dtype)
    return wrap(torch_F.scaled_dot_product_attention(tq, tk, tv, attn_mask=attn_mask,
                                                      scale=scale))
