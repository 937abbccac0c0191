"""``Tensor``: an n-d container of ``Value``s, with the engine protocol of docs/architecture.md.

A Tensor is a flat Python list of ``Value`` objects in row-major (C) order plus a ``shape``.
Every operation loops over those lists and creates one ``Value`` per scalar result, so the
graph is exactly the graph micrograd would build by hand: an ``n x n`` matrix product makes
``n * n * (2n - 1)`` nodes (``n`` products and ``n - 1`` sums per output element).

Two kinds of operations:

* **Arithmetic** creates new ``Value`` nodes through the primitives of ``value.py``
  (``+``, ``*``, ``** c``, ``exp``, ``log``, ``tanh``, ``relu``, ``sigmoid``, ``abs``,
  ``sin``, ``cos``, ``erf``) and one more that exists only here, ``clamp`` (relu-like: local
  derivative 1 inside the bounds, 0 outside). Subtraction, division, ``sqrt``, ``mean``,
  ``var``, ``softmax`` and the matrix product are compositions of them.
* **Selection** (reshape, transpose, indexing, broadcasting, ``cat``, ``max``, ``where``,
  ``masked_fill`` ...) creates *no* node: the result holds the same ``Value`` objects in a new
  arrangement. Gradients then flow through them for free, and an element selected twice
  (a gather with repeated indices, a broadcast) simply collects the gradient of both uses,
  which is the scatter-add that a tensor engine has to write by hand. The index bookkeeping
  is done by numpy on integer arrays.

Gradients: every ``Value`` keeps its own ``grad`` (inspect any node, micrograd style);
``Tensor.grad`` assembles them into a float64 ndarray for leaves and ``retain_grad()``
tensors, as in PyTorch. A tensor that does not require grad is a constant: operations
that mix it with a tensor that does record only the edge towards the latter.
"""

from __future__ import annotations

import itertools
import math
import numbers
import os
from collections.abc import Callable
from functools import reduce
from operator import add as _add
from operator import attrgetter

import numpy as np

from . import value as _value
from .value import _NIL, _ONE, _ZERO, Value, count_nodes, pausing_gc, power, sigmoid

__all__ = ["NAME", "Tensor", "tensor", "zeros", "ones", "cat", "stack", "where"]

NAME = "scalar"
_DEFAULT_BUDGET = 20_000_000
_BUDGET_VAR = "DUALGRAD_VALUE_BUDGET"
_sequence = itertools.count(1)  # creation order of recorded results and of in-place writes
_last_write = 0  # stamp of the newest in-place write (0: none yet, backward skips the check)


class _Budget:
    limit = 0  # 0: not read yet (from $DUALGRAD_VALUE_BUDGET, at the first check)


_budget = _Budget()
_FLOAT64 = np.dtype("float64")
_data = attrgetter("data")
_grad = attrgetter("grad")


# -- helpers: conversion, shapes, dims --------------------------------------------------------


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float)) or isinstance(x, numbers.Real)


_DTYPE_NAMES = ("float32", "float64", "torch.float32", "torch.float64")


def _check_dtype(dtype: object) -> None:
    """float64 (and float32, computed in float64) are the only dtypes this engine knows: a
    numpy dtype or type, its name (``"float32"``) or torch's (``torch.float64``). Anything else
    is a TypeError, never a silent default."""
    if dtype is None:
        return
    if isinstance(dtype, str) or (type(dtype).__name__ == "dtype" and "torch" in str(dtype)):
        if str(dtype) in _DTYPE_NAMES:
            return
    elif isinstance(dtype, np.dtype) or dtype in (np.float32, np.float64):
        if np.dtype(dtype) in (np.dtype("float64"), np.dtype("float32")):
            return
    raise TypeError(
        "scalar_engine computes in float64; dtype must be float32 or float64 (numpy's, "
        f"torch's or their names), got {dtype!r}"
    )


def _foreign(x: object) -> bool:
    """A tensor of another engine (or library): something with a shape that is not ours."""
    return not isinstance(x, Tensor) and (hasattr(x, "engine") or type(x).__name__ == "Tensor")


def _mixing_error(op: str, other: object) -> TypeError:
    kind = type(other)
    return TypeError(
        f"{op}: cannot mix a scalar_engine Tensor with {kind.__module__}.{kind.__qualname__} "
        "(convert with .numpy() and scalar_engine.tensor(...))"
    )


def _float_array(data: object) -> np.ndarray:
    """Numeric data (numbers, nested lists, ndarrays, our Tensors) as a float64 ndarray."""
    if isinstance(data, Tensor):
        return data.numpy()
    if _foreign(data):
        raise _mixing_error("tensor()", data)
    try:
        arr = np.asarray(data)
    except (ValueError, TypeError) as err:
        raise ValueError(
            f"tensor data must be a rectangular nested list of numbers: {err}"
        ) from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"tensor data must be numeric, got {type(data).__name__} with numpy dtype {arr.dtype}"
        )
    return arr.astype(_FLOAT64, copy=False)


def _shape_arg(shape: tuple) -> tuple[int, ...]:
    """``f(2, 3)``, ``f((2, 3))`` and ``f([2, 3])`` all mean the shape (2, 3)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    if not all(isinstance(s, (int, np.integer)) for s in shape):
        raise TypeError(f"shape entries must be integers, got {shape!r}")
    return tuple(int(s) for s in shape)


def _norm_dim(dim: int, ndim: int, op: str) -> int:
    """A possibly negative dim as an index in range(ndim) (0-d tensors accept 0 and -1)."""
    if not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{op}: dim must be an int, got {type(dim).__name__}")
    bound = max(ndim, 1)
    if not -bound <= dim < bound:
        raise ValueError(f"{op}: dim {dim} is out of range for a tensor with ndim {ndim}")
    return int(dim) % bound


def _norm_dims(dim: int | tuple | list | None, ndim: int, op: str) -> tuple[int, ...]:
    if dim is None:
        return tuple(range(ndim))
    dims = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
    out = tuple(sorted({_norm_dim(d, ndim, op) for d in dims}))
    if len(out) != len(dims):
        raise ValueError(f"{op}: dim {dim} names a dimension twice")
    return tuple(d for d in out if d < ndim)


def _all_dims_if_empty(dim: object) -> object:
    """``dim=()`` (or ``[]``) reduces over every dim, as torch's sum and mean do."""
    return None if isinstance(dim, (tuple, list)) and len(dim) == 0 else dim


def _grid(shape: tuple[int, ...]) -> np.ndarray:
    """Flat positions 0..n-1 arranged in ``shape``: index arithmetic for selection ops."""
    return np.arange(math.prod(shape), dtype=np.intp).reshape(shape)


def _gather(values: list[Value], positions: np.ndarray) -> list[Value]:
    return list(map(values.__getitem__, positions.ravel().tolist()))


def _broadcast_shape(op: str, *shapes: tuple[int, ...]) -> tuple[int, ...]:
    try:
        shape = tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        listed = " and ".join(str(s) for s in shapes)
        raise ValueError(f"{op}: shapes {listed} cannot be broadcast together") from None
    _check_budget(math.prod(shape), f"{op} with result shape {shape}")
    return shape


def _broadcast_values(
    values: list[Value], shape: tuple[int, ...], target: tuple[int, ...]
) -> list[Value]:
    """Values of ``shape`` broadcast to ``target`` (an element repeated is the same Value)."""
    if shape == target:
        return values
    if len(values) == 1:
        return values * math.prod(target)
    return _gather(values, np.broadcast_to(_grid(shape), target))


def _expand(t: Tensor, shape: tuple[int, ...]) -> list[Value]:
    """``t``'s Values broadcast to ``shape``."""
    return _broadcast_values(t._values, t.shape, shape)


def _wrap(
    values: list[Value],
    shape: tuple[int, ...],
    tracked: bool,
    inputs: tuple = (),
    storage: list[int] | None = None,
) -> Tensor:
    """A result tensor: it requires grad (and is not a leaf) iff a graph was recorded.

    A recorded result also remembers its input tensors. The Values already form the graph;
    this tensor-level link only serves to tell which leaves a backward pass *reached*, so that
    a leaf that took part but received no gradient edge (``where`` that never picks it, say)
    gets a grad of zeros rather than None, as in PyTorch; and it lets backward check that no
    in-place write changed an input after this result was computed from it.

    ``storage`` is the write stamp shared by every alias of the same Values (a view passes its
    base's); None for a result that owns fresh Values.
    """
    t = Tensor.__new__(Tensor)
    t._values = values
    t.shape = shape
    t._requires_grad = tracked
    t._is_leaf = not tracked
    t._retains_grad = False
    t._reached = False
    t._consumed = False
    t._storage = storage
    if tracked:
        t._inputs = inputs
        t._seq = next(_sequence)
        for x in inputs:
            if x._requires_grad:
                x._consumed = True  # an in-place op on x would now change history
    else:
        t._inputs = ()
    return t


