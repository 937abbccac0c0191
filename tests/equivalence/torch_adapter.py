"""PyTorch seen through dualgrad's engine protocol (tests only).

The equivalence properties are written once, against the protocol of
``docs/architecture.md``, and then run on three backends. Two of them *are* the protocol
(``scalar_engine``, ``tensor_engine``); this module makes PyTorch the third by wrapping each
``torch.Tensor`` in :class:`TorchTensor`, whose methods have the protocol's names and
meanings where torch's differ:

=========================  ====================================================
protocol                   torch
=========================  ====================================================
``x.to(numpy dtype)``      the torch dtype of the same name
``x.grad``, ``x.numpy()``  numpy arrays instead of tensors
``x.masked_fill(m, v)``    ``m`` is a bool ndarray instead of a bool tensor
``x[idx]``                 index arrays are ndarrays / lists instead of tensors
``x < y``                  a bool ndarray instead of a bool tensor
``F.cross_entropy``        targets are int ndarrays instead of LongTensors
``F.dropout``              the mask comes from shared_nn's seeded generator
=========================  ====================================================

Every value is float64 unless a test asks otherwise: torch in float64 is the reference.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as torch_F

NAME = "torch"
DEFAULT_DTYPE = torch.float64


def _torch_dtype(dtype: Any) -> torch.dtype:
    """Map ``None``/numpy dtypes to torch dtypes (float64 by default: we are the reference)."""
    if dtype is None:
        return DEFAULT_DTYPE
    return {np.dtype(np.float64): torch.float64, np.dtype(np.float32): torch.float32}[
        np.dtype(dtype)
    ]


def _is_numpy_dtype(x: Any) -> bool:
    """True for numpy dtypes and scalar types (``np.float32``), not for strings like "cpu"."""
    return isinstance(x, np.dtype) or (isinstance(x, type) and issubclass(x, np.generic))


def _unwrap(x: Any) -> Any:
    """The torch object behind ``x``: tensors unwrap, index arrays become LongTensors."""
    if isinstance(x, TorchTensor):
        return x.t
    if isinstance(x, np.ndarray):
        return torch.from_numpy(x)
    if isinstance(x, list):
        return torch.tensor(x)
    if isinstance(x, tuple):
        return tuple(_unwrap(item) for item in x)
    return x


def _dims(dim: int | Sequence[int] | None, ndim: int) -> int | tuple[int, ...]:
    """torch reads ``dim=None`` as "all dims" only in some functions; spell it out."""
    if dim is None:
        return tuple(range(ndim))
    return dim if isinstance(dim, int) else tuple(dim)


class TorchTensor:
    """A ``torch.Tensor`` with the protocol's method names and return types."""

    __slots__ = ("t",)
    engine = NAME
    __array_ufunc__ = None  # numpy scalars on the left defer to our reflected methods

    def __init__(self, t: torch.Tensor) -> None:
        self.t = t

    # ------------------------------------------------------------------ data
    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.t.shape)

    @property
    def ndim(self) -> int:
        return self.t.ndim

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(str(self.t.dtype).removeprefix("torch."))

    def numel(self) -> int:
        return self.t.numel()

    def numpy(self) -> np.ndarray:
        return self.t.detach().numpy()

    def item(self) -> float:
        return self.t.item()

    def tolist(self) -> Any:
        return self.t.tolist()

    def __len__(self) -> int:
        return len(self.t)

    def __repr__(self) -> str:
        return f"TorchTensor({self.t!r})"

    # ------------------------------------------------------------------ autograd
    @property
    def requires_grad(self) -> bool:
        return self.t.requires_grad

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        self.t.requires_grad = flag

    @property
    def grad(self) -> np.ndarray | None:
        return None if self.t.grad is None else self.t.grad.numpy()

    @grad.setter
    def grad(self, value: None) -> None:
        self.t.grad = value

    @property
    def is_leaf(self) -> bool:
        return self.t.is_leaf

    def backward(self, grad: np.ndarray | None = None, retain_graph: bool = False) -> None:
        upstream = None if grad is None else torch.as_tensor(grad, dtype=self.t.dtype)
        self.t.backward(upstream, retain_graph=retain_graph)

    def retain_grad(self) -> None:
        self.t.retain_grad()

    def detach(self) -> TorchTensor:
        return TorchTensor(self.t.detach())

    def assign_(self, values: np.ndarray) -> None:
        with torch.no_grad():
            self.t.copy_(torch.as_tensor(values))

    # ------------------------------------------------------------------ arithmetic
    def __add__(self, other: Any) -> TorchTensor:
        return TorchTensor(self.t + _unwrap(other))

    def __radd__(self, other: Any) -> TorchTensor:
        return TorchTensor(_unwrap(other) + self.t)

    def __sub__(self, other: Any) -> TorchTensor:
        return TorchTensor(self.t - _unwrap(other))

    def __rsub__(self, other: Any) -> TorchTensor:
        return TorchTensor(_unwrap(other) - self.t)

    def __mul__(self, other: Any) -> TorchTensor:
        return TorchTensor(self.t * _unwrap(other))

    def __rmul__(self, other: Any) -> TorchTensor:
        return TorchTensor(_unwrap(other) * self.t)

    def __truediv__(self, other: Any) -> TorchTensor:
        return TorchTensor(self.t / _unwrap(other))

    def __rtruediv__(self, other: Any) -> TorchTensor:
        return TorchTensor(_unwrap(other) / self.t)

    def __neg__(self) -> TorchTensor:
        return TorchTensor(-self.t)

    def __pow__(self, exponent: float) -> TorchTensor:
        return TorchTensor(self.t**exponent)

    def __matmul__(self, other: TorchTensor) -> TorchTensor:
        return TorchTensor(self.t @ other.t)

    def matmul(self, other: TorchTensor) -> TorchTensor:
        return self @ other

    # comparisons give bool ndarrays, as in the protocol (== stays identity there too)
    def __lt__(self, other: Any) -> np.ndarray:
        return (self.t < _unwrap(other)).numpy()

    def __le__(self, other: Any) -> np.ndarray:
        return (self.t <= _unwrap(other)).numpy()

    def __gt__(self, other: Any) -> np.ndarray:
        return (self.t > _unwrap(other)).numpy()

    def __ge__(self, other: Any) -> np.ndarray:
        return (self.t >= _unwrap(other)).numpy()

    # ------------------------------------------------------------------ elementwise
    def exp(self) -> TorchTensor:
        return TorchTensor(self.t.exp())

    def log(self) -> TorchTensor:
        return TorchTensor(self.t.log())

    def tanh(self) -> TorchTensor:
        return TorchTensor(self.t.tanh())

    def relu(self) -> TorchTensor:
        return TorchTensor(self.t.relu())

    def sigmoid(self) -> TorchTensor:
        return TorchTensor(self.t.sigmoid())

    def sqrt(self) -> TorchTensor:
        return TorchTensor(self.t.sqrt())

    def abs(self) -> TorchTensor:
        return TorchTensor(self.t.abs())

    def sin(self) -> TorchTensor:
        return TorchTensor(self.t.sin())

    def cos(self) -> TorchTensor:
        return TorchTensor(self.t.cos())

    def erf(self) -> TorchTensor:
        return TorchTensor(self.t.erf())

    def square(self) -> TorchTensor:
        return TorchTensor(self.t.square())

    def pow(self, exponent: float) -> TorchTensor:
        return TorchTensor(self.t.pow(exponent))

    def clamp(self, min: float | None = None, max: float | None = None) -> TorchTensor:
        return TorchTensor(self.t.clamp(min, max))

    def clip(self, min: float | None = None, max: float | None = None) -> TorchTensor:
        return TorchTensor(self.t.clip(min, max))

    def softmax(self, dim: int) -> TorchTensor:
        return TorchTensor(self.t.softmax(dim))

    def log_softmax(self, dim: int) -> TorchTensor:
        return TorchTensor(self.t.log_softmax(dim))

    def clone(self) -> TorchTensor:
        return TorchTensor(self.t.clone())

    # ------------------------------------------------------------------ dtype and flags
    def float(self) -> TorchTensor:
        return self._same_or_new(self.t.float())

    def double(self) -> TorchTensor:
        return self._same_or_new(self.t.double())

    def to(self, *args: Any, **kwargs: Any) -> TorchTensor:
        """Numpy dtypes become torch dtypes; strings ("cpu") and torch objects pass as is."""
        args = tuple(_torch_dtype(a) if _is_numpy_dtype(a) else a for a in args)
        if "dtype" in kwargs:
            kwargs["dtype"] = _torch_dtype(kwargs["dtype"])
        return self._same_or_new(self.t.to(*args, **kwargs))

    def _same_or_new(self, t: torch.Tensor) -> TorchTensor:
        """``self`` when torch returned the very same tensor (so ``x.to(...) is x`` holds)."""
        return self if t is self.t else TorchTensor(t)

    def requires_grad_(self, requires_grad: bool = True) -> TorchTensor:
        self.t.requires_grad_(requires_grad)
        return self

    # ------------------------------------------------------------------ reductions
    def sum(self, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> TorchTensor:
        return TorchTensor(self.t.sum(dim=_dims(dim, self.ndim), keepdim=keepdim))

    def mean(self, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> TorchTensor:
        return TorchTensor(self.t.mean(dim=_dims(dim, self.ndim), keepdim=keepdim))

    def max(self, dim: int | None = None, keepdim: bool = False) -> Any:
        if dim is None:  # torch's max() shares the gradient among ties; inputs have none
            out = self.t.max()
            return TorchTensor(out.reshape((1,) * self.ndim) if keepdim else out)
        out = self.t.max(dim=dim, keepdim=keepdim)
        return type(out)((TorchTensor(out.values), TorchTensor(out.indices)))

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> TorchTensor:
        return TorchTensor(self.t.argmax(dim=dim, keepdim=keepdim))

    def min(self, dim: int | None = None, keepdim: bool = False) -> Any:
        if dim is None:  # torch's min() shares the gradient among ties (and NaNs)
            out = self.t.min()
            return TorchTensor(out.reshape((1,) * self.ndim) if keepdim else out)
        out = self.t.min(dim=dim, keepdim=keepdim)
        return type(out)((TorchTensor(out.values), TorchTensor(out.indices)))

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> TorchTensor:
        return TorchTensor(self.t.argmin(dim=dim, keepdim=keepdim))

    def var(self, *args: Any, **kwargs: Any) -> TorchTensor:
        """torch's own argument parsing (``var(False)``, ``correction=``...) is the reference."""
        return TorchTensor(self.t.var(*args, **kwargs))

    def std(self, *args: Any, **kwargs: Any) -> TorchTensor:
        return TorchTensor(self.t.std(*args, **kwargs))

    # ------------------------------------------------------------------ shape
    def reshape(self, *shape: Any) -> TorchTensor:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return TorchTensor(self.t.reshape(shape))

    view = reshape

    def transpose(self, d0: int, d1: int) -> TorchTensor:
        return TorchTensor(self.t.transpose(d0, d1))

    @property
    def T(self) -> TorchTensor:  # noqa: N802 (the protocol's name)
        return TorchTensor(self.t.T)

    def permute(self, *dims: Any) -> TorchTensor:
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        return TorchTensor(self.t.permute(dims))

    def unsqueeze(self, dim: int) -> TorchTensor:
        return TorchTensor(self.t.unsqueeze(dim))

    def squeeze(self, dim: int | None = None) -> TorchTensor:
        return TorchTensor(self.t.squeeze() if dim is None else self.t.squeeze(dim))

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> TorchTensor:
        return TorchTensor(self.t.flatten(start_dim, end_dim))

    def expand(self, *sizes: Any) -> TorchTensor:
        return TorchTensor(self.t.expand(*sizes))

    def split(self, size: int | Sequence[int], dim: int = 0) -> tuple[TorchTensor, ...]:
        size = size if isinstance(size, int) else list(size)
        return tuple(TorchTensor(part) for part in self.t.split(size, dim=dim))

    def __getitem__(self, index: Any) -> TorchTensor:
        return TorchTensor(self.t[_unwrap(index)])

    def __setitem__(self, index: Any, value: Any) -> None:
        self.t[_unwrap(index)] = _unwrap(value)

    # ------------------------------------------------------------------ masks
    def masked_fill(self, mask: np.ndarray, value: float) -> TorchTensor:
        return TorchTensor(self.t.masked_fill(torch.as_tensor(np.asarray(mask)), value))


# ---------------------------------------------------------------------- module level


    # ------------------------------------------------------------------ in-place (torch's own)
    def _inplace(self, method: str, *args: Any, **kwargs: Any) -> TorchTensor:
        getattr(self.t, method)(*(_unwrap(a) for a in args), **kwargs)
        return self

    def add_(self, other: Any, alpha: float = 1) -> TorchTensor:
        return self._inplace("add_", other, alpha=alpha)

    def sub_(self, other: Any, alpha: float = 1) -> TorchTensor:
        return self._inplace("sub_", other, alpha=alpha)

    def mul_(self, other: Any) -> TorchTensor:
        return self._inplace("mul_", other)

    def div_(self, other: Any) -> TorchTensor:
        return self._inplace("div_", other)

    def fill_(self, value: Any) -> TorchTensor:
        return self._inplace("fill_", value)

    def zero_(self) -> TorchTensor:
        return self._inplace("zero_")

    def copy_(self, src: Any) -> TorchTensor:
        src = src if isinstance(src, TorchTensor) else torch.as_tensor(np.asarray(src, float))
        return self._inplace("copy_", src)

    def clamp_(self, min: Any = None, max: Any = None) -> TorchTensor:  # noqa: A002
        return self._inplace("clamp_", min=min, max=max)

    def __iadd__(self, other: Any) -> TorchTensor:
        return self.add_(other)

    def __isub__(self, other: Any) -> TorchTensor:
        return self.sub_(other)

    def __imul__(self, other: Any) -> TorchTensor:
        return self.mul_(other)

    def __itruediv__(self, other: Any) -> TorchTensor:
        return self.div_(other)

    def __bool__(self) -> bool:
        return bool(self.t)

    def __iter__(self) -> Iterator[TorchTensor]:
        return (TorchTensor(row) for row in self.t)

    @property
    def data(self) -> TorchTensor:
        return TorchTensor(self.t.data)

    @data.setter
    def data(self, value: TorchTensor) -> None:
        self.t.data = value.t


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None) -> TorchTensor:
    """A new leaf from numbers, lists or ndarrays (copied, so tests cannot alias inputs)."""
    values = torch.tensor(np.asarray(data, dtype=np.float64), dtype=_torch_dtype(dtype))
    return TorchTensor(values.requires_grad_(requires_grad))


def zeros(shape: int | Sequence[int], requires_grad: bool = False, dtype: Any = None):
    """Zeros of ``shape`` (an int or a tuple)."""
    return tensor(np.zeros(shape), requires_grad=requires_grad, dtype=dtype)


def ones(shape: int | Sequence[int], requires_grad: bool = False, dtype: Any = None):
    """Ones of ``shape`` (an int or a tuple)."""
    return tensor(np.ones(shape), requires_grad=requires_grad, dtype=dtype)


def cat(tensors: Sequence[TorchTensor], dim: int = 0) -> TorchTensor:
    return TorchTensor(torch.cat([x.t for x in tensors], dim=dim))


def stack(tensors: Sequence[TorchTensor], dim: int = 0) -> TorchTensor:
    return TorchTensor(torch.stack([x.t for x in tensors], dim=dim))


def where(cond: Any, a: Any, b: Any) -> TorchTensor:
    """``cond`` is a bool ndarray / list; ``a`` and ``b`` tensors or Python numbers."""
    condition = torch.as_tensor(np.asarray(cond, dtype=bool))
    like = a.t if isinstance(a, TorchTensor) else b.t if isinstance(b, TorchTensor) else None

    def operand(x: Any) -> torch.Tensor:
        if isinstance(x, TorchTensor):
            return x.t
        return torch.tensor(float(x), dtype=like.dtype if like is not None else DEFAULT_DTYPE)

    return TorchTensor(torch.where(condition, operand(a), operand(b)))


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    with torch.no_grad():
        yield


def is_grad_enabled() -> bool:
    return torch.is_grad_enabled()


enable_grad = torch.enable_grad
set_grad_enabled = torch.set_grad_enabled


class functional:  # noqa: N801 (a namespace standing in for shared_nn.functional)
    """``torch.nn.functional`` with shared_nn.functional's signatures.

    Class targets are int ndarrays (or float ndarrays of class probabilities) rather than
    tensors, weights ndarrays; ``dropout`` draws its mask from shared_nn's generator (the
    same draw as ``shared_nn.functional.dropout``), so the two drop the same elements.
    """

    @staticmethod
    def relu(x: TorchTensor) -> TorchTensor:
        return TorchTensor(torch_F.relu(x.t))

    @staticmethod
    def tanh(x: TorchTensor) -> TorchTensor:
        return TorchTensor(torch.tanh(x.t))

    @staticmethod
    def sigmoid(x: TorchTensor) -> TorchTensor:
        return TorchTensor(torch.sigmoid(x.t))

    @staticmethod
    def softmax(x: TorchTensor, dim: int = -1) -> TorchTensor:
        return TorchTensor(torch_F.softmax(x.t, dim=dim))

    @staticmethod
    def log_softmax(x: TorchTensor, dim: int = -1) -> TorchTensor:
        return TorchTensor(torch_F.log_softmax(x.t, dim=dim))

    @staticmethod
    def _target(target: Any, like: torch.Tensor) -> torch.Tensor:
        """Integer class targets -> LongTensor; float targets (probabilities) -> ``like``'s
        dtype; a wrapped tensor unwraps."""
        if isinstance(target, TorchTensor):
            return target.t
        values = np.asarray(target)
        if values.dtype.kind in "iu":
            return torch.as_tensor(values.astype(np.int64))
        return torch.as_tensor(values.astype(np.float64)).to(like.dtype)

    @staticmethod
    def _weight(weight: Any, like: torch.Tensor) -> torch.Tensor | None:
        if weight is None or isinstance(weight, TorchTensor):
            return _unwrap(weight)
        return torch.as_tensor(np.asarray(weight, dtype=np.float64)).to(like.dtype)

    @staticmethod
    def cross_entropy(logits: TorchTensor, targets: Any, weight: Any = None, *,
                      ignore_index: int = -100, reduction: str = "mean",
                      label_smoothing: float = 0.0) -> TorchTensor:
        x = logits.t
        return TorchTensor(torch_F.cross_entropy(
            x, functional._target(targets, x), functional._weight(weight, x),
            ignore_index=ignore_index, reduction=reduction, label_smoothing=label_smoothing))

    @staticmethod
    def nll_loss(log_probs: TorchTensor, targets: Any, weight: Any = None, *,
                 ignore_index: int = -100, reduction: str = "mean") -> TorchTensor:
        x = log_probs.t
        return TorchTensor(torch_F.nll_loss(
            x, functional._target(targets, x), functional._weight(weight, x),
            ignore_index=ignore_index, reduction=reduction))

    @staticmethod
    def binary_cross_entropy_with_logits(
        x: TorchTensor, target: Any, weight: Any = None, *, reduction: str = "mean",
        pos_weight: Any = None,
    ) -> TorchTensor:
        return TorchTensor(torch_F.binary_cross_entropy_with_logits(
            x.t, functional._target(target, x.t), functional._weight(weight, x.t),
            reduction=reduction, pos_weight=functional._weight(pos_weight, x.t)))

    @staticmethod
    def l1_loss(pred: TorchTensor, target: Any, reduction: str = "mean") -> TorchTensor:
        if not isinstance(target, TorchTensor):
            values = np.broadcast_to(np.asarray(target, np.float64), pred.shape)
            target = tensor(values, dtype=pred.dtype)
        return TorchTensor(torch_F.l1_loss(pred.t, target.t, reduction=reduction))

    @staticmethod
    def dropout(x: TorchTensor, p: float = 0.5, training: bool = True) -> TorchTensor:
        """shared_nn's dropout, its mask drawn from shared_nn's seeded generator exactly as
        shared_nn.functional.dropout draws it, applied with torch ops."""
        import shared_nn

        if not training or p == 0:
            return x
        keep = shared_nn.init.generator().random(x.shape) >= p
        scale = torch.as_tensor(keep * (1.0 / (1.0 - p))).to(x.t.dtype)
        return TorchTensor(x.t * scale)

    @staticmethod
    def mse_loss(pred: TorchTensor, target: Any, reduction: str = "mean") -> TorchTensor:
        if not isinstance(target, TorchTensor):
            values = np.broadcast_to(np.asarray(target, np.float64), pred.shape)
            target = tensor(values, dtype=pred.dtype)
        return TorchTensor(torch_F.mse_loss(pred.t, target.t, reduction=reduction))

    @staticmethod
    def linear(x: TorchTensor, weight: TorchTensor, bias: TorchTensor | None = None):
        return TorchTensor(torch_F.linear(x.t, weight.t, _unwrap(bias)))

    @staticmethod
    def layer_norm(
        x: TorchTensor,
        normalized_shape: int | tuple[int, ...],
        weight: TorchTensor | None = None,
        bias: TorchTensor | None = None,
        eps: float = 1e-5,
    ) -> TorchTensor:
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape
        return TorchTensor(
            torch_F.layer_norm(x.t, tuple(shape), _unwrap(weight), _unwrap(bias), eps)
        )

    @staticmethod
    def gelu(x: TorchTensor, approximate: str = "none") -> TorchTensor:
        return TorchTensor(torch_F.gelu(x.t, approximate=approximate))

    @staticmethod
    def scaled_dot_product_attention(q: TorchTensor, k: TorchTensor, v: TorchTensor,
                                     attn_mask: Any = None, is_causal: bool = False,
                                     scale: float | None = None) -> TorchTensor:
        mask = attn_mask.t if isinstance(attn_mask, TorchTensor) else (
            None if attn_mask is None else torch.from_numpy(np.array(attn_mask)))
        return TorchTensor(torch_F.scaled_dot_product_attention(
            q.t, k.t, v.t, attn_mask=mask, is_causal=is_causal, scale=scale))
