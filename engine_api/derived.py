"""Tensor methods composed from an engine's primitives, written once for every engine.

An engine's ``Tensor`` inherits :class:`TensorMethods` and implements the primitives the
mixin calls (``shape``, ``dtype``, ``numpy()``, ``reshape``, ``clamp``, ``masked_fill``, the
arithmetic operators, ``_inplace(op, compute)`` and ``_to(dtype, device)``). Everything here
is then the same on every engine, down to the error messages, and adding a composed method to
all three engines is one definition in this file.

Most of what torch code does with ids, masks and gradients lives here too: comparisons and
logic (bool tensors, computed on the values by numpy through ``_nondiff``), the index-valued
ops (``argmax``, ``max(dim)``'s indices, ``sort``, ``topk`` ... as int64 tensors made by
``_new``), and selections by index tensors (``gather``, ``scatter``, ``roll``, ``tril`` ...)
composed from indexing and ``masked_fill``, so their gradients are the primitives' own.

How to add one: write it below in terms of protocol methods only (see
``engine_api.protocol.EngineTensor``); the equivalence suite then checks it on every engine
against PyTorch.
"""

from __future__ import annotations

import math
from collections import namedtuple
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from . import errors, rules
from .dtypes import BOOL, INT64


def _scaled(other: Any, alpha: float) -> Any:
    """``alpha * other`` for ``add_``/``sub_``'s ``alpha=`` (a tensor, an array or a number)."""
    if alpha == 1:
        return other
    if isinstance(other, (list, tuple)):
        other = np.asarray(other)
    return other * alpha  # an int alpha keeps an int tensor int, as torch


def _arg_extreme(x: np.ndarray, dim: Any, keepdim: bool, op: str) -> np.ndarray:
    """``argmax``/``argmin`` of the values ``x`` by numpy, whose rules are torch's: the first
    extreme element, and the first NaN if there is one."""
    if x.size == 0:
        raise ValueError(f"{op}: cannot reduce an empty tensor of shape {x.shape}")
    find = np.argmax if op == "argmax" else np.argmin
    if dim is None:
        index = find(x)
        return np.full((1,) * x.ndim if keepdim else (), index, dtype=np.int64)
    if x.ndim == 0:
        rules.normalize_dim(dim, 1, op)
        return np.zeros((), dtype=np.int64)
    return find(x, axis=rules.normalize_dim(dim, x.ndim, op), keepdims=keepdim).astype(np.int64)


def _stable_order(x: np.ndarray, axis: int, descending: bool) -> np.ndarray:
    """The indices that sort ``x`` along ``axis``, ties in index order (also descending), NaN
    counted larger than every number: torch's ``sort(stable=True)``."""
    if not descending:
        return np.argsort(x, axis=axis, kind="stable")
    # Sorting the reversed array ascending and reversing the result puts the largest first
    # and keeps equal elements in their original order.
    n = x.shape[axis]
    flipped = np.argsort(np.flip(x, axis), axis=axis, kind="stable")
    return np.flip(n - 1 - flipped, axis)


def _check_indices(index: np.ndarray, size: int, op: str, dim: int) -> None:
    """Every entry of ``index`` must lie in ``[0, size)`` (torch's gather and scatter take no
    negative indices)."""
    bad = (index < 0) | (index >= size)
    if bad.any():
        raise IndexError(f"{op}: index {int(index[bad].reshape(-1)[0])} is out of bounds for "
                         f"dimension {dim} with size {size}")


def _index_array(index: Any, op: str) -> np.ndarray:
    """An index argument (an int64 tensor, an ndarray or a list of ints) as an int64 array."""
    values = index.numpy() if hasattr(type(index), "engine") else np.asarray(index)
    if values.dtype.kind not in "iu" and not (values.size == 0 and values.dtype.kind == "f"):
        raise TypeError(f"{op}: index must be an int64 tensor, got dtype {values.dtype}")
    return values.astype(np.int64)


def _positions(index: np.ndarray, dim: int) -> tuple[np.ndarray, ...]:
    """The index tuple that reads, for every entry of ``index``, the element at that entry's
    own position except along ``dim``, where it reads the entry's value: gather's selection
    (``out[i][j][k] = x[index[i][j][k]][j][k]`` for dim 0) as numpy advanced indexing."""
    grid = list(np.indices(index.shape, sparse=True))
    grid[dim] = index
    return tuple(grid)


def _leading(src: Any, shape: tuple[int, ...], op: str) -> Any:
    """The first ``shape`` elements of ``src`` (scatter's source is read at the index's own
    positions), ``src`` being at least that large along every dim."""
    if src.ndim != len(shape) or any(n > m for n, m in zip(shape, src.shape, strict=True)):
        raise ValueError(f"{op}: src of shape {src.shape} must have the index's dims and be no "
                         f"smaller than the index's shape {shape}")
    return src[tuple(slice(0, n) for n in shape)]