def _check_budget(count: int, what: object) -> None:
    """Refuse, before allocating, an op that would create more Values than the budget."""
    if not _budget.limit:
        _budget.limit = _budget_from_env()
    if count > _budget.limit:
        raise MemoryError(
            f"scalar_engine: {what} needs {count:,} Value nodes, over the budget of "
            f"{_budget.limit:,} (each node takes about 100 bytes and 1 µs); raise it with "
            f"scalar_engine.set_value_budget(n) or the environment variable {_BUDGET_VAR}"
        )


def set_value_budget(limit: int) -> None:
    """The most Value nodes one op (or one new tensor) may create; default from
    ``$DUALGRAD_VALUE_BUDGET``, else 20 million (about 2 GB)."""
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1:
        raise ValueError(f"value budget must be a positive int, got {limit!r}")
    _budget.limit = int(limit)


def _budget_from_env() -> int:
    text = os.environ.get(_BUDGET_VAR, "").strip()
    if not text:
        return _DEFAULT_BUDGET
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"${_BUDGET_VAR} must be a positive integer, got {text!r}")
    return int(text)


@pausing_gc
def _leaves(floats: list[float]) -> list[Value]:
    return [Value(x) for x in floats]


def _copy_unless_tracked(
    values: list[Value], shape: tuple[int, ...], tracked: bool, inputs: tuple
) -> Tensor:
    """A copy-like selection (gather, cat, where, max ...): it shares the selected Values when a
    graph is recorded (their gradients then flow for free), and gets fresh leaf Values when
    not, so that it owns its memory as torch's result would."""
    if tracked:
        return _wrap(values, shape, True, inputs)
    return _wrap(_leaves(list(map(_data, values))), shape, False)


def _is_basic(key: object) -> bool:
    """Whether an index is numpy's basic kind (ints, slices, None, ...): it makes a view."""
    parts = key if isinstance(key, tuple) else (key,)
    return all(
        p is None or p is Ellipsis or isinstance(p, slice)
        or (isinstance(p, (int, np.integer)) and not isinstance(p, bool))
        for p in parts
    )


# -- the tensor -------------------------------------------------------------------------------


