"""``Tensor``: an n-d container of ``Value``s, with the engine protocol of docs/architecture.md.

A Tensor is a flat Python list of ``Value`` objects in row-major (C) order plus a ``shape``.
Every operation loops over those lists and creates one ``Value`` per scalar result, so the
graph is exactly the graph micrograd would build by hand: an ``n x n`` matrix product makes
``n * n * (2n - 1)`` nodes (``n`` products and ``n - 1`` sums per output element).

Two kinds of operations:

* **Arithmetic** creates new ``Value`` nodes with the primitives of ``value.py`` (``add``,
  ``mul``, ``power``, ``exp``, ``log``, ``log1p``, ``tanh``, ``relu``, ``sigmoid``,
  ``absolute``, ``sin``, ``cos``, ``erf``, ``clamp``), mapped over the elements: the value
  and local derivative of each are written once, there, for ``Value`` and ``Tensor`` alike.
  Subtraction, division, ``sqrt``, ``mean``, ``var``, ``softmax``, ``cumsum`` (a chain of
  prefix sums), ``scatter_add`` and the matrix product are compositions of them.
* **Selection** (reshape, transpose, indexing, broadcasting, ``cat``, ``max``, ``where``,
  ``masked_fill`` ...) creates *no* node: the result holds the same ``Value`` objects in a new
  arrangement. Gradients then flow through them for free, and an element selected twice
  (a gather with repeated indices, a broadcast) simply collects the gradient of both uses,
  which is the scatter-add that a tensor engine has to write by hand. The index bookkeeping
  is done by numpy on integer arrays.

Gradients: every ``Value`` keeps its own ``grad`` (inspect any node, micrograd style);
``Tensor.grad`` assembles them into a float64 Tensor of new leaf Values for leaves and
``retain_grad()`` tensors, as in PyTorch. A tensor that does not require grad is a constant:
operations that mix it with a tensor that does record only the edge towards the latter.

Dtypes
------
A tensor is float, int64 or bool (``t.dtype``, a numpy dtype; the rules that pick it are
torch's, in ``engine_api.rules``).

* Every float is a Python float, so float tensors are float64 whatever was asked: a
  ``dtype=float32`` request (or torch's default float32 result, ``int_tensor / 2``) is
  computed and reported as float64. A documented difference from torch.
* int64 and bool tensors hold plain Python ints / bools in ``_values``, never ``Value``s:
  they never require grad, so they need no graph. Ops whose tensor inputs are all int/bool
  compute on numpy arrays with torch's result dtype (``int + int`` is int64, ``int / int``
  and ``int.exp()`` float, ``bool - bool`` a TypeError). An op that mixes a float tensor with
  an int/bool one first turns the latter into a float constant (leaf Values), then takes the
  float path: the gradient reaches the float operand only.
* Views of int/bool tensors do not share writes: a list of Python numbers cannot alias one
  another, so an in-place write into an int/bool tensor (``ids[0] = 3``, ``mask.fill_(0)``)
  changes that tensor only, never a view of it or the tensor it is a view of. Another
  documented difference from torch; float tensors' views do share writes.

Argument rules and error messages come from ``engine_api`` (shared by every engine); the
methods composed from primitives (``view``, ``flatten``, ``pow``, ``to``, comparisons,
``argmax``, ``max`` ..., the in-place operators) from ``engine_api.TensorMethods``.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable
from functools import reduce
from operator import add as _add_floats
from operator import attrgetter
from operator import mul as _mul_floats

import numpy as np

from engine_api import TensorMethods, errors, rules
from engine_api.dtypes import BOOL, FLOAT64, INT64

from . import floats
from .value import (
    _ZERO,
    ONE,
    Value,
    absolute,
    add,
    add_constant,
    clamp,
    cos,
    count_nodes,
    erf,
    exp,
    identity,
    log,
    log1p,
    mul,
    mul_constant,
    node,
    pausing_gc,
    power,
    recording,
    relu,
    sigmoid,
    sin,
    tanh,
)
from .value import backward as _value_backward

__all__ = ["NAME", "Tensor", "tensor", "zeros", "ones", "cat", "stack", "where",
           "set_value_budget", "value_budget"]

NAME = "scalar"
_DEFAULT_BUDGET = 20_000_000
_BUDGET_VAR = "DUALGRAD_VALUE_BUDGET"
_sequence = itertools.count(1)  # creation order of recorded results and of in-place writes
_last_write = 0  # stamp of the newest in-place write (0: none yet, backward skips the check)


class _Budget:
    limit = 0  # 0: not read yet (from $DUALGRAD_VALUE_BUDGET, at the first check)


_budget = _Budget()
_FLOAT64 = _FLOAT = FLOAT64  # the one float dtype; ``t._dtype is _FLOAT`` is the fast check
_INT, _BOOL = INT64, BOOL
_data = attrgetter("data")
_grad = attrgetter("grad")


# -- helpers: data, the budget, results -------------------------------------------------------


def _foreign(x: object) -> bool:
    """A tensor of another engine, or of PyTorch itself (which has no ``engine``)."""
    return not isinstance(x, Tensor) and (rules.foreign_tensor(x)
                                          or type(x).__name__ == "Tensor")


def _is_number(x: object) -> bool:
    """engine_api's ``is_number``, with the common case (a float) answered first: every
    arithmetic op asks it once."""
    return type(x) is float or rules.is_number(x)


def _stored(dtype: np.dtype) -> np.dtype:
    """The dtype this engine holds a ``dtype`` tensor in: float64 for every float."""
    kind = dtype.kind
    return _FLOAT if kind == "f" else _BOOL if kind == "b" else _INT


def _array(data: object, op: str = "tensor") -> np.ndarray:
    """Numeric data (numbers, nested lists, ndarrays, our Tensors) as an ndarray."""
    if isinstance(data, Tensor):
        return data.numpy()
    if _foreign(data):
        raise errors.mixing_error(op, NAME, data)
    return rules.numeric_array(data)


def _float_array(data: object, op: str = "tensor") -> np.ndarray:
    """Numeric data (numbers, nested lists, ndarrays, our Tensors) as a float64 ndarray."""
    return _array(data, op).astype(_FLOAT64, copy=False)


def _check_budget(count: int, what: object) -> None:
    """Refuse, before allocating, an op that would create more Values than the budget."""
    if count > value_budget():
        raise MemoryError(
            f"scalar_engine: {what} needs {count:,} Value nodes, over the budget of "
            f"{_budget.limit:,} (each node takes about 100 bytes); raise it with "
            f"scalar_engine.set_value_budget(n) or the environment variable {_BUDGET_VAR}"
        )


def set_value_budget(limit: int) -> None:
    """The most Value nodes one op (or one new tensor) may create; default from
    ``$DUALGRAD_VALUE_BUDGET``, else 20 million (about 2 GB)."""
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1:
        raise ValueError(f"value budget must be a positive int, got {limit!r}")
    _budget.limit = int(limit)


def value_budget() -> int:
    """The most Value nodes one op may create: what ``set_value_budget`` set, else
    ``$DUALGRAD_VALUE_BUDGET``, else 20 million. Reading it checks the variable, so a program
    can refuse a bad value before it loads its data (the examples do)."""
    if not _budget.limit:
        _budget.limit = _budget_from_env()
    return _budget.limit


def _budget_from_env() -> int:
    text = os.environ.get(_BUDGET_VAR, "").strip()
    if not text:
        return _DEFAULT_BUDGET
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise ValueError(f"${_BUDGET_VAR} must be a positive integer, got {text!r}")
    return int(text)


@pausing_gc
def _leaves(floats: list[float]) -> list[Value]:
    """New leaf Values holding ``floats`` (Python floats), counted. Made as ``node`` makes an
    interior node, with no parent: ``Value(x)`` would call ``__init__`` and check ``x`` for
    each of them, and tensors, constants and ``.grad`` are made of many."""
    count_nodes(len(floats))
    return [node(x, None, None) for x in floats]


def _wrap(
    values: list[Value],
    shape: tuple[int, ...],
    tracked: bool,
    inputs: tuple = (),
    storage: list[int] | None = None,
) -> Tensor:
    """A float result tensor: it requires grad (and is not a leaf) iff a graph was recorded.

    A recorded result also remembers its input tensors. The Values already form the graph;
    this tensor-level link only serves to tell which leaves a backward pass *reached*, so that
    a leaf that took part but received no gradient edge (``where`` that never picks it, say)
    gets a grad of zeros rather than None, as in PyTorch; and it lets backward check that no
    in-place write changed an input after this result was computed from it.

    ``storage`` is the write stamp shared by every alias of the same Values (a view passes its
    base's); None for a result that owns fresh Values.
    """
    t = Tensor.__new__(Tensor)
    t._hold(values, shape, tracked, storage)
    if tracked:
        t._inputs = inputs
        t._seq = next(_sequence)
        for x in inputs:
            if x._requires_grad:
                x._consumed = True  # an in-place op on x would now change history
    else:
        t._inputs = ()
    return t


def _numbers(values: list, shape: tuple[int, ...], dtype: np.dtype) -> Tensor:
    """An int64 or bool tensor holding ``values``, plain Python ints or bools: no graph."""
    t = Tensor.__new__(Tensor)
    t._hold(values, shape, False, None, dtype)
    t._inputs = ()
    return t


def _constant(array: np.ndarray) -> Tensor:
    """A tensor outside the graph holding ``array``'s values in its dtype (one of the four,
    ``rules.array_dtype``): leaf Values for a float array, Python numbers otherwise."""
    dtype = _stored(rules.array_dtype(array.dtype))
    _check_budget(array.size, f"a tensor of shape {array.shape}")
    flat = array.astype(dtype, copy=False).ravel().tolist()
    if dtype is _FLOAT:
        return _wrap(_leaves(flat), array.shape, False)
    return _numbers(flat, array.shape, dtype)


def _as_float(t: Tensor) -> Tensor:
    """``t`` itself when it is a float tensor, else its values as a float constant (new leaf
    Values): how an int/bool operand joins a float op."""
    if t._dtype is _FLOAT:
        return t
    return _wrap(_leaves(list(map(float, t._values))), t.shape, False)


def _new_nodes(nodes: list[Value], shape: tuple[int, ...], tracked: bool,
               inputs: tuple) -> Tensor:
    """A tensor of nodes a primitive just made, counted. Recorded when ``tracked``; otherwise
    (no_grad, or constant inputs) each node is cut from its parents: a new leaf, as torch's
    result outside the graph."""
    count_nodes(len(nodes))
    if tracked:
        return _wrap(nodes, shape, True, inputs)
    for v in nodes:
        v._a = v._da = v._b = v._db = None
    return _wrap(nodes, shape, False)


def _copy_unless_tracked(
    values: list[Value], shape: tuple[int, ...], tracked: bool, inputs: tuple
) -> Tensor:
    """A copy-like selection (gather, cat, where, max ...): it shares the selected Values when a
    graph is recorded (their gradients then flow for free), and gets fresh leaf Values when
    not, so that it owns its memory as torch's result would."""
    if tracked:
        return _wrap(values, shape, True, inputs)
    return _wrap(_leaves(list(map(_data, values))), shape, False)