def _comparable(other: Any) -> bool:
    """Whether ``==`` with ``other`` compares values (tensors, numbers, arrays, lists);
    anything else (None, a string) compares by identity, as in torch."""
    return (hasattr(type(other), "engine") or type(other).__name__ == "Tensor"
            or rules.is_number(other) or isinstance(other, (list, tuple, np.ndarray)))


def _check_integral(t: Any, op: str) -> None:
    """Bitwise ops take bool and integer tensors only (torch refuses floats too)."""
    if t.dtype.kind == "f":
        raise TypeError(f"{op}: needs bool or integer tensors, got dtype {t.dtype}")


def _returns(name: str) -> type:
    """torch's named tuple of (values, indices), e.g. what ``max(dim)`` returns."""
    return namedtuple(name, ["values", "indices"])


_MAX, _MIN, _SORT, _TOPK = (_returns(n) for n in ("max", "min", "sort", "topk"))
_TYPE_NAMES = {"float32": "torch.FloatTensor", "float64": "torch.DoubleTensor",
               "int64": "torch.LongTensor", "bool": "torch.BoolTensor"}
_COMPARISONS = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
                "gt": np.greater, "ge": np.greater_equal}
_BITWISE = {"bitwise_and": np.bitwise_and, "bitwise_or": np.bitwise_or,
            "bitwise_xor": np.bitwise_xor}
_LN10, _LN2 = math.log(10.0), math.log(2.0)