class Tensor:
    """An n-d array of ``Value`` nodes with PyTorch's tensor interface (float64 only)."""

    engine = NAME
    __array_ufunc__ = None  # numpy defers to our reflected operators: ndarray + Tensor works
    __slots__ = (
        "_values", "shape", "_requires_grad", "_is_leaf", "_retains_grad", "_inputs", "_reached",
        "_seq", "_consumed", "_storage",
    )

    def __init__(self, data: object, requires_grad: bool = False, dtype: object = None):
        _check_dtype(dtype)
        arr = _float_array(data)
        _check_budget(arr.size, f"a tensor of shape {arr.shape}")
        self._values = _leaves(arr.ravel().tolist())
        self.shape = arr.shape
        self._requires_grad = bool(requires_grad)
        self._is_leaf = True
        self._retains_grad = False
        self._inputs = ()
        self._reached = False
        self._consumed = False
        self._storage = None

    # -- data ---------------------------------------------------------------------------------

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def dtype(self) -> np.dtype:
        return _FLOAT64

    def numel(self) -> int:
        return len(self._values)

    def size(self, dim: int | None = None) -> tuple[int, ...] | int:
        return self.shape if dim is None else self.shape[_norm_dim(dim, self.ndim, "size")]

    def numpy(self) -> np.ndarray:
        """The values as a new float64 ndarray."""
        return np.array(list(map(_data, self._values)), dtype=_FLOAT64).reshape(self.shape)

    def __array__(self, dtype: object = None, copy: object = None) -> np.ndarray:
        """``np.asarray(t)`` gives the values (as for a CPU torch tensor)."""
        data = self.numpy()
        return data if dtype is None else data.astype(dtype)

    def item(self) -> float:
        if len(self._values) != 1:
            raise ValueError(f"item() needs a one-element tensor, got shape {self.shape}")
        return self._values[0].data

    def tolist(self) -> list | float:
        return self.numpy().tolist()

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __bool__(self) -> bool:
        if len(self._values) != 1:
            raise RuntimeError(
                "Boolean value of Tensor with more than one value is ambiguous "
                f"(shape {self.shape})"
            )
        return bool(self._values[0].data)

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def __float__(self) -> float:
        return float(self.item())

    def __repr__(self) -> str:
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(")
        grad = ", requires_grad=True" if self._requires_grad else ""
        return f"tensor({body}{grad})"

    @property
    def values(self) -> list[Value]:
        """The ``Value`` nodes, flat in row-major order (for inspecting the graph)."""
        return self._values

    # -- autograd -----------------------------------------------------------------------------

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        if not self._is_leaf:
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables (this tensor is the "
                "result of an operation)"
            )
        self._requires_grad = bool(flag)

    @property
    def is_leaf(self) -> bool:
        return self._is_leaf

    def _tracked(self) -> bool:
        return self._requires_grad and _value._mode.enabled

    @property
    def grad(self) -> np.ndarray | None:
        """d(output)/d(self) as a float64 ndarray; None before any backward reached it.

        Only leaves that require grad and tensors that called ``retain_grad()`` expose it (the
        ``Value``s of any other tensor still hold theirs: see ``values``).
        """
        if not (self._requires_grad and (self._is_leaf or self._retains_grad)):
            return None
        grads = list(map(_grad, self._values))
        if all(g is _ZERO for g in grads):
            return np.zeros(self.shape) if self._reached else None
        return np.array(grads, dtype=_FLOAT64).reshape(self.shape)

    @grad.setter
    def grad(self, new: object) -> None:
        if new is None:  # zero_grad: forget the gradient
            self._reached = False
            for v in self._values:
                v.grad = _ZERO
            return
        arr = _float_array(new)
        if arr.shape != self.shape:
            raise ValueError(
                f"grad of shape {arr.shape} assigned to a tensor of shape {self.shape}"
            )
        for v, g in zip(self._values, arr.ravel().tolist(), strict=True):
            v.grad = g

    def retain_grad(self) -> None:
        """Keep (and accumulate) this non-leaf's grad, as in PyTorch.

        One difference: a selection (view, index, ``max`` ...) shares its input's ``Value``s,
        so its retained grad is that of the shared elements, every use of them included.
        """
        if not self._requires_grad:
            raise RuntimeError("can't retain_grad on a tensor that has requires_grad=False")
        self._retains_grad = True

    @pausing_gc
    def backward(self, grad: object = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf: one reverse pass over the whole graph.

        ``grad`` is d(loss)/d(self) (same shape); it may be omitted for one-element tensors.
        """
        if not self._requires_grad:
            raise RuntimeError(
                "element 0 of tensors does not require grad and does not have a grad_fn"
            )
        if grad is None:
            if len(self._values) != 1:
                raise RuntimeError(
                    "grad can be implicitly created only for scalar outputs "
                    f"(this tensor has shape {self.shape})"
                )
            seeds = [1.0]
        else:
            arr = _float_array(grad)
            if arr.shape != self.shape:
                raise ValueError(
                    f"backward: grad of shape {arr.shape} does not match the tensor's shape "
                    f"{self.shape}"
                )
            seeds = arr.ravel().tolist()
        if _last_write:
            _check_not_overwritten(self)
        _value.backward(self._values, seeds, retain_graph)
        _mark_reached(self, retain_graph)

    def detach(self) -> Tensor:
        """A new leaf with the same values that shares no graph (fresh ``Value``s)."""
        return _wrap(_leaves(list(map(_data, self._values))), self.shape, False)

    def assign_(self, data: object, copy: bool = True) -> Tensor:
        """Overwrite the values in place, outside the graph (what optimizers use).
        ``copy`` is accepted for the engine protocol: the values are always copied into the
        tensor's ``Value`` nodes."""
        arr = _float_array(data)
        if arr.shape != self.shape:
            raise ValueError(
                f"assign_: data of shape {arr.shape} for a tensor of shape {self.shape}"
            )
        for v, x in zip(self._values, arr.ravel().tolist(), strict=True):
            v.data = x
        return self

    # -- in-place ops -------------------------------------------------------------------------

    def _inplace(self, op: str, compute: Callable[[Tensor], Tensor]) -> Tensor:
        """Make ``self`` hold ``compute(self)``: the one implementation of every in-place op.

        Torch's rules. In grad mode a leaf that requires grad refuses; when the result needs a
        graph (self or the other operand requires grad), self *becomes* the result, as if the
        user had written ``x = x + y``. Otherwise the new numbers are written into self's
        ``Value``s, so views and ``.data`` aliases see them; a graph that read those Values
        refuses to backward afterwards (see ``_check_not_overwritten``).
        """
        grad_mode = _value._mode.enabled
        recorded = self._requires_grad and not self._is_leaf
        if recorded and (self._consumed or not grad_mode):
            raise RuntimeError(
                f"{op}: an in-place operation on a tensor that a recorded graph already uses "
                f"(shape {self.shape}) would change that graph's history; use the out-of-place "
                "form (x = x + y) or detach() first"
            )
        if self._requires_grad and self._is_leaf and grad_mode:
            raise RuntimeError(
                "a leaf Variable that requires grad is being used in an in-place operation."
            )
        if recorded and _shares_values(self, self._inputs):
            raise RuntimeError(
                f"{op}: an in-place operation on a view (shape {self.shape}) of a tensor that "
                "requires grad is not supported: torch would rewrite the base tensor's history "
                "too. Use the out-of-place form, or clone() the view first"
            )
        before = self
        if recorded:  # compute from a stand-in for self's node, then take the result's place
            before = _wrap(self._values, self.shape, True, self._inputs)
            before._seq = self._seq
        elif grad_mode:  # a constant stand-in: a rebound self must not be its own input
            before = _wrap(self._values, self.shape, False)
        result = compute(before)
        if result.shape != self.shape:
            raise ValueError(
                f"{op}: the result's shape {result.shape} does not match the in-place target's "
                f"shape {self.shape}"
            )
        if result._requires_grad:
            self._values, self._inputs, self._seq = result._values, result._inputs, result._seq
            self._requires_grad, self._is_leaf, self._storage = True, False, None
            return self
        if len({id(v) for v in self._values}) != len(self._values):
            raise RuntimeError(
                f"{op}: more than one element of this tensor is the same Value (an expand() or "
                "broadcast view); clone() it first"
            )
        for v, x in zip(self._values, map(_data, result._values), strict=True):
            v.data = x
        _stamp_write(self._storage_token())
        return self

    def add_(self, other: object, alpha: float = 1) -> Tensor:
        """``self += alpha * other`` in place."""
        return self._inplace("add_", lambda t: t + (other if alpha == 1 else _scaled(other, alpha)))

    def sub_(self, other: object, alpha: float = 1) -> Tensor:
        """``self -= alpha * other`` in place."""
        return self._inplace("sub_", lambda t: t - (other if alpha == 1 else _scaled(other, alpha)))

    def mul_(self, other: object) -> Tensor:
        """``self *= other`` in place."""
        return self._inplace("mul_", lambda t: t * other)

    def div_(self, other: object) -> Tensor:
        """``self /= other`` in place."""
        return self._inplace("div_", lambda t: t / other)

    def fill_(self, value: object) -> Tensor:
        """Every element becomes ``value`` (a number or a one-element tensor)."""
        every = np.ones(self.shape, dtype=bool)
        return self._inplace("fill_", lambda t: t.masked_fill(every, value))

    def zero_(self) -> Tensor:
        """Every element becomes 0."""
        return self.fill_(0.0)

    def copy_(self, src: object) -> Tensor:
        """Copy ``src``'s values (broadcast to self's shape) into self; gradient flows to src."""
        every = np.ones(self.shape, dtype=bool)
        return self._inplace("copy_", lambda t: t.masked_fill(every, 0.0) + src)

    def clamp_(self, min: object = None, max: object = None) -> Tensor:  # noqa: A002
        """``clamp`` in place."""
        return self._inplace("clamp_", lambda t: t.clamp(min=min, max=max))

    def __iadd__(self, other: object) -> Tensor:
        return self.add_(other)

    def __isub__(self, other: object) -> Tensor:
        return self.sub_(other)

    def __imul__(self, other: object) -> Tensor:
        return self.mul_(other)

    def __itruediv__(self, other: object) -> Tensor:
        return self.div_(other)

    @property
    def data(self) -> Tensor:
        """The same Values as a tensor outside the graph (torch's ``.data``): an in-place write
        to it (``p.data -= lr * p.grad``) changes ``self``, and no graph records it."""
        if not self._is_leaf:  # our Values are graph nodes: a leaf alias must not share them
            return self.detach()
        return _wrap(self._values, self.shape, False, (), self._storage_token())

    @data.setter
    def data(self, new: object) -> None:
        self.assign_(new.numpy() if isinstance(new, Tensor) else new)

    # -- operand handling ---------------------------------------------------------------------

    def _operand(self, other: object, op: str) -> Tensor | None:
        """``other`` as a Tensor of this engine; None if Python should try the reflected op."""
        if isinstance(other, Tensor):
            return other
        if isinstance(other, np.ndarray):
            return Tensor(other)
        if _foreign(other):
            raise _mixing_error(op, other)
        return None

    # -- primitives: + and * ------------------------------------------------------------------

    @pausing_gc
    def __add__(self, other: object) -> Tensor:
        xs = self._values
        if _is_number(other):
            c = float(other)
            if self._tracked():
                out = [Value(x.data + c, x, _ONE) for x in xs]
                count_nodes(len(out))
                return _wrap(out, self.shape, True, (self,))
            return _wrap(_leaves([x.data + c for x in xs]), self.shape, False)
        t = self._operand(other, "+")
        if t is None:
            return NotImplemented
        shape = _broadcast_shape("+", self.shape, t.shape)
        xs, ys = _expand(self, shape), _expand(t, shape)
        gx, gy = self._tracked(), t._tracked()
        if gx and gy:
            out = [Value(x.data + y.data, x, _ONE, y, _ONE) for x, y in zip(xs, ys, strict=True)]
        elif gx:
            out = [Value(x.data + y.data, x, _ONE) for x, y in zip(xs, ys, strict=True)]
        elif gy:
            out = [Value(x.data + y.data, y, _ONE) for x, y in zip(xs, ys, strict=True)]
        else:
            return _wrap(
                _leaves([x.data + y.data for x, y in zip(xs, ys, strict=True)]), shape, False
            )
        count_nodes(len(out))
        return _wrap(out, shape, True, (self, t))

    @pausing_gc
    def __mul__(self, other: object) -> Tensor:
        xs = self._values
        if _is_number(other):
            c = float(other)
            if self._tracked():
                out = [Value(x.data * c, x, c) for x in xs]
                count_nodes(len(out))
                return _wrap(out, self.shape, True, (self,))
            return _wrap(_leaves([x.data * c for x in xs]), self.shape, False)
        t = self._operand(other, "*")
        if t is None:
            return NotImplemented
        shape = _broadcast_shape("*", self.shape, t.shape)
        xs, ys = _expand(self, shape), _expand(t, shape)
        gx, gy = self._tracked(), t._tracked()
        if gx and gy:
            out = [
                Value(x.data * y.data, x, y.data, y, x.data) for x, y in zip(xs, ys, strict=True)
            ]
        elif gx:
            out = [Value(x.data * y.data, x, y.data) for x, y in zip(xs, ys, strict=True)]
        elif gy:
            out = [Value(x.data * y.data, y, x.data) for x, y in zip(xs, ys, strict=True)]
        else:
            return _wrap(
                _leaves([x.data * y.data for x, y in zip(xs, ys, strict=True)]), shape, False
            )
        count_nodes(len(out))
        return _wrap(out, shape, True, (self, t))

    # -- primitives: one-input functions ------------------------------------------------------

    @pausing_gc
    def __pow__(self, exponent: object) -> Tensor:
        if not _is_number(exponent) or isinstance(exponent, Tensor):
            raise TypeError(
                f"Tensor ** {type(exponent).__name__}: the exponent must be a Python number"
            )
        c = float(exponent)
        xs = self._values
        if not c.is_integer():
            for x in xs:
                if x.data < 0.0:
                    raise ValueError(
                        f"{x.data!r} ** {c!r}: a negative base needs an integer exponent "
                        f"(tensor of shape {self.shape})"
                    )
        if not self._tracked():
            return _wrap(_leaves([power(x.data, c) for x in xs]), self.shape, False)
        if c == 0.0:
            out = [Value(1.0, x, _NIL) for x in xs]
        else:
            cm1 = c - 1.0
            try:
                out = [Value(x.data**c, x, c * x.data**cm1) for x in xs]
            except ArithmeticError:  # 0 ** negative, overflow: PyTorch's infinities instead
                out = [Value(power(x.data, c), x, c * power(x.data, cm1)) for x in xs]
        count_nodes(len(out))
        return _wrap(out, self.shape, True, (self,))

    @pausing_gc
    def exp(self) -> Tensor:
        xs = self._values
        if not self._tracked():
            return _wrap(_leaves([_value.exp(x.data) for x in xs]), self.shape, False)
        try:
            # d/dx e^x = e^x: the output float is also the local derivative
            out = [Value(e := math.exp(x.data), x, e) for x in xs]
        except OverflowError:
            out = [Value(e := _value.exp(x.data), x, e) for x in xs]
        count_nodes(len(out))
        return _wrap(out, self.shape, True, (self,))

    @pausing_gc
    def log(self) -> Tensor:
        xs = self._values
        for x in xs:
            if not x.data > 0.0 and x.data == x.data:  # NaN passes through, as in PyTorch
                raise ValueError(
                    f"log of a non-positive number: {x.data!r} (tensor of shape {self.shape})"
                )
        if not self._tracked():
            return _wrap(_leaves([math.log(x.data) for x in xs]), self.shape, False)
        out = [Value(math.log(x.data), x, 1.0 / x.data) for x in xs]
        count_nodes(len(out))
        return _wrap(out, self.shape, True, (self,))

    @pausing_gc
    def tanh(self) -> Tensor:
        xs = self._values
        if not self._tracked():
            return _wrap(_leaves([math.tanh(x.data) for x in xs]), self.shape, False)
        out = [Value(t := math.tanh(x.data), x, 1.0 - t * t) for x in xs]
        count_nodes(len(out))
        return _wrap(out, self.shape, True, (self,))

    @pausing_gc
    def relu(self) -> Tensor:
        """max(x, 0); NaN stays NaN and passes its gradient, as torch's relu."""
        xs = self._values
        if not self._tracked():
            return _wrap(_leaves([0.0 if x.data <= 0.0 else x.data for x in xs]), self.shape, False)
        out = [Value(0.0, x, _NIL) if x.data <= 0.0 else Value(x.data, x, _ONE) for x in xs]
        count_nodes(len(out))
        return _wrap(out, self.shape, True, (self,))

    @pausing_gc
    def sigmoid(self) -> Tensor:
        xs = self._values
        if not self._tracked():
            return _wrap(_leaves([sigmoid(x.data) for x in xs]), self.shape, False)
        out = [Value(s := sigmoid(x.data), x, s * (1.0 - s)) for x in xs]
        count_nodes(len(out))
        return _wrap(out, self.shape, True, (self,))

    # -- composed arithmetic ------------------------------------------------------------------

    def __neg__(self) -> Tensor:
        return self * -1.0

    def __radd__(self, other: object) -> Tensor:
        return self.__add__(other)

    def __rmul__(self, other: object) -> Tensor:
        return self.__mul__(other)

    def __sub__(self, other: object) -> Tensor:
        if _is_number(other):
            return self + (-float(other))
        t = self._operand(other, "-")
        return NotImplemented if t is None else self + (-t)

    def __rsub__(self, other: object) -> Tensor:
        if _is_number(other):
            return (-self) + other
        t = self._operand(other, "-")
        return NotImplemented if t is None else t + (-self)

    def __truediv__(self, other: object) -> Tensor:
        if _is_number(other):
            return self * power(float(other), -1.0)
        t = self._operand(other, "/")
        return NotImplemented if t is None else self * t**-1

    def __rtruediv__(self, other: object) -> Tensor:
        if _is_number(other):
            return self**-1 * other
        t = self._operand(other, "/")
        return NotImplemented if t is None else t * self**-1

    def __rpow__(self, other: object) -> Tensor:
        raise TypeError(
            f"{type(other).__name__} ** Tensor: a tensor exponent is not supported "
            "(the exponent must be a Python number)"
        )

    def sqrt(self) -> Tensor:
        for x in self._values:
            if x.data < 0.0:
                raise ValueError(
                    f"sqrt of a negative number: {x.data!r} (tensor of shape {self.shape})"
                )
        return self**0.5

    # -- matrix product -----------------------------------------------------------------------

    def __matmul__(self, other: object) -> Tensor:
        t = self._operand(other, "@")
        if t is None:
            if _is_number(other):
                raise ValueError("matmul: both operands need at least 1 dimension, got a number")
            return NotImplemented
        return _matmul(self, t)

    def __rmatmul__(self, other: object) -> Tensor:
        t = self._operand(other, "@")
        return NotImplemented if t is None else _matmul(t, self)

    def matmul(self, other: object) -> Tensor:
        return self @ other

    # -- reductions ---------------------------------------------------------------------------

    def _groups(self, dim: object, keepdim: bool, op: str) -> tuple[list[list[Value]], tuple]:
        """The Values of each output element of a reduction over ``dim``, and the out shape."""
        dims = _norm_dims(dim, self.ndim, op)
        kept = tuple(d for d in range(self.ndim) if d not in dims)
        if keepdim:
            shape = tuple(1 if d in dims else s for d, s in enumerate(self.shape))
        else:
            shape = tuple(self.shape[d] for d in kept)
        values = self._values
        size = math.prod(self.shape[d] for d in dims)
        if size == 0:
            groups = [[] for _ in range(math.prod(self.shape[d] for d in kept))]
        elif dims == tuple(range(len(kept), self.ndim)):
            # reduced dims are the trailing ones: each group is a contiguous slice
            groups = [values[i : i + size] for i in range(0, len(values), size)]
        else:
            positions = _grid(self.shape).transpose(kept + dims).reshape(-1, size)
            groups = [list(map(values.__getitem__, row)) for row in positions.tolist()]
        return groups, shape

    @pausing_gc
    def sum(self, dim: int | tuple | None = None, keepdim: bool = False) -> Tensor:
        """Sum over ``dim`` (all dims if None): a chain of ``k - 1`` additions per output."""
        dim = _all_dims_if_empty(dim)
        groups, shape = self._groups(dim, keepdim, "sum")
        if not self._tracked():
            return _wrap(_leaves([reduce(_add, map(_data, g), 0.0) for g in groups]), shape, False)
        out = []
        created = 0
        for group in groups:
            if not group:
                out.append(Value(0.0))
                continue
            it = iter(group)
            acc = next(it)
            for v in it:
                acc = Value(acc.data + v.data, acc, _ONE, v, _ONE)
            out.append(acc)
            created += len(group) - 1
        count_nodes(created)
        return _wrap(out, shape, True, (self,))

    def mean(self, dim: int | tuple | None = None, keepdim: bool = False) -> Tensor:
        dim = _all_dims_if_empty(dim)
        n = math.prod(self.shape[d] for d in _norm_dims(dim, self.ndim, "mean"))
        if n == 0:
            raise ValueError(f"mean over an empty dimension (shape {self.shape}, dim {dim})")
        return self.sum(dim, keepdim) * (1.0 / n)

    def max(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """Largest value over ``dim``; its gradient goes to the first maximal element.

        NaN counts as larger than every number (torch propagates it).
        """
        return self._extreme(dim, keepdim, "max")

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> np.ndarray | int:
        """Index of the first maximal element (flat if ``dim`` is None); no gradient."""
        return self._arg_extreme(dim, keepdim, "argmax")

    # -- shape: selections that create no node ------------------------------------------------

    def _select(self, positions: np.ndarray, view: bool = True) -> Tensor:
        """A tensor of our Values picked at ``positions`` (an int array of any shape).

        A *view* (reshape, transpose, slicing ...) shares the Values and the write stamp, as
        torch's views share memory: an in-place write through it shows in ``self``. A *copy*
        (gather, cat, where ...) is new memory in torch: when no graph is recorded it gets
        fresh Values, so a later in-place write to either side stays on that side.
        """
        return self._arranged(_gather(self._values, positions), positions.shape, view)

    def _arranged(self, values: list[Value], shape: tuple[int, ...], view: bool) -> Tensor:
        """A selection of our Values as a view or a copy (see ``_select``)."""
        tracked = self._tracked()
        if view:
            return _wrap(values, shape, tracked, (self,), self._storage_token())
        return _copy_unless_tracked(values, shape, tracked, (self,))

    def _storage_token(self) -> list[int]:
        """The write stamp shared with every alias of our Values (made on first use)."""
        if self._storage is None:
            self._storage = [0]
        return self._storage

    def reshape(self, *shape: int | tuple) -> Tensor:
        target = _shape_arg(shape)
        n = len(self._values)
        if target.count(-1) > 1 or any(s < -1 for s in target):
            raise ValueError(
                f"reshape: invalid target shape {target} for a tensor of shape {self.shape}"
            )
        if -1 in target:
            known = math.prod(s for s in target if s != -1)
            if known == 0 or n % known:
                raise ValueError(
                    f"reshape: cannot reshape a tensor of shape {self.shape} into {target}"
                )
            target = tuple(n // known if s == -1 else s for s in target)
        if math.prod(target) != n:
            raise ValueError(
                f"reshape: cannot reshape a tensor of shape {self.shape} into {target}"
            )
        return self._arranged(self._values, target, view=True)

    view = reshape

    def permute(self, *dims: int | tuple) -> Tensor:
        order = _shape_arg(dims)
        if len(order) != self.ndim:
            raise ValueError(
                f"permute: {order} does not list the {self.ndim} dims of shape {self.shape}"
            )
        order = tuple(_norm_dim(d, self.ndim, "permute") for d in order)
        if sorted(order) != list(range(self.ndim)):
            raise ValueError(
                f"permute: {order} is not a permutation of the dims of shape {self.shape}"
            )
        if order == tuple(range(self.ndim)):
            return self._arranged(self._values, self.shape, view=True)
        return self._select(_grid(self.shape).transpose(order))

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        order = list(range(self.ndim))
        d0, d1 = _norm_dim(dim0, self.ndim, "transpose"), _norm_dim(dim1, self.ndim, "transpose")
        if self.ndim == 0:
            return self.permute()
        order[d0], order[d1] = order[d1], order[d0]
        return self.permute(order)

    @property
    def T(self) -> Tensor:
        return self.permute(tuple(reversed(range(self.ndim))))

    def unsqueeze(self, dim: int) -> Tensor:
        d = _norm_dim(dim, self.ndim + 1, "unsqueeze")
        shape = self.shape[:d] + (1,) + self.shape[d:]
        return self._arranged(self._values, shape, view=True)

    def squeeze(self, dim: int | tuple | None = None) -> Tensor:
        if dim is None:
            shape = tuple(s for s in self.shape if s != 1)
        else:
            dims = _norm_dims(dim, self.ndim, "squeeze")
            shape = tuple(s for d, s in enumerate(self.shape) if not (d in dims and s == 1))
        return self._arranged(self._values, shape, view=True)

    def split(self, split_size_or_sections: int | list, dim: int = 0) -> tuple[Tensor, ...]:
        d = _norm_dim(dim, self.ndim, "split")
        length = self.shape[d]
        if isinstance(split_size_or_sections, (int, np.integer)):
            step = int(split_size_or_sections)
            if step <= 0:
                raise ValueError(f"split: size must be positive, got {step}")
            sizes = [min(step, length - i) for i in range(0, length, step)] or [0]
        else:
            sizes = [int(s) for s in split_size_or_sections]
            if sum(sizes) != length or any(s < 0 for s in sizes):
                raise ValueError(
                    f"split: sizes {sizes} do not add up to {length} "
                    f"(dim {dim} of shape {self.shape})"
                )
        grid = _grid(self.shape)
        pieces, start = [], 0
        for s in sizes:
            key = (slice(None),) * d + (slice(start, start + s),)
            pieces.append(self._select(grid[key]))
            start += s
        return tuple(pieces)

    def __getitem__(self, key: object) -> Tensor:
        """numpy indexing: ints, slices, None, ``...``, integer arrays (gather) and bool masks.

        A gather's backward is a scatter-add for free: a position picked twice is the same
        ``Value`` twice, and that ``Value`` receives the gradient of both uses.
        """
        key = _index_key(key)
        return self._select(_torch_order_index(_grid(self.shape), key), view=_is_basic(key))

    def __setitem__(self, key: object, value: object) -> None:
        """``x[key] = value``, torch's in-place write, with the rules of every in-place op: a
        leaf that requires grad refuses in grad mode; a recorded tensor takes the result's
        place, its elements at ``key`` becoming ``value``'s own ``Value``s (so the gradient
        reaches ``value`` for free). ``value`` (a number or a tensor) broadcasts to the
        indexed region's shape."""
        self._inplace("__setitem__", lambda t: t._index_put(key, value))

    def _index_put(self, key: object, value: object) -> Tensor:
        """A copy of self (as Values) with ``value``'s Values at ``key``."""
        positions = _torch_order_index(_grid(self.shape), _index_key(key))
        if isinstance(value, Tensor):
            values, shape = value._values, value.shape
        elif _foreign(value):
            raise _mixing_error("__setitem__", value)
        else:
            values, shape = [Value(float(value))], ()  # type: ignore[arg-type]
        region, given = positions.shape, shape
        while len(shape) > len(region) and shape[0] == 1:  # leading 1s drop, as in torch
            shape = shape[1:]
        try:
            fits = np.broadcast_shapes(shape, region) == region
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(f"__setitem__: a value of shape {given} does not broadcast to the "
                             f"indexed shape {region}")
        out = list(self._values)
        for position, v in zip(positions.ravel().tolist(),
                               _broadcast_values(values, shape, region), strict=True):
            out[position] = v
        tracked = self._tracked() or (isinstance(value, Tensor) and value._tracked())
        inputs = (self, value) if isinstance(value, Tensor) else (self,)
        return _copy_unless_tracked(out, self.shape, tracked, inputs)

    # -- version 2 methods (torch names) ------------------------------------------------------

    # Elementwise primitives: vectorised forms of value.py's (NaN in, NaN out), and clamp.

    @pausing_gc
    def abs(self) -> Tensor:
        """|x|; its gradient is sign(x), 0 at 0 (torch's choice) and at NaN."""
        xs = self._values
        if not self._tracked():
            return _wrap(_leaves([abs(x.data) for x in xs]), self.shape, False)
        out = [
            Value(d, x, _ONE) if (d := x.data) > 0.0
            else Value(-d, x, -1.0) if d < 0.0
            else Value(abs(d), x, _NIL)  # 0 or NaN
            for x in xs
        ]
        count_nodes(len(out))
        return _wrap(out, self.shape, True, (self,))

    @pausing_gc
    def sin(self) -> Tensor:
        xs = self._values
        if not self._tracked():
            return _wrap(_leaves([_value.sin(x.data) for x in xs]), self.shape, False)
        try:
            out = [Value(math.sin(d := x.data), x, math.cos(d)) for x in xs]
        except ValueError:  # an infinity: torch's NaN instead of math's error
            out = [Value(_value.sin(d := x.data), x, _value.cos(d)) for x in xs]
        count_nodes(len(out))
        return _wrap(out, self.shape, True, (self,))

    @pausing_gc
    def cos(self) -> Tensor:
        xs = self._values
        if not self._tracked():
            return _wrap(_leaves([_value.cos(x.data) for x in xs]), self.shape, False)
        try:
            out = [Value(math.cos(d := x.data), x, -math.sin(d)) for x in xs]
        except ValueError:  # an infinity: torch's NaN instead of math's error
            out = [Value(_value.cos(d := x.data), x, -_value.sin(d)) for x in xs]
        count_nodes(len(out))
        return _wrap(out, self.shape, True, (self,))

    @pausing_gc
    def erf(self) -> Tensor:
        """The error function; d/dx erf(x) = 2/sqrt(pi) * exp(-x^2)."""
        xs = self._values
        if not self._tracked():
            return _wrap(_leaves([math.erf(x.data) for x in xs]), self.shape, False)
        slope = _value.erf_slope
        out = [Value(math.erf(d := x.data), x, slope(d)) for x in xs]
        count_nodes(len(out))
        return _wrap(out, self.shape, True, (self,))

    @pausing_gc
    def clamp(self, min: float | None = None, max: float | None = None) -> Tensor:
        """Each value limited to ``[min, max]``; either bound may be None, not both.

        A relu-like primitive: the local derivative is 1 where ``min <= x <= max`` (bounds
        included) and 0 elsewhere. NaN stays NaN (gradient 0), and with ``min > max`` every
        value becomes ``max``, as in torch.
        """
        lo, hi = _clamp_bounds(min, max)
        xs = self._values
        if not self._tracked():
            return _wrap(_leaves([_clamp_float(x.data, lo, hi) for x in xs]), self.shape, False)
        out = [
            Value(d, x, _ONE) if lo <= (d := x.data) <= hi
            else Value(_clamp_float(d, lo, hi), x, _NIL)
            for x in xs
        ]
        count_nodes(len(out))
        return _wrap(out, self.shape, True, (self,))

    clip = clamp

    # Composed from the primitives.

    def pow(self, exponent: float) -> Tensor:
        """``self ** exponent`` (a Python number; a tensor exponent is a TypeError)."""
        return self**exponent

    def square(self) -> Tensor:
        return self**2

    def softmax(self, dim: int) -> Tensor:
        """``exp(x) / sum(exp(x))`` along ``dim``, from ``x - max(x)`` so that exp never
        overflows (the max is taken as a constant: it cancels in the value and the gradient)."""
        e = self._minus_max(dim).exp()
        return e / e.sum(dim, keepdim=True)

    def log_softmax(self, dim: int) -> Tensor:
        """``x - log(sum(exp(x)))`` along ``dim``, computed from ``x - max(x)`` (stable)."""
        shifted = self._minus_max(dim)
        return shifted - shifted.exp().sum(dim, keepdim=True).log()

    def _minus_max(self, dim: int) -> Tensor:
        return self - self.max(dim, keepdim=True).detach()

    def var(
        self,
        dim: int | tuple | None = None,
        unbiased: bool | None = None,
        keepdim: bool = False,
        *,
        correction: float | None = None,
    ) -> Tensor:
        """Variance over ``dim`` (an int, a tuple, or None for all), as torch.

        The sum of squared deviations from the mean, divided by ``n - correction``.
        ``correction`` defaults to 1 (Bessel's correction); ``unbiased=False`` means 0, and
        ``x.var(False)`` is torch's ``var(unbiased)`` form. When ``n - correction <= 0`` the
        result is inf or NaN, as in torch.
        """
        dim, c = _var_arguments(dim, unbiased, correction)
        dims = _norm_dims(dim, self.ndim, "var")
        n = math.prod(self.shape[d] for d in dims)
        # Over no elements torch's var is NaN; the sum of nothing (0) divided by 0 gives it.
        mean = self.mean(dims, keepdim=True) if n else self.sum(dims, keepdim=True)
        centred = self - mean
        return (centred * centred).sum(dims, keepdim) / max(0.0, n - c)

    def std(
        self,
        dim: int | tuple | None = None,
        unbiased: bool | None = None,
        keepdim: bool = False,
        *,
        correction: float | None = None,
    ) -> Tensor:
        """Standard deviation: ``sqrt`` of ``var`` with the same arguments.

        Where it is 0 (a constant slice) its gradient is 0, as in torch, rather than the
        ``inf * 0`` of the chain rule through ``sqrt``: those entries bypass the ``sqrt``.
        """
        var = self.var(dim, unbiased, keepdim, correction=correction)
        zero = var.numpy() == 0.0
        return var.masked_fill(zero, 1.0).sqrt().masked_fill(zero, 0.0)

    @pausing_gc
    def clone(self) -> Tensor:
        """A copy with Values of its own: new nodes with local derivative 1 (identity
        gradient) when tracked, new leaves otherwise; never ``self``'s storage."""
        xs = self._values
        if not self._tracked():
            return _wrap(_leaves(list(map(_data, xs))), self.shape, False)
        out = [Value(x.data, x, _ONE) for x in xs]
        count_nodes(len(out))
        return _wrap(out, self.shape, True, (self,))

    # Selections: no new node.

    def min(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """Smallest value over ``dim``; its gradient goes to the first minimal element.

        NaN counts as smaller than every number (torch propagates it).
        """
        return self._extreme(dim, keepdim, "min")

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> np.ndarray | int:
        """Index of the first minimal element (flat if ``dim`` is None); no gradient."""
        return self._arg_extreme(dim, keepdim, "argmin")

    def _extreme(self, dim: int | None, keepdim: bool, op: str) -> Tensor:
        """``max``/``min``: the first extreme Value of each group (the first NaN if any)."""
        if dim is not None:
            dim = _norm_dim(dim, self.ndim, op)
        groups, shape = self._groups(dim, keepdim, op)
        if any(not g for g in groups) or not self._values:
            raise ValueError(f"{op} over an empty dimension (shape {self.shape}, dim {dim})")
        largest = op == "max"
        extremes = [_first_extreme(g, largest) for g in groups]
        return _copy_unless_tracked(extremes, shape, self._tracked(), (self,))

    def _arg_extreme(self, dim: int | None, keepdim: bool, op: str) -> np.ndarray | int:
        """``argmax``/``argmin`` by numpy, whose rules are torch's: the first extreme
        element, and the first NaN if there is one."""
        data = self.numpy()
        if data.size == 0:
            raise ValueError(f"{op} of an empty tensor (shape {self.shape})")
        find = np.argmax if op == "argmax" else np.argmin
        if dim is None:
            return int(find(data))
        axis = _norm_dim(dim, self.ndim, op)
        if self.ndim == 0:
            return 0
        return find(data, axis=axis, keepdims=keepdim)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        """Dims ``start_dim..end_dim`` (inclusive) merged into one; a 0-d tensor becomes 1-d."""
        return self.reshape(_flattened_shape(self.shape, start_dim, end_dim))

    def expand(self, *sizes: int | tuple) -> Tensor:
        """A broadcast of ``self`` to ``sizes``, torch's rules: size-1 dims stretch, new
        leading dims may be added, -1 keeps a size. A repeated element is the same Value, so
        its gradient sums back by itself."""
        target = _expanded_shape(self.shape, _shape_arg(sizes))
        values = _broadcast_values(self._values, self.shape, target)
        return self._arranged(values, target, view=True)

    # dtype, device and autograd flags.

    def float(self) -> Tensor:
        """``self``: float32 is computed in float64 on this engine (docs/architecture.md)."""
        return self

    def double(self) -> Tensor:
        return self

    def to(self, *args: object, dtype: object = None, device: object = None) -> Tensor:
        """torch's ``to(dtype)``, ``to("cpu")``, ``to("cpu", dtype)``: always ``self`` here,
        because this engine computes in float64 on the CPU. Any other dtype or device is a
        ``TypeError``."""
        _check_dtype(_to_dtype(args, dtype, device))
        return self

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` and return ``self``. Only leaves can change it: on a non-leaf
        (which requires grad) ``True`` changes nothing and ``False`` is a RuntimeError, as in
        torch."""
        if self._is_leaf or not requires_grad:
            self.requires_grad = requires_grad
        return self

    # -- masks and comparisons ----------------------------------------------------------------

    def masked_fill(self, mask: object, value: float) -> Tensor:
        """``value`` where ``mask`` is true (no gradient there), our Values elsewhere."""
        m = _bool_array(mask)
        try:
            m = np.broadcast_to(m, self.shape)
        except ValueError:
            raise ValueError(
                f"masked_fill: mask of shape {m.shape} does not broadcast to the tensor's shape "
                f"{self.shape}"
            ) from None
        if isinstance(value, Tensor):
            value = value.item()
        fill = Value(float(value))
        out = [fill if hit else v for hit, v in zip(m.ravel().tolist(), self._values, strict=True)]
        return _copy_unless_tracked(out, self.shape, self._tracked(), (self,))

    def _compare(self, other: object) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(other, Tensor):
            return self.numpy(), other.numpy()
        if _foreign(other):
            raise _mixing_error("comparison", other)
        return self.numpy(), np.asarray(other)

    def __lt__(self, other: object) -> np.ndarray:
        a, b = self._compare(other)
        return a < b

    def __le__(self, other: object) -> np.ndarray:
        a, b = self._compare(other)
        return a <= b

    def __gt__(self, other: object) -> np.ndarray:
        a, b = self._compare(other)
        return a > b

    def __ge__(self, other: object) -> np.ndarray:
        a, b = self._compare(other)
        return a >= b

    __eq__ = object.__eq__  # identity, so tensors stay hashable (as in PyTorch)
    __hash__ = object.__hash__


# -- version 2 helpers (torch names) ----------------------------------------------------------


def _clamp_bounds(lo: object, hi: object) -> tuple[float, float]:
    """``clamp``'s bounds as floats, a missing one as the infinity that changes nothing."""
    if lo is None and hi is None:
        raise ValueError("clamp: at least one of min and max must be given (not None)")
    for name, bound in (("min", lo), ("max", hi)):
        if bound is not None and not _is_number(bound):
            raise TypeError(f"clamp: {name} must be a number or None, got {type(bound).__name__}")
    return (-math.inf if lo is None else float(lo)), (math.inf if hi is None else float(hi))


def _clamp_float(x: float, lo: float, hi: float) -> float:
    """torch's ``min(max(x, lo), hi)`` for one float: NaN (in ``x`` or a bound) propagates."""
    if x < lo or lo != lo:
        x = lo
    if x > hi or hi != hi:
        x = hi
    return x


def _first_extreme(group: list[Value], largest: bool) -> Value:
    """The first largest (or smallest) Value of ``group``; the first NaN if there is one.

    The builtins ``max``/``min`` keep the first of equal elements (torch's choice), but they
    skip a NaN that is not in front, because every comparison with NaN is false.
    """
    data = list(map(_data, group))
    if any(map(math.isnan, data)):
        return group[next(i for i, x in enumerate(data) if x != x)]
    pick = max if largest else min
    return group[pick(range(len(data)), key=data.__getitem__)]


def _var_arguments(
    dim: object, unbiased: bool | None, correction: float | None
) -> tuple[object, float]:
    """``var``/``std``'s arguments as torch reads them: (dim, correction).

    ``x.var(False)`` passes ``unbiased`` in ``dim``'s place; ``dim=()`` means all dims.
    """
    if isinstance(dim, bool):
        if unbiased is not None:
            raise TypeError("var: unbiased given twice (as the first argument and by name)")
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise TypeError("var: give unbiased or correction, not both")
    if correction is None:
        correction = 1.0 if unbiased is None or unbiased else 0.0
    elif not _is_number(correction):
        raise TypeError(f"var: correction must be a number, got {type(correction).__name__}")
    if isinstance(dim, (tuple, list)) and not dim:
        dim = None
    return dim, float(correction)


def _flattened_shape(shape: tuple[int, ...], start_dim: int, end_dim: int) -> tuple[int, ...]:
    """``shape`` with dims ``start_dim..end_dim`` merged (a 0-d shape counts as ``(1,)``)."""
    start = _norm_dim(start_dim, len(shape), "flatten")
    end = _norm_dim(end_dim, len(shape), "flatten")
    if start > end:
        raise ValueError(
            f"flatten: start_dim {start_dim} comes after end_dim {end_dim} (shape {shape})"
        )
    return shape[:start] + (math.prod(shape[start : end + 1]),) + shape[end + 1 :]


def _expanded_shape(shape: tuple[int, ...], sizes: tuple[int, ...]) -> tuple[int, ...]:
    """The shape ``expand(*sizes)`` gives, by torch's rules, else a ValueError.

    ``sizes`` ends with one entry per dim of ``shape``: -1 keeps the size, a size-1 dim takes
    any size, any other dim must keep its size. Extra leading entries add new dims (-1 is
    not allowed there: there is no size to keep).
    """
    lead = len(sizes) - len(shape)
    if lead < 0:
        raise ValueError(f"expand: sizes {sizes} have fewer dims than the shape {shape}")
    out = []
    for i, size in enumerate(sizes):
        old = shape[i - lead] if i >= lead else None
        if size == -1 and old is not None:
            size = old
        if size < 0:
            raise ValueError(f"expand: invalid size {size} at dim {i} of sizes {sizes}")
        if old is not None and old != 1 and size != old:
            raise ValueError(
                f"expand: size {size} at dim {i} of sizes {sizes} must match the existing "
                f"size {old} of shape {shape} (only size-1 dims expand)"
            )
        out.append(size)
    return tuple(out)


_CPU = ("cpu", "cpu:0")


def _to_dtype(args: tuple, dtype: object, device: object) -> object:
    """The dtype a ``to(...)`` call asks for (None: keep it), after checking its device.

    Positional arguments are sorted as torch does: a ``torch.device``, or a string numpy
    cannot read as a dtype (``"cpu"``), is a device; anything else is a dtype.
    """
    if len(args) > 2:
        raise TypeError(f"to() takes a dtype and/or a device, got {len(args)} arguments")
    for arg in args:
        if _names_device(arg):
            device = arg
        else:
            dtype = arg
    if device is not None and str(device) not in _CPU:
        raise TypeError(f"to(): {device!r} is neither a float dtype nor the device 'cpu'")
    return dtype


def _names_device(arg: object) -> bool:
    if type(arg).__name__ == "device":  # torch.device
        return True
    if not isinstance(arg, str):
        return False
    try:
        np.dtype(arg)
    except TypeError:
        return True
    return False


# -- matrix product ---------------------------------------------------------------------------


def _dot(row: list[Value], col: list[Value], ga: bool, gb: bool) -> Value:
    """``sum(row[i] * col[i])`` as the naive chain: k products, then k - 1 sums."""
    pairs = iter(zip(row, col, strict=True))
    x, y = next(pairs)
    if ga and gb:
        acc = Value(x.data * y.data, x, y.data, y, x.data)
        for x, y in pairs:
            p = Value(x.data * y.data, x, y.data, y, x.data)
            acc = Value(acc.data + p.data, acc, _ONE, p, _ONE)
    elif ga:  # col is a constant: record only the edges towards row
        acc = Value(x.data * y.data, x, y.data)
        for x, y in pairs:
            p = Value(x.data * y.data, x, y.data)
            acc = Value(acc.data + p.data, acc, _ONE, p, _ONE)
    else:
        acc = Value(x.data * y.data, y, x.data)
        for x, y in pairs:
            p = Value(x.data * y.data, y, x.data)
            acc = Value(acc.data + p.data, acc, _ONE, p, _ONE)
    return acc


def _dot_data(row: list[Value], col: list[Value]) -> float:
    """The same sum as ``_dot`` in the same order, on floats only (nothing recorded)."""
    pairs = iter(zip(row, col, strict=True))
    x, y = next(pairs)
    acc = x.data * y.data
    for x, y in pairs:
        acc = acc + x.data * y.data
    return acc


@pausing_gc
def _matmul(a: Tensor, b: Tensor) -> Tensor:
    """PyTorch's matmul rules (1-D, 2-D, batched with broadcast batch dims), done naively.

    Each output element is ``_dot`` of a row and a column: ``2k - 1`` new nodes when recorded.
    """
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(
            f"matmul: both operands need at least 1 dimension, got shapes {a.shape} and {b.shape}"
        )
    a_shape = (1,) + a.shape if a.ndim == 1 else a.shape
    b_shape = b.shape + (1,) if b.ndim == 1 else b.shape
    (m, k), (k2, n) = a_shape[-2:], b_shape[-2:]
    if k != k2:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} are not aligned ({k} != {k2})")
    try:
        batch = tuple(np.broadcast_shapes(a_shape[:-2], b_shape[:-2]))
    except ValueError:
        raise ValueError(
            f"matmul: batch dims of shapes {a.shape} and {b.shape} cannot be broadcast"
        ) from None
    nodes = math.prod(batch) * m * n * max(2 * k - 1, 1)
    _check_budget(nodes, f"matmul of shapes {a.shape} and {b.shape}")
    av = _broadcast_values(a._values, a_shape, batch + (m, k))
    bv = _broadcast_values(b._values, b_shape, batch + (k, n))
    ga, gb = a._tracked(), b._tracked()
    out: list[Value] = []
    for i in range(math.prod(batch)):
        A, B = av[i * m * k : (i + 1) * m * k], bv[i * k * n : (i + 1) * k * n]
        rows = [A[r * k : (r + 1) * k] for r in range(m)]
        cols = [B[c::n] for c in range(n)]
        if k == 0:  # empty sums are 0, as in PyTorch
            out += _leaves([0.0] * (m * n))
        elif ga or gb:
            out += [_dot(row, col, ga, gb) for row in rows for col in cols]
        else:
            out += _leaves([_dot_data(row, col) for row in rows for col in cols])
    if (ga or gb) and k > 0:
        count_nodes(len(out) * (2 * k - 1))
    shape = batch + (m, n)
    if a.ndim == 1:
        shape = shape[:-2] + shape[-1:]
    if b.ndim == 1:
        shape = shape[:-1]
    return _wrap(out, shape, ga or gb, (a, b))


def _scaled(other: object, alpha: float) -> object:
    """``alpha * other`` for add_/sub_'s ``alpha=`` (other: a tensor, array or number)."""
    if isinstance(other, np.ndarray):
        other = Tensor(other)
    return other * float(alpha)


def _shares_values(t: Tensor, inputs: tuple) -> bool:
    """Whether ``t`` holds Values of one of ``inputs`` (a selection of them: a view, or a
    gather recorded in grad mode) rather than Values of its own."""
    own = {id(v) for v in t._values}
    return any(id(v) in own for x in inputs for v in x._values)


def _stamp_write(token: list[int]) -> None:
    """Record an in-place write into the Values that share ``token``."""
    global _last_write
    _last_write = token[0] = next(_sequence)


def _check_not_overwritten(root: Tensor) -> None:
    """RuntimeError if a result in ``root``'s graph was computed from Values that an in-place
    write changed afterwards (PyTorch's version-counter check). The scalar engine's stored
    local derivatives would still give the gradient of what was computed; refusing keeps the
    two engines and torch saying the same thing."""
    stack, seen = [root], set()
    while stack:
        t = stack.pop()
        if id(t) in seen or not t._inputs:
            continue
        seen.add(id(t))
        for x in (t, *t._inputs):
            if x._storage is not None and x._storage[0] > t._seq:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified "
                    f"by an inplace operation: a tensor of shape {x.shape} was written after "
                    "the graph read it. Do the in-place update after backward(), or use an "
                    "out-of-place op."
                )
        stack += t._inputs


def _mark_reached(root: Tensor, retain_graph: bool) -> None:
    """Flag the tensors whose grad a backward pass from ``root`` reached (see ``_wrap``)."""
    stack, seen = [root], set()
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        if t._is_leaf or t._retains_grad:
            t._reached = t._requires_grad
        stack += t._inputs
        if not retain_graph:
            t._inputs = ()


# -- indexing and masks -----------------------------------------------------------------------


def _index_key(key: object) -> object:
    """Tensors used as indices become integer arrays; everything else goes to numpy as is."""
    if isinstance(key, tuple):
        return tuple(_index_key(k) for k in key)
    if isinstance(key, Tensor):
        data = key.numpy()
        if not np.all(data == np.round(data)):
            raise IndexError(f"index tensor of shape {key.shape} holds non-integer values")
        return data.astype(np.intp)
    if _foreign(key):
        raise _mixing_error("indexing", key)
    return key


def _torch_order_index(grid: np.ndarray, key: object) -> np.ndarray:
    """``grid[key]`` with ints applied before index arrays, as torch does.

    numpy counts an int next to an index array as an index array too, so ``x[i, :, ids]``
    has shape ``(len(ids), n)`` there; torch selects with ``i`` first and gives
    ``(n, len(ids))``.
    """
    parts = key if isinstance(key, tuple) else (key,)
    arrays = [isinstance(p, (np.ndarray, list)) for p in parts]
    ints = [isinstance(p, (int, np.integer)) and not isinstance(p, bool) for p in parts]
    if not (any(arrays) and any(ints)):
        return grid[key]
    basic = tuple(slice(None) if a else p for p, a in zip(parts, arrays, strict=True))
    gather = tuple(p for p, i in zip(parts, ints, strict=True) if not i)
    gather = tuple(p if a or p is Ellipsis else slice(None)
                   for p, a in zip(gather, [isinstance(p, (np.ndarray, list)) for p in gather],
                                   strict=True))
    return grid[basic][gather]


def _bool_array(mask: object) -> np.ndarray:
    if isinstance(mask, Tensor):
        return mask.numpy() != 0.0
    if _foreign(mask):
        raise _mixing_error("mask", mask)
    arr = np.asarray(mask)
    if arr.dtype.kind not in "biu":
        raise TypeError(f"mask must be a bool array, got dtype {arr.dtype}")
    return arr.astype(bool, copy=False)


# -- module-level constructors and functions --------------------------------------------------


def tensor(data: object, requires_grad: bool = False, dtype: object = None) -> Tensor:
    """A new leaf tensor from numbers, nested lists or an ndarray (always float64)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def _filled(shape: object, value: float, requires_grad: bool, dtype: object) -> Tensor:
    _check_dtype(dtype)
    dims = _shape_arg(shape if isinstance(shape, tuple) else (shape,))
    if any(s < 0 for s in dims):
        raise ValueError(f"negative dimension in shape {dims}")
    _check_budget(math.prod(dims), f"a tensor of shape {dims}")
    t = _wrap(_leaves([value] * math.prod(dims)), dims, False)
    t._requires_grad = bool(requires_grad)
    return t


def zeros(shape: int | tuple, requires_grad: bool = False, dtype: object = None) -> Tensor:
    return _filled(shape, 0.0, requires_grad, dtype)


def ones(shape: int | tuple, requires_grad: bool = False, dtype: object = None) -> Tensor:
    return _filled(shape, 1.0, requires_grad, dtype)


def _tensors(tensors: object, op: str) -> list[Tensor]:
    items = list(tensors)
    if not items:
        raise ValueError(f"{op}: expected a non-empty list of tensors")
    for t in items:
        if not isinstance(t, Tensor):
            raise TypeError(
                f"{op}: expected scalar_engine Tensors, got {type(t).__module__}.{type(t).__name__}"
            )
    return items


def cat(tensors: list[Tensor], dim: int = 0) -> Tensor:
    """Join tensors along an existing dim (no new nodes: the result holds their Values)."""
    items = _tensors(tensors, "cat")
    ndim = items[0].ndim
    d = _norm_dim(dim, ndim, "cat")
    shapes = [t.shape for t in items]
    for s in shapes:
        if len(s) != ndim or s[:d] + s[d + 1 :] != shapes[0][:d] + shapes[0][d + 1 :]:
            raise ValueError(f"cat: shapes {shapes} differ outside dim {dim}")
    if ndim == 0:
        raise ValueError("cat: zero-dimensional tensors cannot be concatenated")
    grids, offset, values = [], 0, []
    for t in items:
        grids.append(_grid(t.shape) + offset)
        offset += len(t._values)
        values += t._values
    positions = np.concatenate(grids, axis=d)
    tracked = _value._mode.enabled and any(t._requires_grad for t in items)
    return _copy_unless_tracked(_gather(values, positions), positions.shape, tracked, tuple(items))


def stack(tensors: list[Tensor], dim: int = 0) -> Tensor:
    """Join same-shape tensors along a new dim."""
    items = _tensors(tensors, "stack")
    shapes = [t.shape for t in items]
    if any(s != shapes[0] for s in shapes):
        raise ValueError(f"stack: all tensors need the same shape, got {shapes}")
    d = _norm_dim(dim, items[0].ndim + 1, "stack")
    return cat([t.unsqueeze(d) for t in items], d)


def where(cond: object, a: object, b: object) -> Tensor:
    """``a`` where ``cond`` is true, else ``b`` (broadcast; numbers become constants)."""
    c = _bool_array(cond)
    ta, tb = (x if isinstance(x, Tensor) else Tensor(_scalar_or_array(x)) for x in (a, b))
    shape = _broadcast_shape("where", c.shape, ta.shape, tb.shape)
    picks = np.broadcast_to(c, shape).ravel().tolist()
    out = [
        x if p else y for p, x, y in zip(picks, _expand(ta, shape), _expand(tb, shape), strict=True)
    ]
    return _copy_unless_tracked(out, shape, ta._tracked() or tb._tracked(), (ta, tb))


def _scalar_or_array(x: object) -> object:
    if _foreign(x):
        raise _mixing_error("where", x)
    return x