# -- helpers: shapes and index arithmetic -----------------------------------------------------


def _grid(shape: tuple[int, ...]) -> np.ndarray:
    """Flat positions 0..n-1 arranged in ``shape``: index arithmetic for selection ops."""
    return np.arange(math.prod(shape), dtype=np.intp).reshape(shape)


def _gather(values: list, positions: np.ndarray) -> list:
    """The elements (Values, or Python numbers of an int/bool tensor) at ``positions``."""
    return list(map(values.__getitem__, positions.ravel().tolist()))


def _broadcast_shape(op: str, *shapes: tuple[int, ...]) -> tuple[int, ...]:
    """The broadcast result shape (engine_api's rule and message), within the budget."""
    shape = rules.broadcast_shape(op, *shapes)
    _check_budget(math.prod(shape), f"{op} with result shape {shape}")
    return shape


def _broadcast_values(values: list, shape: tuple[int, ...], target: tuple[int, ...]) -> list:
    """Values of ``shape`` broadcast to ``target`` (an element repeated is the same Value)."""
    if shape == target:
        return values
    if len(values) == 1:
        return values * math.prod(target)
    return _gather(values, np.broadcast_to(_grid(shape), target))


def _expand(t: Tensor, shape: tuple[int, ...]) -> list[Value]:
    """``t``'s Values broadcast to ``shape``."""
    return _broadcast_values(t._values, t.shape, shape)


def _is_basic(key: object) -> bool:
    """Whether an index is numpy's basic kind (ints, slices, None, ...): it makes a view."""
    parts = key if isinstance(key, tuple) else (key,)
    return all(
        p is None or p is Ellipsis or isinstance(p, slice) or rules.is_int(p) for p in parts
    )


# -- the tensor -------------------------------------------------------------------------------


def _elementwise(primitive: Callable[..., Value], doc: str | None = None, name: str = ""
                 ) -> Callable[[Tensor], Tensor]:
    """A Tensor method that applies ``primitive`` (value.py) to every element. A float
    function: int/bool input is computed in float (``rules.floating``; float64 here)."""

    def method(self: Tensor) -> Tensor:
        if self._dtype is _FLOAT:
            return self._map(primitive)
        return _as_float(self)._map(primitive)

    method.__name__ = name or primitive.__name__
    method.__qualname__ = f"Tensor.{method.__name__}"
    method.__doc__ = doc or f"``{method.__name__}`` of every element: one node each."
    return method


def _integral(primitive: Callable[..., Value], numpy_fn: Callable[..., np.ndarray], doc: str,
              name: str) -> Callable[[Tensor], Tensor]:
    """A Tensor method that applies ``primitive`` to every float element, and ``numpy_fn`` to
    an int64 tensor (the result stays int64, as torch's ``relu`` and ``abs``)."""

    def method(self: Tensor) -> Tensor:
        if self._dtype is _FLOAT:
            return self._map(primitive)
        if self._dtype is _BOOL:
            raise errors.bool_refused(name)
        return self._new(numpy_fn(self.numpy()))

    method.__name__ = name
    method.__qualname__ = f"Tensor.{name}"
    method.__doc__ = doc
    return method