class TensorMethods:
    """The derived half of the Tensor protocol (see the module docstring)."""

    __slots__ = ()

    # -- size and Python conversions --------------------------------------------------

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def numel(self) -> int:
        """The number of elements."""
        return math.prod(self.shape)

    def size(self, dim: int | None = None) -> Any:
        """The shape, or the length of one dim (as torch)."""
        shape = self.shape
        return shape if dim is None else shape[rules.normalize_dim(dim, len(shape), "size")]

    def dim(self) -> int:
        """The number of dimensions (torch's other name for ``ndim``)."""
        return len(self.shape)

    def nelement(self) -> int:
        """The number of elements (torch's other name for ``numel()``)."""
        return math.prod(self.shape)

    def item(self) -> Any:
        """The value of a one-element tensor as a Python number: a float, an int or a bool,
        as the dtype says."""
        if self.numel() != 1:
            raise errors.item_error(self.shape)
        return self.numpy().reshape(()).item()

    def tolist(self) -> Any:
        """The values as nested Python lists (a float for a 0-d tensor)."""
        return self.numpy().tolist()

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self) -> Iterator[Any]:
        if not self.shape:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        """A one-element int64 or bool tensor used where Python wants an int (``xs[t]``,
        ``range(t)``); torch refuses float tensors there, and so do we."""
        if self.dtype.kind == "f" or self.numel() != 1:
            raise TypeError("only integer tensors of a single element can be converted to an "
                            "index")
        return int(self.item())

    def __bool__(self) -> bool:
        if self.numel() != 1:
            raise errors.bool_error(self.shape)
        return bool(self.item())

    # -- extremes and the indices that find them --------------------------------------------

    def argmax(self, dim: Any = None, keepdim: bool = False) -> Any:
        """Index of the first maximum (of the flattened tensor for ``dim=None``), an int64
        tensor; the first NaN wins, as in torch."""
        return self._new(_arg_extreme(self.numpy(), dim, keepdim, "argmax"))

    def argmin(self, dim: Any = None, keepdim: bool = False) -> Any:
        """Index of the first minimum, an int64 tensor (see :meth:`argmax`)."""
        return self._new(_arg_extreme(self.numpy(), dim, keepdim, "argmin"))

    def max(self, dim: Any = None, keepdim: bool = False) -> Any:
        """The largest value (a 0-d tensor), or with ``dim`` torch's named tuple ``(values,
        indices)``. The gradient goes to the first maximal element; NaN wins."""
        values = self._extreme(dim, keepdim, "max")
        return values if dim is None else _MAX(values, self.argmax(dim, keepdim))

    def min(self, dim: Any = None, keepdim: bool = False) -> Any:
        """The smallest value, or with ``dim`` ``(values, indices)`` (see :meth:`max`)."""
        values = self._extreme(dim, keepdim, "min")
        return values if dim is None else _MIN(values, self.argmin(dim, keepdim))

    def sort(self, dim: int = -1, descending: bool = False, stable: bool = False) -> Any:
        """``(values, indices)`` sorted along ``dim``; equal values keep their order (every
        sort here is stable) and NaN counts as the largest value. The gradient flows back
        through ``values`` to the elements they came from."""
        indices = self.argsort(dim, descending, stable)
        d = rules.normalize_dim(dim, max(self.ndim, 1), "sort")
        return _SORT(self.gather(d, indices) if self.ndim else self.clone(), indices)

    def argsort(self, dim: int = -1, descending: bool = False, stable: bool = False) -> Any:
        """The int64 indices that sort the tensor along ``dim`` (see :meth:`sort`)."""
        x = self.numpy()
        d = rules.normalize_dim(dim, max(x.ndim, 1), "argsort")
        if x.ndim == 0:
            return self._new(np.zeros((), dtype=np.int64))
        return self._new(_stable_order(x, d, bool(descending)).astype(np.int64))

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True  # noqa: A002
             ) -> Any:
        """The ``k`` largest (or smallest) values along ``dim`` and their indices, in order
        (ties in index order)."""
        size = self.shape[rules.normalize_dim(dim, max(self.ndim, 1), "topk")] if self.ndim else 1
        if not rules.is_int(k) or not 0 <= k <= size:
            raise ValueError(f"topk: k ({k!r}) must be an int in [0, {size}], the size of dim "
                             f"{dim} of shape {self.shape}")
        order = self.argsort(dim, descending=largest)
        if not self.ndim:
            return _TOPK(self.clone(), order)  # torch: the element, for k 0 or 1
        d = rules.normalize_dim(dim, self.ndim, "topk")
        indices = order.narrow(d, 0, k)
        return _TOPK(self.gather(d, indices), indices)

    # -- comparisons and logic: bool tensors, no graph ----------------------------------------

    def _nondiff(self, name: str, fn: Callable[..., Any], *others: Any) -> Any:
        """``fn`` (a numpy function, torch's ``name``) of this tensor's values and ``others``,
        broadcast, as a new tensor outside the graph. Engines with a faster way override it."""
        arrays = [self.numpy()] + [self._operand_array(x, name) for x in others]
        try:
            out = fn(*arrays)
        except ValueError:
            raise rules.broadcast_error(name, *(np.shape(a) for a in arrays)) from None
        return self._new(np.asarray(out))

    def _operand_array(self, other: Any, op: str) -> Any:
        """The other side of a comparison or logic op: a number, or an ndarray of values."""
        if hasattr(type(other), "engine") and other.engine == self.engine:
            return other.numpy()
        if rules.foreign_tensor(other) or type(other).__name__ == "Tensor":
            raise errors.mixing_error(op, self.engine, other)
        if rules.is_number(other):
            return other
        if isinstance(other, (list, tuple, np.ndarray)):
            return rules.numeric_array(other)
        raise errors.operand_error(op, other)

    def _compare(self, name: str, other: Any) -> Any:
        return self._nondiff(name, _COMPARISONS[name], other)

    def eq(self, other: Any) -> Any:
        """``self == other`` elementwise: a bool tensor (NaN equals nothing)."""
        return self._compare("eq", other)

    def ne(self, other: Any) -> Any:
        """``self != other`` elementwise: a bool tensor."""
        return self._compare("ne", other)

    def lt(self, other: Any) -> Any:
        """``self < other`` elementwise: a bool tensor."""
        return self._compare("lt", other)

    def le(self, other: Any) -> Any:
        """``self <= other`` elementwise: a bool tensor."""
        return self._compare("le", other)

    def gt(self, other: Any) -> Any:
        """``self > other`` elementwise: a bool tensor."""
        return self._compare("gt", other)

    def ge(self, other: Any) -> Any:
        """``self >= other`` elementwise: a bool tensor."""
        return self._compare("ge", other)

    def __eq__(self, other: Any) -> Any:  # type: ignore[override]
        if not _comparable(other):
            return NotImplemented  # Python then compares identities: ``t == None`` is False
        return self.eq(other)

    def __ne__(self, other: Any) -> Any:  # type: ignore[override]
        if not _comparable(other):
            return NotImplemented
        return self.ne(other)

    __lt__, __le__, __gt__, __ge__ = lt, le, gt, ge
    __hash__ = object.__hash__  # by identity, as torch's: a tensor is a dict key, a set member

    def logical_and(self, other: Any) -> Any:
        """True where both are nonzero (a bool tensor)."""
        return self._nondiff("logical_and", np.logical_and, other)

    def logical_or(self, other: Any) -> Any:
        """True where either is nonzero."""
        return self._nondiff("logical_or", np.logical_or, other)

    def logical_xor(self, other: Any) -> Any:
        """True where exactly one is nonzero."""
        return self._nondiff("logical_xor", np.logical_xor, other)

    def logical_not(self) -> Any:
        """True where the value is zero."""
        return self._nondiff("logical_not", np.logical_not)

    def _bitwise(self, name: str, other: Any) -> Any:
        _check_integral(self, name)
        if hasattr(type(other), "engine"):
            _check_integral(other, name)
        elif isinstance(other, float):
            raise TypeError(f"{name}: needs bool or integer operands, got a float")
        return self._nondiff(name, _BITWISE[name], other)

    def __and__(self, other: Any) -> Any:
        return self._bitwise("bitwise_and", other)

    def __or__(self, other: Any) -> Any:
        return self._bitwise("bitwise_or", other)

    def __xor__(self, other: Any) -> Any:
        return self._bitwise("bitwise_xor", other)

    __rand__, __ror__, __rxor__ = __and__, __or__, __xor__

    def __invert__(self) -> Any:
        """``~t``: logical not of a bool tensor, bitwise not of an int64 one."""
        _check_integral(self, "bitwise_not")
        return self._nondiff("bitwise_not", np.invert)

    def isnan(self) -> Any:
        """True where the value is NaN."""
        return self._nondiff("isnan", np.isnan)

    def isinf(self) -> Any:
        """True where the value is +inf or -inf."""
        return self._nondiff("isinf", np.isinf)

    def isfinite(self) -> Any:
        """True where the value is neither NaN nor infinite."""
        return self._nondiff("isfinite", np.isfinite)

    def any(self, dim: Any = None, keepdim: bool = False) -> Any:
        """Whether any element (along ``dim``) is nonzero: a bool tensor."""
        return self._truth("any", np.any, dim, keepdim)

    def all(self, dim: Any = None, keepdim: bool = False) -> Any:
        """Whether every element (along ``dim``) is nonzero: a bool tensor."""
        return self._truth("all", np.all, dim, keepdim)

    def _truth(self, op: str, fn: Callable[..., Any], dim: Any, keepdim: bool) -> Any:
        x = self.numpy()
        dims = rules.normalize_dims(dim, x.ndim, op)
        return self._new(np.asarray(fn(x, axis=dims, keepdims=keepdim)))

    def nonzero(self, as_tuple: bool = False) -> Any:
        """The indices of the nonzero elements: an int64 tensor of shape (count, ndim), or
        with ``as_tuple`` one 1-D int64 tensor per dim."""
        x = self.numpy()
        if as_tuple:
            return tuple(self._new(i.astype(np.int64)) for i in np.nonzero(np.atleast_1d(x)))
        return self._new(np.argwhere(x).astype(np.int64))

    def multinomial(self, num_samples: int, replacement: bool = False, *,
                    generator: np.random.Generator | None = None) -> Any:
        """``num_samples`` indices drawn from each row of weights (1-D or 2-D, non-negative,
        not necessarily summing to one): an int64 tensor. Drawn by numpy from ``generator``,
        else from engine_api's seeded generator, so not torch's numbers."""
        from .random import generator as default_generator

        weights = self.numpy().astype(np.float64)
        if weights.ndim not in (1, 2) or not rules.is_int(num_samples) or num_samples < 0:
            raise ValueError(f"multinomial: needs 1-D or 2-D weights and a non-negative int "
                             f"num_samples, got shape {weights.shape} and {num_samples!r}")
        rows = weights.reshape(-1, weights.shape[-1])
        if (rows < 0).any() or not np.isfinite(rows).all() or (rows.sum(1) <= 0).any():
            raise ValueError("multinomial: weights must be finite, non-negative, with a "
                             "positive sum in every row")
        if not replacement and num_samples > (rows > 0).sum(1).min():
            raise ValueError(f"multinomial: cannot draw {num_samples} samples without "
                             f"replacement from {rows.shape[-1]} categories")
        rng = generator or default_generator()
        drawn = [rng.choice(rows.shape[-1], num_samples, replace=bool(replacement),
                            p=row / row.sum()) for row in rows]
        return self._new(np.array(drawn, dtype=np.int64).reshape(
            weights.shape[:-1] + (num_samples,)))

    # -- arithmetic spelled as methods -----------------------------------------------------

    def pow(self, exponent: float) -> Any:
        """``self ** exponent`` (a Python number; a tensor exponent is a TypeError)."""
        return self ** exponent

    def matmul(self, other: Any) -> Any:
        """``self @ other``: the matrix product with torch's rules (1-D, 2-D, batched with
        broadcast batch dims)."""
        return self @ other

    def square(self) -> Any:
        """``self ** 2``."""
        return self ** 2

    def clip(self, min: Any = None, max: Any = None) -> Any:  # noqa: A002 (torch's names)
        """torch's alias of :meth:`clamp`."""
        return self.clamp(min=min, max=max)

    def lerp(self, end: Any, weight: Any) -> Any:
        """``self + weight * (end - self)``: the point ``weight`` of the way from ``self`` to
        ``end`` (torch's ``lerp``; ``weight`` a number or a tensor, all three broadcast).

        The gradient is ``1 - weight`` towards ``self`` and ``weight`` towards ``end``, and
        every engine gets it from the ops the line below is made of: this method is the
        worked example of docs/architecture.md, "Adding an op to every engine".
        """
        return self + (end - self) * weight

    def log10(self) -> Any:
        """The base-10 logarithm: ``log(x) / log(10)``."""
        return self.log() * (1.0 / _LN10)

    def log2(self) -> Any:
        """The base-2 logarithm: ``log(x) / log(2)``."""
        return self.log() * (1.0 / _LN2)

    def mm(self, other: Any) -> Any:
        """The product of two matrices (2-D only; :meth:`matmul` broadcasts)."""
        _check_ranks("mm", 2, self, other)
        return self @ other

    def bmm(self, other: Any) -> Any:
        """The products of two batches of matrices, (b, n, m) @ (b, m, p) (3-D only, same b)."""
        _check_ranks("bmm", 3, self, other)
        if self.shape[0] != other.shape[0]:
            raise rules.matmul_error(self.shape, other.shape, "batch sizes differ")
        return self @ other

    def norm(self, p: Any = "fro", dim: Any = None, keepdim: bool = False) -> Any:
        """The ``p``-norm over ``dim`` (every element for None): 2 or ``'fro'`` (the default),
        1, ``inf`` (largest ``|x|``), ``-inf`` (smallest) or any other positive number.

        At a zero vector the gradient is 0, as in torch (the chain rule through ``sqrt``
        would give ``inf * 0``); for ``inf`` it is shared among the elements that tie for the
        largest ``|x|``, as torch shares it.
        """
        if p == "fro":
            p = 2.0
        if not rules.is_number(p) or isinstance(p, bool) or not (p > 0 or p == -math.inf):
            raise ValueError(f"norm: p must be 'fro', a positive number, inf or -inf, got {p!r}")
        x = self if self.dtype.kind == "f" else self.to(rules.floating(self.dtype))
        magnitude = x.abs()
        if math.isinf(p):
            return _extreme_norm(magnitude, dim, keepdim, largest=p > 0)
        if p == 1:
            return magnitude.sum(dim, keepdim)
        powered = magnitude * magnitude if p == 2 else magnitude ** float(p)
        return _root(powered.sum(dim, keepdim), float(p))

    # -- shapes ------------------------------------------------------------------------------

    def view(self, *shape: Any) -> Any:
        """``reshape`` under torch's other name (the result may be a copy on an engine whose
        memory is not one strided array; the values and gradients are torch's)."""
        return self.reshape(*shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Any:
        """Dims ``start_dim..end_dim`` (inclusive) merged into one; a 0-d tensor becomes 1-d."""
        return self.reshape(rules.flattened_shape(self.shape, start_dim, end_dim))

    def t(self) -> Any:
        """The transpose of a matrix; a 0-d or 1-d tensor as it is (torch's ``t()``)."""
        if self.ndim > 2:
            raise ValueError(f"t() expects a tensor with <= 2 dimensions, got shape {self.shape}")
        return self.transpose(0, 1) if self.ndim == 2 else self.reshape(self.shape)

    def narrow(self, dim: int, start: int, length: int) -> Any:
        """The ``length`` elements from ``start`` along ``dim`` (a view, as a slice)."""
        d = rules.normalize_dim(dim, self.ndim, "narrow")
        size = self.shape[d]
        if not (rules.is_int(start) and rules.is_int(length)):
            raise TypeError(f"narrow: start and length must be ints, got {start!r}, {length!r}")
        if start < 0:
            start += size
        if not 0 <= start <= size or length < 0 or start + length > size:
            raise IndexError(f"narrow: start {start} and length {length} do not fit dimension "
                             f"{d} of size {size}")
        return self[(slice(None),) * d + (slice(start, start + length),)]

    def expand_as(self, other: Any) -> Any:
        """``expand`` to ``other``'s shape."""
        return self.expand(other.shape)

    def chunk(self, chunks: int, dim: int = 0) -> tuple[Any, ...]:
        """Split into ``chunks`` pieces of equal size (the last may be smaller; there may be
        fewer pieces, as in torch)."""
        if not rules.is_int(chunks) or chunks <= 0:
            raise ValueError(f"chunk: chunks must be a positive int, got {chunks!r}")
        size = self.shape[rules.normalize_dim(dim, self.ndim, "chunk")]
        return self.split(max(1, -(-size // chunks)), dim)

    def repeat(self, *sizes: Any) -> Any:
        """The tensor tiled ``sizes[i]`` times along dim ``i`` (torch's ``repeat``; extra
        leading sizes add dims). Composed of reshape and expand, so the gradient of each copy
        sums back."""
        sizes = rules.shape_argument(sizes, "repeat")
        lead = len(sizes) - self.ndim
        if lead < 0 or any(n < 0 for n in sizes):
            raise ValueError(f"repeat: sizes {sizes} must be non-negative and at least as many "
                             f"as the dims of shape {self.shape}")
        shape = (1,) * lead + tuple(self.shape)
        interleaved = tuple(n for size in shape for n in (1, size))
        spread = tuple(n for pair in zip(sizes, shape, strict=True) for n in pair)
        tiled = self.reshape(interleaved).expand(spread)
        return tiled.reshape(tuple(r * n for r, n in zip(sizes, shape, strict=True)))

    def flip(self, dims: Any) -> Any:
        """The elements in reverse order along each of ``dims``."""
        out = self
        for d in rules.normalize_dims(dims, self.ndim, "flip") or ():
            out = out.index_select(d, np.arange(self.shape[d] - 1, -1, -1))
        return out

    def roll(self, shifts: Any, dims: Any = None) -> Any:
        """Elements shifted by ``shifts`` along ``dims``, those that fall off one end coming
        back at the other (without ``dims``: of the flattened tensor, then reshaped)."""
        if dims is None:
            if not rules.is_int(shifts):
                raise TypeError(f"roll: without dims, shifts must be one int, got {shifts!r}")
            return self.reshape(-1).roll(shifts, 0).reshape(self.shape)
        shifts = (shifts,) if rules.is_int(shifts) else tuple(shifts)
        dims = (dims,) if rules.is_int(dims) else tuple(dims)
        if len(shifts) != len(dims):
            raise ValueError(f"roll: {len(shifts)} shifts for {len(dims)} dims")
        out = self
        for shift, dim in zip(shifts, dims, strict=True):
            d = rules.normalize_dim(dim, self.ndim, "roll")
            n = self.shape[d]
            if n:
                out = out.index_select(d, (np.arange(n) - int(shift)) % n)
        return out

    def tril(self, diagonal: int = 0) -> Any:
        """The lower triangle of the last two dims (the rest 0): elements with
        ``column - row <= diagonal``."""
        return self._triangle("tril", diagonal, lower=True)

    def triu(self, diagonal: int = 0) -> Any:
        """The upper triangle of the last two dims (the rest 0): ``column - row >= diagonal``."""
        return self._triangle("triu", diagonal, lower=False)

    def _triangle(self, op: str, diagonal: int, lower: bool) -> Any:
        if self.ndim < 2:
            raise ValueError(f"{op}: needs a tensor with at least 2 dims, got shape {self.shape}")
        if not rules.is_int(diagonal):
            raise TypeError(f"{op}: diagonal must be an int, got {diagonal!r}")
        rows, cols = self.shape[-2:]
        offset = np.arange(cols)[None, :] - np.arange(rows)[:, None]
        outside = offset > diagonal if lower else offset < diagonal
        return self.masked_fill(outside, 0)

    # -- selecting by index tensors ------------------------------------------------------------

    def index_select(self, dim: int, index: Any) -> Any:
        """The slices at ``index`` (1-D ints) along ``dim``; the gradient scatter-adds."""
        d = rules.normalize_dim(dim, max(self.ndim, 1), "index_select")
        ids = _index_array(index, "index_select").reshape(-1)
        if not self.ndim:
            _check_indices(ids, 1, "index_select", d)
            return self.reshape(1)[ids]
        _check_indices(ids, self.shape[d], "index_select", d)
        return self[(slice(None),) * d + (ids,)]

    def gather(self, dim: int, index: Any) -> Any:
        """``out[i][j][k] = self[index[i][j][k]][j][k]`` for dim 0 (the index's position
        elsewhere): ``index`` has the tensor's number of dims and is no larger along the other
        dims. The gradient scatter-adds back."""
        d, ids = self._index_along(dim, index, "gather")
        return self[_positions(ids, d)]

    def scatter(self, dim: int, index: Any, src: Any = None, *, value: Any = None) -> Any:
        """A copy with ``src``'s elements (or the number ``value``) written where ``index``
        points along ``dim`` (gather's inverse: ``out[index[i][j]][j] = src[i][j]`` for dim
        0). When an index repeats, one of the writes wins."""
        d, ids = self._index_along(dim, index, "scatter")
        source = value if src is None else src
        if hasattr(type(source), "engine"):
            source = _leading(source, ids.shape, "scatter")
        elif not rules.is_number(source):
            raise TypeError(f"scatter: src must be a tensor or a number, got "
                            f"{type(source).__name__}")
        out = self.clone()
        out[_positions(ids, d)] = source
        return out

    def scatter_add(self, dim: int, index: Any, src: Any) -> Any:
        """A copy with ``src``'s elements added where ``index`` points along ``dim``; repeated
        indices add up. The gradient reaches ``self`` whole and ``src`` gathered."""
        d, ids = self._index_along(dim, index, "scatter_add")
        if not hasattr(type(src), "engine"):
            raise TypeError(f"scatter_add: src must be a tensor, got {type(src).__name__}")
        return self._scatter_add(_positions(ids, d), _leading(src, ids.shape, "scatter_add"))

    def _index_along(self, dim: int, index: Any, op: str) -> tuple[int, np.ndarray]:
        """gather's and scatter's checks: the normalised dim and the index as an int64 array
        with the tensor's number of dims, in range along ``dim``, no larger elsewhere."""
        d = rules.normalize_dim(dim, max(self.ndim, 1), op)
        ids = _index_array(index, op)
        if ids.ndim != self.ndim or any(
                n > size for i, (n, size) in enumerate(zip(ids.shape, self.shape, strict=True))
                if i != d):
            raise ValueError(f"{op}: index of shape {ids.shape} must have the dims of the "
                             f"tensor's shape {self.shape} and be no larger except along dim {d}")
        _check_indices(ids, self.shape[d] if self.ndim else 1, op, d)
        return d, ids

    def where(self, condition: Any, other: Any) -> Any:
        """``self`` where ``condition`` is True, else ``other`` (torch's method form)."""
        return self._where(condition, self, other)

    # -- dtype and device --------------------------------------------------------------------

    def float(self) -> Any:
        """This tensor as float32 (``self`` if it already is)."""
        return self.to(np.float32)

    def double(self) -> Any:
        """This tensor as float64 (``self`` if it already is)."""
        return self.to(np.float64)

    def long(self) -> Any:
        """This tensor as int64 (floats truncated toward zero)."""
        return self.to(INT64)

    def int(self) -> Any:
        """This tensor as int64: torch's ``int()`` gives int32, which dualgrad does not have
        (a documented difference)."""
        return self.to(INT64)

    def bool(self) -> Any:
        """This tensor as bool (nonzero is True)."""
        return self.to(BOOL)

    def type(self, dtype: Any = None) -> Any:
        """With no argument torch's type string (``"torch.FloatTensor"``); else ``to(dtype)``."""
        if dtype is None:
            return _TYPE_NAMES[str(self.dtype)]
        return self.to(dtype)

    def to(self, *args: Any, dtype: Any = None, device: Any = None) -> Any:
        """torch's ``to(dtype)``, ``to(other)`` (other's dtype), ``to(device)``,
        ``to(device, dtype)``: ``self`` when nothing changes, else a copy (in the graph when
        both dtypes are float)."""
        target, device = rules.to_arguments(args, dtype, device)
        return self._to(target, device)

    def contiguous(self) -> Any:
        """``self``: every tensor here is laid out as its values need."""
        return self

    def requires_grad_(self, requires_grad: bool = True) -> Any:
        """Set ``requires_grad`` and return ``self``. Only leaves can change it: on a non-leaf
        (which requires grad) ``True`` changes nothing and ``False`` is a RuntimeError, as in
        torch."""
        if requires_grad and self.dtype.kind != "f":
            raise RuntimeError(errors.INT_GRAD)
        if self.is_leaf or not requires_grad:
            self.requires_grad = requires_grad
        return self

    # -- in-place ops: each is the out-of-place op, written into self by ``_inplace`` ---------

    def add_(self, other: Any, alpha: float = 1) -> Any:
        """``self += alpha * other`` in place."""
        return self._arithmetic_inplace("add_", lambda t: t + _scaled(other, alpha))

    def sub_(self, other: Any, alpha: float = 1) -> Any:
        """``self -= alpha * other`` in place."""
        return self._arithmetic_inplace("sub_", lambda t: t - _scaled(other, alpha))

    def mul_(self, other: Any) -> Any:
        """``self *= other`` in place."""
        return self._arithmetic_inplace("mul_", lambda t: t * other)

    def div_(self, other: Any) -> Any:
        """``self /= other`` in place."""
        return self._arithmetic_inplace("div_", lambda t: t / other)

    def _arithmetic_inplace(self, op: str, compute: Callable[[Any], Any]) -> Any:
        """``_inplace`` for arithmetic: a result of a wider dtype than the tensor's (``ints +=
        0.5``) cannot be written back, as in torch (fill, copy and index writes cast)."""
        dtype = self.dtype
        if dtype.kind == "f":
            return self._inplace(op, compute)

        def kept(t: Any) -> Any:
            out = compute(t)
            if rules.widens(out.dtype, dtype):
                raise RuntimeError(f"{op}: result type {out.dtype} can't be cast to the "
                                   f"desired output type {dtype} (an in-place op keeps the "
                                   f"dtype)")
            return out

        return self._inplace(op, kept)

    def masked_fill_(self, mask: Any, value: Any) -> Any:
        """``masked_fill`` in place."""
        return self._inplace("masked_fill_", lambda t: t.masked_fill(mask, value))

    def clamp_(self, min: Any = None, max: Any = None) -> Any:  # noqa: A002 (torch's names)
        """``clamp`` in place."""
        return self._arithmetic_inplace("clamp_", lambda t: t.clamp(min=min, max=max))

    def fill_(self, value: Any) -> Any:
        """Every element becomes ``value`` (a number or a one-element tensor)."""
        every = np.ones(self.shape, dtype=bool)
        return self._inplace("fill_", lambda t: t.masked_fill(every, value))

    def zero_(self) -> Any:
        """Every element becomes 0."""
        return self.fill_(0.0)

    def copy_(self, src: Any) -> Any:
        """Copy ``src``'s values (broadcast to self's shape) into self; the gradient flows to
        ``src``."""
        every = np.ones(self.shape, dtype=bool)
        return self._inplace("copy_", lambda t: t.masked_fill(every, 0.0) + src)

    def __iadd__(self, other: Any) -> Any:
        return self.add_(other)

    def __isub__(self, other: Any) -> Any:
        return self.sub_(other)

    def __imul__(self, other: Any) -> Any:
        return self.mul_(other)

    def __itruediv__(self, other: Any) -> Any:
        return self.div_(other)

    # -- what each engine provides (documented in engine_api.protocol) -----------------------

    def _inplace(self, op: str, compute: Callable[[Any], Any]) -> Any:
        raise NotImplementedError

    def _to(self, dtype: np.dtype | None, device: Any) -> Any:
        raise NotImplementedError

    def _new(self, values: np.ndarray) -> Any:
        """A constant tensor of this engine (and device) holding ``values``, in their dtype."""
        raise NotImplementedError

    def _extreme(self, dim: Any, keepdim: bool, op: str) -> Any:
        """The values of ``max``/``min`` (``op``) over ``dim``; the gradient to the first
        extreme element."""
        raise NotImplementedError

    def _scatter_add(self, positions: tuple[np.ndarray, ...], src: Any) -> Any:
        """A copy of self with ``src`` (of the positions' shape) added at ``positions`` (a
        numpy advanced index), repeated positions adding up; differentiable in both."""
        raise NotImplementedError

    @staticmethod
    def _where(condition: Any, a: Any, b: Any) -> Any:
        """The engine's module-level ``where``."""
        raise NotImplementedError


def _check_ranks(op: str, ndim: int, a: Any, b: Any) -> None:
    if not hasattr(type(b), "engine"):
        raise TypeError(f"{op}: expected a tensor, got {type(b).__name__}")
    if a.ndim != ndim or b.ndim != ndim:
        raise ValueError(f"{op}: expects two {ndim}-D tensors, got shapes {a.shape} and "
                         f"{b.shape}")


def _root(total: Any, p: float) -> Any:
    """``total ** (1/p)`` with gradient 0 where ``total`` is 0 (a zero vector's norm)."""
    zero = (total == 0).numpy()
    if not zero.any():
        return total.sqrt() if p == 2 else total ** (1.0 / p)
    safe = total.masked_fill(zero, 1.0)
    return (safe.sqrt() if p == 2 else safe ** (1.0 / p)).masked_fill(zero, 0.0)


def _extreme_norm(magnitude: Any, dim: Any, keepdim: bool, largest: bool) -> Any:
    """The inf (or -inf) norm: the largest (smallest) ``|x|``, its gradient shared equally
    among the elements that tie for it, as torch shares it."""
    values = magnitude.numpy()
    dims = rules.normalize_dims(dim, values.ndim, "norm")
    pick = np.max if largest else np.min
    extreme = pick(values, axis=dims, keepdims=True)
    ties = values == extreme
    share = ties / ties.sum(axis=dims, keepdims=True)
    return (magnitude * magnitude._new(share.astype(values.dtype))).sum(dims, keepdim)