class Tensor(TensorMethods):
    """An n-d array of ``Value`` nodes (float64), or of Python ints / bools (int64, bool),
    with PyTorch's tensor interface."""

    engine = NAME
    __array_ufunc__ = None  # numpy defers to our reflected operators: ndarray + Tensor works
    __slots__ = (
        "_values", "shape", "_dtype", "_requires_grad", "_is_leaf", "_retains_grad", "_inputs",
        "_reached", "_seq", "_consumed", "_storage",
    )

    def __init__(self, data: object, requires_grad: bool = False, dtype: object = None):
        asked = rules.dtype_argument(dtype)
        arr = _array(data)
        stored = _stored(asked if asked is not None else rules.array_dtype(arr.dtype))
        if requires_grad and stored is not _FLOAT:
            raise RuntimeError(errors.INT_GRAD)
        _check_budget(arr.size, f"a tensor of shape {arr.shape}")
        with np.errstate(invalid="ignore"):  # NaN as int64: torch's garbage, no warning
            flat = arr.astype(stored, copy=False).ravel().tolist()
        self._hold(_leaves(flat) if stored is _FLOAT else flat, arr.shape, False, None, stored)
        self._inputs = ()
        self._requires_grad = bool(requires_grad)

    def _hold(self, values: list, shape: tuple[int, ...], tracked: bool,
              storage: list[int] | None, dtype: np.dtype = _FLOAT) -> None:
        """Every field of a new tensor but its inputs: a leaf unless ``tracked``."""
        self._values = values
        self.shape = shape
        self._dtype = dtype
        self._requires_grad = tracked
        self._is_leaf = not tracked
        self._retains_grad = False
        self._reached = False
        self._consumed = False
        self._storage = storage

    # -- data ---------------------------------------------------------------------------------

    @property
    def dtype(self) -> np.dtype:
        """float64 for every float tensor (this engine computes in Python floats), int64 or
        bool."""
        return self._dtype

    def numpy(self) -> np.ndarray:
        """The values as a new, **read-only** ndarray of the tensor's dtype.

        torch's ``numpy()`` (and the tensor engine's) shares memory, so writing into it changes
        the tensor; here the values live in ``Value`` nodes, which an array cannot share. A
        write into the copy would change nothing, silently, so the copy refuses writes
        (``.copy()`` it to get a writable array; ``assign_`` or ``x[...] = v`` to change x)."""
        values = self._fresh_array()
        values.flags.writeable = False
        return values

    def _fresh_array(self) -> np.ndarray:
        if self._dtype is _FLOAT:
            values = np.array(list(map(_data, self._values)), dtype=_FLOAT64)
        else:
            values = np.array(self._values, dtype=self._dtype)
        return values.reshape(self.shape)

    def __array__(self, dtype: object = None, copy: object = None) -> np.ndarray:
        """``np.asarray(t)`` gives the values, read-only as ``numpy()``'s; ``np.array(t)``
        (a copy) a writable array."""
        data = self._fresh_array() if copy else self.numpy()
        return data if dtype is None else data.astype(dtype, copy=False)

    def __repr__(self) -> str:
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(")
        kind = "" if self._dtype is _FLOAT else f", dtype={self._dtype}"
        grad = ", requires_grad=True" if self._requires_grad else ""
        return f"tensor({body}{kind}{grad})"

    @property
    def values(self) -> list:
        """The ``Value`` nodes, flat in row-major order (for inspecting the graph); the Python
        ints / bools of an int64 / bool tensor."""
        return self._values

    def _new(self, values: np.ndarray) -> Tensor:
        """A constant tensor holding ``values`` in their dtype (engine_api's primitive)."""
        return _constant(np.asarray(values))

    def _to(self, dtype: np.dtype | None, device: object) -> Tensor:
        """``self`` when the dtype does not change (float32 and float64 are the same here:
        every float is computed in float64); else a constant copy: float to int64 truncates
        toward zero, anything to bool is ``!= 0``."""
        rules.check_cpu(device)
        if dtype is None:
            return self
        target = _stored(dtype)
        if target is self._dtype:
            return self
        if target is _FLOAT:
            return _as_float(self)
        with np.errstate(invalid="ignore"):  # NaN and inf to int64 are torch's garbage too
            return _constant(self.numpy().astype(target))

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
        if flag and self._dtype is not _FLOAT:
            raise RuntimeError(errors.INT_GRAD)
        self._requires_grad = bool(flag)

    @property
    def is_leaf(self) -> bool:
        return self._is_leaf

    def _tracked(self) -> bool:
        return self._requires_grad and recording.enabled

    @property
    def grad(self) -> Tensor | None:
        """d(output)/d(self) as a float64 Tensor (new leaf Values); None before any backward
        reached it.

        Only leaves that require grad and tensors that called ``retain_grad()`` expose it (the
        ``Value``s of any other tensor still hold theirs: see ``values``).
        """
        if not (self._requires_grad and (self._is_leaf or self._retains_grad)):
            return None
        grads = list(map(_grad, self._values))
        if not self._reached and all(g is _ZERO for g in grads):
            return None
        return _wrap(_leaves(grads), self.shape, False)

    @grad.setter
    def grad(self, new: object) -> None:
        """None forgets the gradient; a Tensor or array-like of this tensor's shape sets it."""
        if new is None:  # zero_grad: forget the gradient
            self._reached = False
            if self._dtype is _FLOAT:
                for v in self._values:
                    v.grad = _ZERO
            return
        if self._dtype is not _FLOAT:
            raise RuntimeError(errors.INT_GRAD)
        arr = _float_array(new, "grad")
        if arr.shape != self.shape:
            raise ValueError(f"grad of shape {arr.shape} does not match tensor shape "
                             f"{self.shape}")
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

        ``grad`` is d(loss)/d(self) (same shape, a Tensor or array-like); it may be omitted
        for one-element tensors.
        """
        if not self._requires_grad:
            raise RuntimeError(errors.NO_GRAD_FN)
        if grad is None:
            if len(self._values) != 1:
                raise errors.implicit_grad_error(self.shape)
            seeds = [1.0]
        else:
            arr = _float_array(grad, "backward")
            if arr.shape != self.shape:
                raise errors.shape_mismatch("backward", "grad", arr.shape, self.shape)
            seeds = arr.ravel().tolist()
        if _last_write:
            _check_not_overwritten(self)
        _value_backward(self._values, seeds, retain_graph)
        _mark_reached(self, retain_graph)

    def detach(self) -> Tensor:
        """A new leaf with the same values that shares no graph (fresh ``Value``s)."""
        if self._dtype is not _FLOAT:
            return _numbers(self._values, self.shape, self._dtype)  # never written in place
        return _wrap(_leaves(list(map(_data, self._values))), self.shape, False)

    def assign_(self, data: object, copy: bool = True) -> Tensor:
        """Overwrite the values in place, outside the graph (what optimizers use).
        ``copy`` is accepted for the engine protocol: the values are always copied into the
        tensor's ``Value`` nodes (an int/bool tensor gets a new list of numbers)."""
        arr = _array(data, "assign_")
        if arr.shape != self.shape:
            raise errors.shape_mismatch("assign_", "value", arr.shape, self.shape)
        flat = arr.astype(self._dtype, copy=False).ravel().tolist()
        if self._dtype is not _FLOAT:
            self._values = flat
            return self
        for v, x in zip(self._values, flat, strict=True):
            v.data = x
        return self

    @property
    def data(self) -> Tensor:
        """The same Values as a tensor outside the graph (torch's ``.data``): an in-place write
        to it (``p.data -= lr * p.grad``) changes ``self``, and no graph records it."""
        if self._dtype is not _FLOAT:
            return self.detach()
        if not self._is_leaf:  # our Values are graph nodes: a leaf alias must not share them
            return self.detach()
        return _wrap(self._values, self.shape, False, (), self._storage_token())

    @data.setter
    def data(self, new: object) -> None:
        self.assign_(new.numpy() if isinstance(new, Tensor) else new)

    # -- in-place ops: engine_api's add_, mul_, fill_ ... all come through here ---------------

    def _inplace(self, op: str, compute: Callable[[Tensor], Tensor]) -> Tensor:
        """Make ``self`` hold ``compute(self)``: the one implementation of every in-place op.

        Torch's rules. In grad mode a leaf that requires grad refuses; when the result needs a
        graph (self or the other operand requires grad), self *becomes* the result, as if the
        user had written ``x = x + y``. Otherwise the new numbers are written into self's
        ``Value``s, so views and ``.data`` aliases see them; a graph that read those Values
        refuses to backward afterwards (see ``_check_not_overwritten``). An int/bool tensor
        gets a new list of numbers instead (its views do not see the write).
        """
        if self._dtype is not _FLOAT:
            return self._inplace_numbers(op, compute)
        grad_mode = recording.enabled
        recorded = self._requires_grad and not self._is_leaf
        if recorded and (self._consumed or not grad_mode):
            raise errors.used_by_graph_error(op, self.shape)
        if self._requires_grad and self._is_leaf and grad_mode:
            raise RuntimeError(errors.LEAF_INPLACE)
        if recorded and _shares_values(self, self._inputs):
            raise errors.view_inplace_error(op, self.shape)
        before = self
        if recorded:  # compute from a stand-in for self's node, then take the result's place
            before = _wrap(self._values, self.shape, True, self._inputs)
            before._seq = self._seq
        elif grad_mode:  # a constant stand-in: a rebound self must not be its own input
            before = _wrap(self._values, self.shape, False)
        result = _as_float(compute(before))
        if result.shape != self.shape:
            raise errors.shape_mismatch(op, "the result", result.shape, self.shape)
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

    def _inplace_numbers(self, op: str, compute: Callable[[Tensor], Tensor]) -> Tensor:
        """An in-place op on an int64 / bool tensor: its list of numbers is replaced by the
        result's, cast to its dtype (engine_api refuses arithmetic whose result is wider, as
        torch refuses ``int_tensor += 0.5``; fill, copy and index writes cast)."""
        result = compute(self)
        if result.shape != self.shape:
            raise errors.shape_mismatch(op, "the result", result.shape, self.shape)
        self._values = result.numpy().astype(self._dtype).ravel().tolist()
        return self

    # -- operand handling ---------------------------------------------------------------------

    def _operand(self, other: object, op: str) -> Tensor | None:
        """``other`` as a Tensor of this engine; None if Python should try the reflected op."""
        if isinstance(other, Tensor):
            return other
        if isinstance(other, (np.ndarray, list)):
            return Tensor(other)
        if _foreign(other):
            raise errors.mixing_error(op, NAME, other)
        return None

    # -- primitives: + and * (numpy broadcasting) ---------------------------------------------

    def __add__(self, other: object, op: str = "add") -> Tensor:
        """``self + other``, broadcast. ``op`` is the name a shape error gives: ``sub`` is
        composed from ``add``, and its errors should still say ``sub``."""
        return self._arithmetic(other, add, add_constant, op)

    def __mul__(self, other: object, op: str = "mul") -> Tensor:
        """``self * other``, broadcast (``op`` as for ``__add__``: ``div`` is composed)."""
        return self._arithmetic(other, mul, mul_constant, op)

    def _arithmetic(self, other: object, both: Callable[..., Value],
                    constant: Callable[..., Value], op: str) -> Tensor:
        """``both`` (a primitive of two Values) elementwise with broadcasting, or ``constant``
        (the same primitive with a number) when ``other`` is a number. Int/bool operands go
        to ``_mixed``."""
        if _is_number(other):
            if self._dtype is _FLOAT:
                return self._map(constant, float(other))
            return _numeric(op, self, other)
        t = self._operand(other, op)
        if t is None:
            return NotImplemented
        if self._dtype is _FLOAT and t._dtype is _FLOAT:
            return _pairwise(self, t, both, constant, op)
        return _mixed(op, self, t)

    # -- primitives: one input, mapped over the elements --------------------------------------

    @pausing_gc
    def _map(self, primitive: Callable[..., Value], *constants: float) -> Tensor:
        """``primitive`` (a function of value.py) applied to every element: one new node each.
        ``constants`` (an exponent, clamp's bounds) are passed to every call."""
        nodes = list(map(primitive, self._values, *map(itertools.repeat, constants)))
        return _new_nodes(nodes, self.shape, self._tracked(), (self,))

    def __pow__(self, exponent: float) -> Tensor:
        """``self ** exponent`` for a Python number (a tensor exponent is a TypeError). An
        int64 tensor to a non-negative int stays int64; to a float it becomes float."""
        if self._dtype is _FLOAT:
            return self._map(power, rules.exponent(exponent))
        c = rules.exponent(exponent)
        dtype = rules.result_dtype(self, exponent)
        if dtype.kind == "f":
            return _as_float(self)._map(power, c)
        if c < 0:
            raise ValueError(errors.NEGATIVE_INT_POWER)
        return self._new(np.power(self.numpy().astype(_INT), int(c)).astype(dtype))

    exp = _elementwise(exp)
    log = _elementwise(log, "The natural log; a value <= 0 is a ValueError (NaN passes through).")
    log1p = _elementwise(log1p, "``log(1 + x)``, precise for tiny x; a value <= -1 is a "
                         "ValueError. Its gradient is 1 / (1 + x).")
    tanh = _elementwise(tanh)
    relu = _integral(relu, lambda x: np.maximum(x, 0),
                     "max(x, 0); NaN stays NaN and passes its gradient, as torch's.", "relu")
    sigmoid = _elementwise(sigmoid)
    abs = _integral(absolute, np.abs, "|x|; its gradient is sign(x), 0 at 0 (torch's) and NaN.",
                    "abs")
    sin = _elementwise(sin)
    cos = _elementwise(cos)
    erf = _elementwise(erf, "The error function; d/dx erf(x) = 2/sqrt(pi) * exp(-x^2).")

    def clamp(self, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
        """Each value limited to ``[min, max]``; either bound may be None, not both.

        A relu-like primitive: the local derivative is 1 where ``min <= x <= max`` (bounds
        included) and 0 elsewhere. NaN stays NaN (gradient 0), and with ``min > max`` every
        value becomes ``max``, as in torch. An int64 tensor with int bounds stays int64; a
        float bound makes the result float.
        """
        lo, hi = rules.clamp_bounds(min, max)
        if self._dtype is not _FLOAT:
            bounds = [b for b in (min, max) if b is not None]
            dtype = rules.result_dtype(self, *bounds)
            if dtype.kind == "f":
                return _as_float(self).clamp(min, max)
            x = self.numpy().astype(dtype)
            if min is not None:
                x = np.maximum(x, min)
            if max is not None:
                x = np.minimum(x, max)
            return self._new(x.astype(dtype))
        return self._map(clamp, -math.inf if lo is None else lo, math.inf if hi is None else hi)

    def clone(self) -> Tensor:
        """A copy with Values of its own: new nodes with local derivative 1 (identity
        gradient) when tracked, new leaves otherwise; never ``self``'s storage."""
        if self._dtype is not _FLOAT:
            return _numbers(list(self._values), self.shape, self._dtype)
        return self._map(identity)

    # -- composed arithmetic ------------------------------------------------------------------

    def __neg__(self) -> Tensor:
        if self._dtype is _FLOAT:
            return self * -1.0
        if self._dtype is _BOOL:
            raise TypeError(errors.BOOL_NEG)
        return self._new(-self.numpy())

    def __radd__(self, other: object) -> Tensor:
        return self.__add__(other)

    def __rmul__(self, other: object) -> Tensor:
        return self.__mul__(other)

    def __sub__(self, other: object) -> Tensor:
        if _is_number(other):
            if self._dtype is _FLOAT:
                return self + (-float(other))
            return _numeric("sub", self, other)
        t = self._operand(other, "sub")
        if t is None:
            return NotImplemented
        if self._dtype is _FLOAT and t._dtype is _FLOAT:
            return self.__add__(-t, "sub")
        return _mixed("sub", self, t)

    def __rsub__(self, other: object) -> Tensor:
        if _is_number(other):
            if self._dtype is _FLOAT:
                return (-self) + other
            return _numeric("sub", other, self)
        t = self._operand(other, "sub")
        return NotImplemented if t is None else t.__sub__(self)

    def __truediv__(self, other: object) -> Tensor:
        if _is_number(other):
            if self._dtype is _FLOAT:
                return self * floats.power(float(other), -1.0)  # 1 / 0 is inf, as in torch
            return _numeric("div", self, other)
        t = self._operand(other, "div")
        if t is None:
            return NotImplemented
        if self._dtype is _FLOAT and t._dtype is _FLOAT:
            return self.__mul__(t**-1, "div")
        return _mixed("div", self, t)

    def __rtruediv__(self, other: object) -> Tensor:
        if _is_number(other):
            if self._dtype is _FLOAT:
                return self**-1 * other
            return _numeric("div", other, self)
        t = self._operand(other, "div")
        return NotImplemented if t is None else t.__truediv__(self)

    def __rpow__(self, other: object) -> Tensor:
        raise TypeError(
            f"{type(other).__name__} ** Tensor: a tensor exponent is not supported "
            "(the exponent must be a Python number)"
        )

    def sqrt(self) -> Tensor:
        """``self ** 0.5``; a negative value is a ValueError (NaN passes through)."""
        x = _as_float(self)
        for v in x._values:
            if v.data < 0.0:
                raise errors.domain_error("sqrt", v.data, ">= 0")
        return x**0.5

    # -- matrix product -----------------------------------------------------------------------

    def __matmul__(self, other: object) -> Tensor:
        t = self._operand(other, "matmul")
        if t is None:
            if _is_number(other):
                raise rules.matmul_error(self.shape, (), "both operands need at least one "
                                         "dimension")
            return NotImplemented
        return _product(self, t)

    def __rmatmul__(self, other: object) -> Tensor:
        t = self._operand(other, "matmul")
        return NotImplemented if t is None else _product(t, self)

    # -- reductions ---------------------------------------------------------------------------

    def _reduced_dims(self, dim: object, op: str) -> tuple[int, ...]:
        """The dims a reduction over ``dim`` removes (None or ``()``: all of them)."""
        dims = rules.normalize_dims(dim, self.ndim, op)
        return tuple(range(self.ndim)) if dims is None else dims

    def _float_only(self, op: str) -> None:
        """``op`` (mean, var, softmax ...) takes float tensors only, as torch's."""
        if self._dtype is not _FLOAT:
            raise errors.float_only_error(op, self._dtype)

    def _groups(self, dims: tuple[int, ...], keepdim: bool) -> tuple[list[list[Value]], tuple]:
        """The Values of each output element of a reduction over ``dims``, and the out shape."""
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
        """Sum over ``dim`` (all dims if None): a chain of ``k - 1`` additions per output. The
        sum of an int64 or bool tensor is int64, as torch's."""
        if self._dtype is not _FLOAT:
            dims = self._reduced_dims(dim, "sum")
            return self._new(np.sum(self.numpy(), axis=dims, keepdims=keepdim, dtype=_INT))
        groups, shape = self._groups(self._reduced_dims(dim, "sum"), keepdim)
        if not self._tracked():
            sums = [reduce(_add_floats, map(_data, g), 0.0) for g in groups]
            return _wrap(_leaves(sums), shape, False)
        out = [reduce(add, g) if g else Value(0.0) for g in groups]
        count_nodes(sum(len(g) - 1 for g in groups if g))
        return _wrap(out, shape, True, (self,))

    @pausing_gc
    def cumsum(self, dim: int) -> Tensor:
        """Running sums along ``dim``: a chain of prefix sums (``add`` nodes), so the gradient
        of each element is the sum of the upstream gradients from its position on. An int64
        or bool tensor gives int64 (no graph)."""
        d = self._dim(dim, "cumsum")
        if self._dtype is not _FLOAT:
            x = self.numpy()
            return self._new(np.cumsum(x.reshape(x.shape or (1,)), axis=d,
                                       dtype=_INT).reshape(x.shape))
        if not self.ndim or not self._values:
            return self.clone()
        values = self._values
        out: list = [None] * len(values)
        lines = np.moveaxis(_grid(self.shape), d, -1).reshape(-1, self.shape[d]).tolist()
        for line in lines:
            acc = out[line[0]] = identity(values[line[0]])
            for p in line[1:]:
                acc = out[p] = add(acc, values[p])
        return _new_nodes(out, self.shape, self._tracked(), (self,))

    def mean(self, dim: int | tuple | None = None, keepdim: bool = False) -> Tensor:
        self._float_only("mean")
        dims = self._reduced_dims(dim, "mean")
        n = math.prod(self.shape[d] for d in dims)
        if n == 0:
            raise ValueError(f"mean over an empty dimension (shape {self.shape}, dim {dim})")
        return self.sum(dims, keepdim) * (1.0 / n)

    def var(self, dim: int | tuple | None = None, unbiased: bool | None = None,
            keepdim: bool = False, *, correction: float | None = None) -> Tensor:
        """Variance over ``dim`` (an int, a tuple, or None for all), as torch.

        The sum of squared deviations from the mean, divided by ``n - correction``.
        ``correction`` defaults to 1 (Bessel's correction); ``unbiased=False`` means 0, and
        ``x.var(False)`` is torch's ``var(unbiased)`` form. When ``n - correction <= 0`` the
        result is inf or NaN, as in torch.
        """
        self._float_only("var")
        dim, c = rules.var_arguments(dim, unbiased, correction)
        dims = self._reduced_dims(dim, "var")
        n = math.prod(self.shape[d] for d in dims)
        # Over no elements torch's var is NaN; the sum of nothing (0) divided by 0 gives it.
        mean = self.mean(dims, keepdim=True) if n else self.sum(dims, keepdim=True)
        centred = self - mean
        return (centred * centred).sum(dims, keepdim) / max(0.0, n - c)

    def std(self, dim: int | tuple | None = None, unbiased: bool | None = None,
            keepdim: bool = False, *, correction: float | None = None) -> Tensor:
        """Standard deviation: ``sqrt`` of ``var`` with the same arguments.

        Where it is 0 (a constant slice) its gradient is 0, as in torch, rather than the
        ``inf * 0`` of the chain rule through ``sqrt``: those entries bypass the ``sqrt``.
        """
        self._float_only("std")
        var = self.var(dim, unbiased, keepdim, correction=correction)
        zero = var.numpy() == 0.0
        return var.masked_fill(zero, 1.0).sqrt().masked_fill(zero, 0.0)

    def _extreme(self, dim: int | None, keepdim: bool, op: str) -> Tensor:
        """The values of ``max``/``min`` (``op``): the first extreme Value of each group (the
        first NaN if any), so the gradient goes to it. NaN counts as the extreme, as torch
        propagates it. Int64 / bool tensors keep their dtype (no graph)."""
        dims = self._reduced_dims(None if dim is None else self._dim(dim, op), op)
        if self._dtype is not _FLOAT:
            x = self.numpy()
            if not x.size:
                raise ValueError(f"{op} over an empty dimension (shape {self.shape}, dim {dim})")
            pick = np.max if op == "max" else np.min
            return self._new(pick(x, axis=dims, keepdims=keepdim))
        groups, shape = self._groups(dims, keepdim)
        if any(not g for g in groups) or not self._values:
            raise ValueError(f"{op} over an empty dimension (shape {self.shape}, dim {dim})")
        largest = op == "max"
        extremes = [_first_extreme(g, largest) for g in groups]
        return _copy_unless_tracked(extremes, shape, self._tracked(), (self,))

    def _dim(self, dim: object, op: str) -> int:
        """One dim of this tensor in ``range(ndim)`` (a 0-d tensor takes 0 and -1, as torch)."""
        return rules.normalize_dim(dim, max(self.ndim, 1), op)

    def softmax(self, dim: int) -> Tensor:
        """``exp(x) / sum(exp(x))`` along ``dim``, from ``x - max(x)`` so that exp never
        overflows (the max is taken as a constant: it cancels in the value and the gradient)."""
        self._float_only("softmax")
        dim = self._dim(dim, "softmax")
        e = self._minus_max(dim).exp()
        return e / e.sum(dim, keepdim=True)

    def log_softmax(self, dim: int) -> Tensor:
        """``x - log(sum(exp(x)))`` along ``dim``, computed from ``x - max(x)`` (stable)."""
        self._float_only("log_softmax")
        dim = self._dim(dim, "log_softmax")
        shifted = self._minus_max(dim)
        return shifted - shifted.exp().sum(dim, keepdim=True).log()

    def _minus_max(self, dim: int) -> Tensor:
        return self - self._extreme(dim, True, "max").detach()

    # -- shapes: selections that create no node -----------------------------------------------

    def _select(self, positions: np.ndarray, view: bool = True) -> Tensor:
        """A tensor of our Values picked at ``positions`` (an int array of any shape).

        A *view* (reshape, transpose, slicing ...) shares the Values and the write stamp, as
        torch's views share memory: an in-place write through it shows in ``self``. A *copy*
        (gather, cat, where ...) is new memory in torch: when no graph is recorded it gets
        fresh Values, so a later in-place write to either side stays on that side.
        """
        return self._arranged(_gather(self._values, positions), positions.shape, view)

    def _arranged(self, values: list, shape: tuple[int, ...], view: bool) -> Tensor:
        """A selection of our Values as a view or a copy (see ``_select``); of an int/bool
        tensor, a tensor of the selected numbers (it shares no writes)."""
        if self._dtype is not _FLOAT:
            return _numbers(values, shape, self._dtype)
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
        """The same Values in a new shape (one ``-1`` stands for the size that fits)."""
        return self._arranged(self._values, rules.reshaped(self.shape, shape), view=True)

    def permute(self, *dims: int | tuple) -> Tensor:
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        order = rules.permutation(dims, self.shape)
        if order == tuple(range(self.ndim)):
            return self._arranged(self._values, self.shape, view=True)
        return self._select(_grid(self.shape).transpose(order))

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        d0, d1 = self._dim(dim0, "transpose"), self._dim(dim1, "transpose")
        if self.ndim == 0:
            return self.permute()
        order = list(range(self.ndim))
        order[d0], order[d1] = order[d1], order[d0]
        return self.permute(order)

    @property
    def T(self) -> Tensor:
        return self.permute(tuple(reversed(range(self.ndim))))

    def unsqueeze(self, dim: int) -> Tensor:
        d = rules.normalize_dim(dim, self.ndim + 1, "unsqueeze")
        shape = self.shape[:d] + (1,) + self.shape[d:]
        return self._arranged(self._values, shape, view=True)

    def squeeze(self, dim: int | tuple | None = None) -> Tensor:
        if dim is None:
            shape = tuple(s for s in self.shape if s != 1)
        else:
            dims = rules.normalize_dims(dim, self.ndim, "squeeze") or ()  # dim=(): none
            shape = tuple(s for d, s in enumerate(self.shape) if not (d in dims and s == 1))
        return self._arranged(self._values, shape, view=True)

    def expand(self, *sizes: int | tuple) -> Tensor:
        """A broadcast of ``self`` to ``sizes``, torch's rules: size-1 dims stretch, new
        leading dims may be added, -1 keeps a size. A repeated element is the same Value, so
        its gradient sums back by itself."""
        target = rules.expanded_shape(self.shape, sizes)
        values = _broadcast_values(self._values, self.shape, target)
        return self._arranged(values, target, view=True)

    def split(self, split_size_or_sections: int | list, dim: int = 0) -> tuple[Tensor, ...]:
        sizes, d = rules.split_sizes(split_size_or_sections, self.shape, dim)
        grid = _grid(self.shape)
        pieces, start = [], 0
        for s in sizes:
            key = (slice(None),) * d + (slice(start, start + s),)
            pieces.append(self._select(grid[key]))
            start += s
        return tuple(pieces)

    def __getitem__(self, key: object) -> Tensor:
        """numpy indexing: ints, slices, None, ``...``, integer arrays and int64 tensors
        (gather), bool arrays and bool tensors (masks).

        A gather's backward is a scatter-add for free: a position picked twice is the same
        ``Value`` twice, and that ``Value`` receives the gradient of both uses.
        """
        key = _index_key(key)
        return self._select(_positions(self.shape, key), view=_is_basic(key))

    def __setitem__(self, key: object, value: object) -> None:
        """``x[key] = value``, torch's in-place write, with the rules of every in-place op: a
        leaf that requires grad refuses in grad mode; a recorded tensor takes the result's
        place, its elements at ``key`` becoming ``value``'s own ``Value``s (so the gradient
        reaches ``value`` for free). ``value`` (a number or a tensor) broadcasts to the
        indexed region's shape, and is cast to this tensor's dtype."""
        self._inplace("__setitem__", lambda t: t._index_put(key, value))

    def _index_put(self, key: object, value: object) -> Tensor:
        """A copy of self (as Values) with ``value``'s Values at ``key``."""
        positions = _positions(self.shape, _index_key(key))
        values, shape = self._elements_of(value, "__setitem__")
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
        if self._dtype is not _FLOAT:
            return _numbers(out, self.shape, self._dtype)
        tracked = self._tracked() or (isinstance(value, Tensor) and value._tracked())
        inputs = (self, value) if isinstance(value, Tensor) else (self,)
        return _copy_unless_tracked(out, self.shape, tracked, inputs)

    def _elements_of(self, value: object, op: str) -> tuple[list, tuple[int, ...]]:
        """``value`` (a number, a tensor, an array) as elements of this tensor's dtype: its
        Values (a constant's new leaves) or Python numbers, and its shape."""
        if _foreign(value):
            raise errors.mixing_error(op, NAME, value)
        if self._dtype is _FLOAT:
            if isinstance(value, Tensor):
                return _as_float(value)._values, value.shape
            if _is_number(value):
                return [Value(float(value))], ()
            arr = _float_array(value, op)
            return _leaves(arr.ravel().tolist()), arr.shape
        arr = _array(value, op)
        return arr.astype(self._dtype).ravel().tolist(), arr.shape

    # -- masks --------------------------------------------------------------------------------

    def masked_fill(self, mask: object, value: float) -> Tensor:
        """``value`` where ``mask`` (bool) is true (no gradient there), our Values elsewhere;
        on an int/bool tensor the value is cast to its dtype."""
        m = _bool_array(mask, "masked_fill")
        rules.mask_shape(m.shape, self.shape, "masked_fill")
        m = np.broadcast_to(m, self.shape)
        if isinstance(value, Tensor):
            value = value.item()
        elif _foreign(value):
            raise errors.mixing_error("masked_fill", NAME, value)
        if self._dtype is not _FLOAT:
            fill = np.asarray(value).astype(self._dtype).item()
        else:
            fill = Value(float(value))
        out = [fill if hit else v for hit, v in zip(m.ravel().tolist(), self._values, strict=True)]
        if self._dtype is not _FLOAT:
            return _numbers(out, self.shape, self._dtype)
        return _copy_unless_tracked(out, self.shape, self._tracked(), (self,))

    @pausing_gc
    def _scatter_add(self, positions: tuple[np.ndarray, ...], src: object) -> Tensor:
        """A copy of self with ``src`` added at ``positions`` (a numpy advanced index into
        self, broadcasting to src's shape), repeated positions adding up.

        One ``add`` node per element of ``src``: a position hit twice becomes a chain of two
        sums. Untouched positions keep self's Values. The gradient reaches self whole (through
        the sums' local derivative 1) and src gathered at the positions.
        """
        if not isinstance(src, Tensor):
            if _foreign(src):
                raise errors.mixing_error("scatter_add", NAME, src)
            src = Tensor(src)
        targets = np.broadcast_to(_grid(self.shape)[positions], src.shape).ravel().tolist()
        dtype = rules.result_dtype(self, src)
        if dtype.kind != "f":
            out = self.numpy().astype(dtype).ravel()
            np.add.at(out, targets, src.numpy().astype(dtype).ravel())
            return self._new(out.reshape(self.shape))
        x, s = _as_float(self), _as_float(src)
        gx, gs = x._tracked(), s._tracked()
        if not (gx or gs):
            sums = list(map(_data, x._values))
            for p, v in zip(targets, map(_data, s._values), strict=True):
                sums[p] += v
            return _wrap(_leaves(sums), x.shape, False)
        out = list(x._values)
        summed: set[int] = set()  # positions that hold a recorded sum by now
        for p, v in zip(targets, s._values, strict=True):
            if gx or p in summed:
                out[p] = add(out[p], v) if gs else add_constant(out[p], v.data)
            else:  # a constant of self meets a recorded src element
                out[p] = add_constant(v, out[p].data)
                summed.add(p)
        count_nodes(len(targets))
        return _wrap(out, x.shape, True, (x, s))


# -- elementwise binary ops -------------------------------------------------------------------


@pausing_gc
def _pairwise(x: Tensor, y: Tensor, both: Callable[[Value, Value], Value],
              one_sided: Callable[[Value, float], Value], op: str) -> Tensor:
    """``x op y`` element by element after broadcasting, for a commutative primitive.

    ``both(a, b)`` makes a node with an edge to each operand. Where only one operand records
    a graph, the other is a constant: ``one_sided(a, b.data)`` makes a node with an edge to
    the recorded one only (commutative, so the constant may come from either side).
    """
    shape = _broadcast_shape(op, x.shape, y.shape)
    xs, ys = _expand(x, shape), _expand(y, shape)
    gx, gy = x._tracked(), y._tracked()
    if gx and gy:
        nodes = list(map(both, xs, ys))
    elif gy:
        nodes = list(map(one_sided, ys, map(_data, xs)))
    else:
        nodes = list(map(one_sided, xs, map(_data, ys)))
    return _new_nodes(nodes, shape, gx or gy, (x, y))


_NUMPY_OPS = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide}


def _mixed(op: str, x: Tensor, y: Tensor) -> Tensor:
    """``x op y`` (``op`` one of add, sub, mul, div) when one of them is int64 or bool: on
    numbers if neither is float, else on Values, with the int/bool side as a float constant
    (so the gradient reaches the float side only)."""
    if x._dtype is not _FLOAT and y._dtype is not _FLOAT:
        return _numeric(op, x, y)
    return _FLOAT_OPS[op](_as_float(x), _as_float(y))


def _numeric(op: str, a: object, b: object) -> Tensor:
    """``a op b`` for int64/bool tensors and numbers (no float tensor among them), computed
    by numpy in torch's result dtype: ``int + int`` is int64, ``bool + bool`` bool (or),
    ``int / int`` and ``int * 0.5`` float, ``bool - bool`` a TypeError. No graph."""
    dtype = rules.result_dtype(a, b)
    if op == "div":
        dtype = rules.division_dtype(dtype)
    elif op == "sub" and dtype == _BOOL:
        raise TypeError(errors.BOOL_SUB)
    work = _stored(dtype)
    x, y = (np.asarray(v.numpy() if isinstance(v, Tensor) else v).astype(work) for v in (a, b))
    _broadcast_shape(op, x.shape, y.shape)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return _constant(np.asarray(_NUMPY_OPS[op](x, y)).astype(work, copy=False))


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


# -- matrix product ---------------------------------------------------------------------------


def _dot(row: list, col: list, ga: bool, gb: bool) -> Value:
    """``sum(row[i] * col[i])`` as the naive chain: a product, then the sum that takes it in,
    and so on (k products, k - 1 sums).

    ``ga``/``gb`` say which side records a graph: that side holds Values, the other (a
    constant) holds its floats, and the products keep the edge towards the recorded side
    only. The nodes are those of ``mul``/``mul_constant`` and ``add`` (value.py), written out
    here because this is the engine's hottest loop: a call per primitive would slow it.
    """
    pairs = zip(row, col, strict=True)
    x, y = next(pairs)
    if ga and gb:
        acc = node(x.data * y.data, x, y.data, y, x.data)
        for x, y in pairs:
            p = node(x.data * y.data, x, y.data, y, x.data)
            acc = node(acc.data + p.data, acc, ONE, p, ONE)
    elif ga:  # y is a float
        acc = node(x.data * y, x, y)
        for x, y in pairs:
            p = node(x.data * y, x, y)
            acc = node(acc.data + p.data, acc, ONE, p, ONE)
    else:  # x is a float
        acc = node(x * y.data, y, x)
        for x, y in pairs:
            p = node(x * y.data, y, x)
            acc = node(acc.data + p.data, acc, ONE, p, ONE)
    return acc


@pausing_gc
def _matmul(a: Tensor, b: Tensor) -> Tensor:
    """PyTorch's matmul rules (1-D, 2-D, batched with broadcast batch dims), done naively.

    Each output element is ``_dot`` of a row and a column: ``2k - 1`` new nodes when recorded.
    A side that records no graph is read as floats once per matrix, not once per dot.
    """
    shape = rules.matmul_shape(a.shape, b.shape)
    a_shape = (1,) + a.shape if a.ndim == 1 else a.shape
    b_shape = b.shape + (1,) if b.ndim == 1 else b.shape
    (m, k), n = a_shape[-2:], b_shape[-1]
    batch = tuple(np.broadcast_shapes(a_shape[:-2], b_shape[:-2]))
    nodes = math.prod(batch) * m * n * max(2 * k - 1, 1)
    _check_budget(nodes, f"matmul of shapes {a.shape} and {b.shape}")
    av = _broadcast_values(a._values, a_shape, batch + (m, k))
    bv = _broadcast_values(b._values, b_shape, batch + (k, n))
    ga, gb = a._tracked(), b._tracked()
    out: list = []
    for i in range(math.prod(batch)):
        A, B = av[i * m * k : (i + 1) * m * k], bv[i * k * n : (i + 1) * k * n]
        rows = [A[r * k : (r + 1) * k] for r in range(m)]
        cols = [B[c::n] for c in range(n)]
        if not ga:
            rows = [list(map(_data, row)) for row in rows]
        if not gb:
            cols = [list(map(_data, col)) for col in cols]
        if k == 0:  # empty sums are 0, as in PyTorch
            out += [0.0] * (m * n)
        elif ga or gb:
            out += [_dot(row, col, ga, gb) for row in rows for col in cols]
        else:  # the same sums on floats, in the same order
            out += [reduce(_add_floats, map(_mul_floats, row, col)) for row in rows for col in cols]
    if ga or gb:
        if k == 0:
            out = _leaves(out)
        else:
            count_nodes(len(out) * (2 * k - 1))
        return _wrap(out, shape, True, (a, b))
    return _wrap(_leaves(out), shape, False)


def _product(a: Tensor, b: Tensor) -> Tensor:
    """``a @ b``: on Values when either is float (an int/bool side as a float constant), by
    numpy for two int64/bool tensors (int64, no graph)."""
    if a._dtype is _FLOAT and b._dtype is _FLOAT:
        return _matmul(a, b)
    if a._dtype is _FLOAT or b._dtype is _FLOAT:
        return _matmul(_as_float(a), _as_float(b))
    rules.matmul_shape(a.shape, b.shape)  # the engines' message for shapes that do not fit
    dtype = rules.result_dtype(a, b)
    return _constant(np.asarray(np.matmul(a.numpy().astype(dtype), b.numpy().astype(dtype))))


# -- in-place writes and the backward pass -----------------------------------------------------


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
                raise errors.overwritten_error(x.shape)
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
    """Tensors used as indices become arrays: an int64 tensor gathers, a bool tensor is a mask
    (numpy's meaning of each); a float tensor is an IndexError. Everything else goes to numpy
    as is."""
    rules.positive_steps(key)
    if isinstance(key, tuple):
        return tuple(_index_key(k) for k in key)
    if isinstance(key, Tensor):
        if key._dtype is _FLOAT:
            raise IndexError(errors.INDEX_DTYPE)
        return key.numpy()
    if _foreign(key):
        raise errors.mixing_error("indexing", NAME, key)
    return key


def _positions(shape: tuple[int, ...], key: object) -> np.ndarray:
    """The flat positions ``key`` selects in a tensor of ``shape``, in the result's shape."""
    try:
        return _torch_order_index(_grid(shape), key)
    except IndexError as err:
        raise errors.index_error(err) from None


def _torch_order_index(grid: np.ndarray, key: object) -> np.ndarray:
    """``grid[key]`` with ints applied before index arrays, as torch does.

    numpy counts an int next to an index array as an index array too, so ``x[i, :, ids]``
    has shape ``(len(ids), n)`` there; torch selects with ``i`` first and gives
    ``(n, len(ids))``.
    """
    parts = key if isinstance(key, tuple) else (key,)
    arrays = [isinstance(p, (np.ndarray, list)) for p in parts]
    ints = [rules.is_int(p) for p in parts]
    if not (any(arrays) and any(ints)):
        return grid[key]
    basic = tuple(slice(None) if a else p for p, a in zip(parts, arrays, strict=True))
    gather = tuple(p for p, i in zip(parts, ints, strict=True) if not i)
    gather = tuple(p if a or p is Ellipsis else slice(None)
                   for p, a in zip(gather, [isinstance(p, (np.ndarray, list)) for p in gather],
                                   strict=True))
    return grid[basic][gather]


def _bool_array(mask: object, op: str) -> np.ndarray:
    """A mask as a bool ndarray: a bool tensor or bool data (0/1 integers are read as bools,
    floats refused: ``rules.bool_mask``)."""
    if isinstance(mask, Tensor):
        return rules.bool_mask(mask.numpy(), op)
    if _foreign(mask):
        raise errors.mixing_error(op, NAME, mask)
    return rules.bool_mask(mask, op)


# -- module-level constructors and functions --------------------------------------------------


def tensor(data: object, requires_grad: bool = False, dtype: object = None) -> Tensor:
    """A new leaf tensor from numbers, nested lists or an ndarray. The dtype is torch's
    inference unless ``dtype`` says otherwise; any float is held as float64."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def _filled(shape: object, value: float, requires_grad: bool, dtype: object, op: str
            ) -> Tensor:
    asked = rules.dtype_argument(dtype)
    stored = _FLOAT if asked is None else _stored(asked)
    dims = rules.new_shape(shape, op)
    if requires_grad and stored is not _FLOAT:
        raise RuntimeError(errors.INT_GRAD)
    _check_budget(math.prod(dims), f"a tensor of shape {dims}")
    if stored is not _FLOAT:
        return _numbers([stored.type(value).item()] * math.prod(dims), dims, stored)
    t = _wrap(_leaves([value] * math.prod(dims)), dims, False)
    t._requires_grad = bool(requires_grad)
    return t


def zeros(shape: int | tuple, requires_grad: bool = False, dtype: object = None) -> Tensor:
    return _filled(shape, 0.0, requires_grad, dtype, "zeros")


def ones(shape: int | tuple, requires_grad: bool = False, dtype: object = None) -> Tensor:
    return _filled(shape, 1.0, requires_grad, dtype, "ones")


def _tensors(tensors: object, op: str) -> list[Tensor]:
    """The tensors to join: ours (another engine's are a TypeError)."""
    items = list(tensors)
    for t in items:
        if not isinstance(t, Tensor):
            raise errors.mixing_error(op, NAME, t)
    return items


def cat(tensors: list[Tensor], dim: int = 0) -> Tensor:
    """Join tensors along an existing dim (no new nodes: the result holds their Values). Mixed
    dtypes promote (``rules.result_dtype``): int64 and bool pieces join a float result as
    float constants."""
    items = _tensors(tensors, "cat")
    shape, d = rules.concatenated_shape([t.shape for t in items], dim)
    dtype = rules.result_dtype(*items)
    if dtype.kind != "f":
        return _constant(np.concatenate([t.numpy().astype(dtype) for t in items], axis=d))
    items = [_as_float(t) for t in items]
    grids, offset, values = [], 0, []
    for t in items:
        grids.append(_grid(t.shape) + offset)
        offset += len(t._values)
        values += t._values
    positions = np.concatenate(grids, axis=d)
    tracked = recording.enabled and any(t._requires_grad for t in items)
    return _copy_unless_tracked(_gather(values, positions), shape, tracked, tuple(items))


def stack(tensors: list[Tensor], dim: int = 0) -> Tensor:
    """Join same-shape tensors along a new dim."""
    items = _tensors(tensors, "stack")
    _, d = rules.stacked_shape([t.shape for t in items], dim)
    return cat([t.unsqueeze(d) for t in items], d)


def where(cond: object, a: object, b: object) -> Tensor:
    """``a`` where ``cond`` (bool) is true, else ``b`` (broadcast; numbers become constants).
    The result dtype is torch's promotion of ``a`` and ``b``."""
    c = _bool_array(cond, "where")
    a, b = _where_operand(a), _where_operand(b)
    shape = _broadcast_shape("where", c.shape, np.shape(a) if _is_number(a) else a.shape,
                             np.shape(b) if _is_number(b) else b.shape)
    dtype = rules.result_dtype(a, b)
    if dtype.kind != "f":
        x, y = (v.numpy() if isinstance(v, Tensor) else v for v in (a, b))
        return _constant(np.asarray(np.where(c, x, y)).astype(dtype))
    ta, tb = (_as_float(x) if isinstance(x, Tensor) else _wrap([Value(float(x))], (), False)
              for x in (a, b))
    picks = np.broadcast_to(c, shape).ravel().tolist()
    out = [
        x if p else y for p, x, y in zip(picks, _expand(ta, shape), _expand(tb, shape), strict=True)
    ]
    return _copy_unless_tracked(out, shape, ta._tracked() or tb._tracked(), (ta, tb))


Tensor._where = staticmethod(where)  # engine_api's ``t.where(condition, other)`` calls it


def _where_operand(x: object) -> object:
    """One of ``where``'s values: our tensor or a number as is, data as a tensor."""
    if isinstance(x, Tensor) or _is_number(x):
        return x
    if _foreign(x):
        raise errors.mixing_error("where", NAME, x)
    return Tensor(x)


_FLOAT_OPS = {"add": Tensor.__add__, "sub": Tensor.__sub__, "mul": Tensor.__mul__,
              "div": Tensor.__truediv__}
"""The float ops ``_mixed`` hands its operands to once both are float."""
