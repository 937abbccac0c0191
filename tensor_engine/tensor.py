"""The tensor engine's ``Tensor``: one numpy array, one graph node per operation.

How it works
------------
Every operation computes its result with numpy and, when gradients are wanted, records
one node (:func:`record`): the result remembers its *parents* (the input tensors) and a
*backward rule*, a small function that takes the gradient of the result (a whole array)
and returns the gradient of each parent. ``backward()`` walks the nodes in reverse
topological order (iteratively, so a 10,000-step unroll is fine) and feeds each rule the
sum of the gradients that reached its node.

Two ideas carry most of the rules:

* **broadcasting is undone by summing**: if ``a`` of shape ``(3, 1)`` was broadcast to
  ``(2, 3, 4)``, its gradient is the upstream gradient summed over the axes that were
  added or stretched (:func:`tensor_engine.kernels.unbroadcast`);
* **matmul transposes**: for ``C = A @ B``, ``dA = dC @ Bᵀ`` and ``dB = Aᵀ @ dC``.

The numpy side of the ops lives in :mod:`tensor_engine.kernels`; the rules every engine
shares (how a dim, a dtype or a shape argument is read, and each misuse's message) in
:mod:`engine_api`, and the methods composed from this module's primitives (``view``,
``flatten``, ``to``, the in-place operators ...) in :class:`engine_api.TensorMethods`.

dtype rule
----------
Tensors are always floating point: float32 by default, float64 on request
(``dtype=np.float64``) or when built from a float64 ndarray (as ``torch.from_numpy``).
Integer and bool data become float32. Two tensors of different dtypes combine with numpy
promotion (float32 with float64 gives float64). Python numbers and numpy scalars never
change a tensor's dtype: numpy scalars are turned into Python floats first, because
under NumPy 2 (NEP 50) ``float32_array * np.float64(2)`` would be float64, while
``float32_array * 2.0`` stays float32. A gradient always has its tensor's dtype.

Graph rules
-----------
A node is recorded only when grad mode is on (see :class:`no_grad`) and some input
requires grad; otherwise the result is a plain leaf that references nothing. After
``backward()`` the graph is freed (parents and rules dropped) unless
``retain_graph=True``.

Where the time goes
-------------------
Per op the engine adds a little Python (forward and backward together) to numpy's own
calls, so small models are bound by that overhead and large ones by numpy's BLAS. A few
choices keep both low: no graph at all under ``no_grad``; gradients are not computed for
inputs that do not require them (``x`` in ``x @ W.T``); a fresh gradient array is handed
to a leaf without a copy; backward pauses Python's cyclic garbage collector, which the
acyclic graph never needs; and argument rules run once per op, their messages built only
when an argument is wrong.

Memory layouts matter to the BLAS as much as shapes do: OpenBLAS runs ``x @ W.T`` (a
row-major weight ``W``, so ``W.T`` is column-major) measurably slower than the same product
asked as ``(W @ xᵀ)ᵀ``. So every product goes through :func:`tensor_engine.kernels.product`,
which picks the faster of the two forms from the operands' layouts (measured per product
and layout by ``benchmarks/gemm_layouts.py``); a batch of rows times a matrix is folded
into one 2-D product; parameters keep their (torch) layout through ``assign_``; and a
gradient comes out in its tensor's layout, so an optimizer's update never mixes layouts
(which made it several times slower).
"""

from __future__ import annotations

import gc
import itertools
import math
import numbers
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from engine_api import GradMode, TensorMethods, errors, rules

from . import kernels
from .kernels import (
    array_owner,
    can_adopt,
    filled,
    first_below,
    memory_order,
    memory_owner,
    product,
    product_laid_out_like,
    sign,
    spread,
    swap,
    unbroadcast,
    zero_where_not_positive,
)

NAME = "tensor"

__all__ = [
    "NAME", "Tensor", "tensor", "zeros", "ones", "cat", "stack", "where", "matmul", "no_grad",
    "enable_grad", "set_grad_enabled", "is_grad_enabled", "nodes_created",
    "reset_nodes_created", "record", "note_write", "grad_mode",
]

BackwardRule = Callable[[np.ndarray], tuple]


# ---------------------------------------------------------------------------
# grad mode and node counting


grad_mode = GradMode()
"""This engine's grad mode (one flag per thread); ``fused`` reads it too."""
no_grad = grad_mode.no_grad
enable_grad = grad_mode.enable_grad
set_grad_enabled = grad_mode.set_grad_enabled
is_grad_enabled = grad_mode.is_enabled
_mode = grad_mode.flag  # ``_mode.enabled``: the one attribute read each op pays for it

_nodes_created = 0
_sequence = itertools.count(1)  # creation order of nodes and writes: a topological order


def nodes_created() -> int:
    """How many op nodes this engine has recorded since the last reset."""
    return _nodes_created


def reset_nodes_created() -> None:
    """Set the node counter back to zero."""
    global _nodes_created
    _nodes_created = 0


# ---------------------------------------------------------------------------
# recording the graph


def record(data: np.ndarray, parents: tuple, backward: BackwardRule | None) -> Tensor:
    """The result of an op: a node with ``parents`` and ``backward`` if grads are wanted.
    With no parents, ``data`` wrapped as a leaf, without a copy or checks."""
    global _nodes_created
    if type(data) is not np.ndarray:  # numpy returns scalars from 0-d ops
        data = np.asarray(data)
    out = object.__new__(Tensor)
    out._data = data
    out._rg = False
    out._grad = None
    out._parents = ()
    out._backward = None
    out._retains = False
    out._consumed = False
    if _mode.enabled:
        for p in parents:
            if p._rg:
                p._consumed = True  # an in-place op on p would now change history (see _inplace)
                if not out._rg:
                    out._rg = True
                    out._parents = parents
                    out._backward = backward
                    out._seq = next(_sequence)
                    _nodes_created += 1
    return out


def _identity_rule(g: np.ndarray) -> tuple:
    return (g,)


def _transpose_rule(g: np.ndarray) -> tuple:
    return (g.T,)


def _freed_backward(g: np.ndarray) -> tuple:
    raise RuntimeError(errors.BACKWARD_TWICE)


def _unchanged(t: Tensor) -> Tensor:
    """``t`` as a new node that passes its gradient through: what torch gives for a 0-d
    tensor reduced or transposed along its one allowed dim (0 or -1)."""
    return record(t._data.reshape(()), (t,), _identity_rule)


# In-place writes and the graphs that saved the memory they overwrite. Backward rules read
# the arrays their op saw; an in-place op under no_grad (or on a constant) writes into such an
# array, which would make a later backward silently wrong. Each write is stamped from the same
# counter as the nodes, per memory owner; backward refuses a node older than a write to the
# memory of one of its tensors (PyTorch's version-counter check).
_last_write = 0
_writes: dict[int, tuple[weakref.ref, int]] = {}


def note_write(array: np.ndarray) -> None:
    """Stamp an in-place write into ``array``'s memory (any op that writes into a tensor's
    array outside the graph calls this)."""
    global _last_write
    owner = array_owner(array)
    key = id(owner)
    _last_write = next(_sequence)
    entry = _writes.get(key)
    if entry is None or entry[0]() is not owner:
        entry = (weakref.ref(owner, lambda _, key=key: _writes.pop(key, None)), 0)
    _writes[key] = (entry[0], _last_write)


def _check_not_overwritten(node: Tensor) -> None:
    """RuntimeError if memory that ``node``'s backward rule reads was written after it."""
    for t in (node, *node._parents):
        owner = array_owner(t._data)
        entry = _writes.get(id(owner))
        if entry is not None and entry[1] > node._seq and entry[0]() is owner:
            raise errors.overwritten_error(t._data.shape)


def _creation_order(node: Tensor) -> int:
    return node._seq


def _nodes_leading_to(root: Tensor) -> list[Tensor]:
    """The recorded (non-leaf) nodes that require grad and lead to ``root``, newest first.

    A node is always created after its inputs, so sorting by creation order, newest
    first, is a topological order for backward: every node comes before its parents.
    The search uses an explicit stack, never recursion.
    """
    nodes, seen, stack = [], {root}, [root]
    while stack:
        node = stack.pop()
        nodes.append(node)
        for parent in node._parents:
            if parent._backward is not None and parent._rg and parent not in seen:
                seen.add(parent)
                stack.append(parent)
    nodes.sort(key=_creation_order, reverse=True)
    return nodes


# ---------------------------------------------------------------------------
# reading arguments


def _to_array(data: Any, dtype: Any = None) -> np.ndarray:
    """A fresh float ndarray from numbers, nested lists, ndarrays or Tensors."""
    dt = rules.float_dtype(dtype)
    if isinstance(data, Tensor):
        data = data._data
    elif rules.foreign_tensor(data):
        raise errors.mixing_error("tensor", NAME, data)
    if dt is None:
        keeps_float64 = isinstance(data, np.ndarray) and data.dtype == np.float64
        dt = rules.FLOAT64 if keeps_float64 else rules.FLOAT32
    return np.array(rules.numeric_array(data), dtype=dt)


def _operand(other: Any, op: str) -> Tensor | float:
    """Turn the other side of an arithmetic op into a Tensor or a Python float.

    Numpy scalars become Python floats so that they cannot promote a float32 tensor.
    """
    if isinstance(other, Tensor):
        return other
    if type(other) is float:
        return other
    if isinstance(other, numbers.Real):  # int, bool, numpy real scalars
        return float(other)
    if isinstance(other, (np.ndarray, list, tuple)):
        return Tensor(other)
    if rules.foreign_tensor(other):
        raise errors.mixing_error(op, NAME, other)
    raise errors.operand_error(op, other)


def _as_tensor(x: Any, op: str) -> Tensor:
    """``x`` as a Tensor (numbers, lists and arrays become constants)."""
    if isinstance(x, Tensor):
        return x
    if rules.foreign_tensor(x):
        raise errors.mixing_error(op, NAME, x)
    return Tensor(x)


def _bool_array(mask: Any, op: str) -> np.ndarray:
    """A mask as a bool ndarray: bool (or 0/1 integer) arrays and lists, or a Tensor (!= 0)."""
    if isinstance(mask, Tensor):
        return mask._data != 0
    if rules.foreign_tensor(mask):
        raise errors.mixing_error(op, NAME, mask)
    return rules.bool_mask(mask, op)


def _read_only_error(op: str) -> RuntimeError:
    return RuntimeError(f"{op}: this tensor's memory is read-only (an expand() or broadcast "
                        "view shares one element among many); clone() it first")


# ---------------------------------------------------------------------------
# the Tensor


class Tensor(TensorMethods):
    """An n-d float array that records the operations applied to it.

    Build one with :func:`tensor`, :func:`zeros` or :func:`ones` (or ``Tensor(data)``).
    ``numpy()`` is the underlying ndarray, ``.data`` the same memory as a tensor outside the
    graph (torch's meaning); ``.grad`` is filled in by ``backward()``. The methods composed
    from the ones below (``view``, ``flatten``, ``to``, ``add_`` ...) come from
    :class:`engine_api.TensorMethods`.
    """

    __slots__ = ("_data", "_rg", "_grad", "_parents", "_backward", "_retains", "_seq",
                 "_consumed", "__weakref__")
    engine = NAME
    __array_ufunc__ = None  # make `ndarray * Tensor` call Tensor.__rmul__

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        self._data = _to_array(data, dtype)
        self._rg = bool(requires_grad)
        self._grad = None
        self._parents = ()
        self._backward = None
        self._retains = False
        self._consumed = False

    # -- data ---------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    def numpy(self) -> np.ndarray:
        """The values as an ndarray (shares memory: do not mutate it)."""
        return self._data

    @property
    def data(self) -> Tensor:
        """The same memory as a tensor outside the graph (torch's ``.data``): an in-place op
        on it (``p.data -= lr * p.grad``) changes ``self``, and no graph records it."""
        return record(self._data, (), None)

    @data.setter
    def data(self, value: Any) -> None:
        if isinstance(value, Tensor) and value._data is self._data:
            return  # `p.data -= x` assigns back the alias it just wrote through
        self.assign_(value)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """``np.asarray(t)`` gives the values, as for a CPU torch tensor."""
        return self._data if dtype is None else self._data.astype(dtype)

    def __repr__(self) -> str:
        body = np.array2string(self._data, separator=", ", prefix="tensor(")
        extra = f", dtype={self.dtype}" if self.dtype != np.float32 else ""
        extra += ", requires_grad=True" if self._rg else ""
        return f"tensor({body}{extra})"

    def _to(self, dtype: np.dtype | None, device: Any) -> Tensor:
        """``to(...)``'s primitive: ``self`` when the dtype does not change (as torch), else
        a cast recorded as a node whose gradient is cast back to this tensor's dtype."""
        rules.check_cpu(device)
        source = self._data.dtype
        if dtype is None or dtype == source:
            return self
        return record(self._data.astype(dtype), (self,), lambda g: (g.astype(source),))

    # -- autograd -------------------------------------------------------------

    @property
    def requires_grad(self) -> bool:
        return self._rg

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if self._backward is not None:
            raise RuntimeError("requires_grad can only be changed on leaf tensors; "
                               "use detach() to get a leaf")
        self._rg = bool(value)

    @property
    def grad(self) -> np.ndarray | None:
        """The accumulated gradient (an ndarray of this tensor's shape and dtype) or None."""
        return self._grad

    @grad.setter
    def grad(self, value: Any) -> None:
        if value is None:
            self._grad = None
            return
        value = np.asarray(value._data if isinstance(value, Tensor) else value, dtype=self.dtype)
        if value.shape != self.shape:
            raise ValueError(f"grad of shape {value.shape} does not match tensor shape "
                             f"{self.shape}")
        self._grad = value

    @property
    def is_leaf(self) -> bool:
        """True for tensors not produced by a recorded op (parameters, inputs, detached)."""
        return self._backward is None

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this intermediate tensor during backward (leaves always do)."""
        if not self._rg:
            raise RuntimeError("can't retain_grad on a tensor that has requires_grad=False")
        self._retains = True

    def detach(self) -> Tensor:
        """A leaf sharing this tensor's values, outside the graph."""
        return record(self._data, (), None)

    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf that requires grad.

        ``grad`` is the gradient of some final scalar with respect to ``self``; it may be
        omitted only when ``self`` has one element (then it is 1).
        """
        if not self._rg:
            raise RuntimeError(errors.NO_GRAD_FN)
        if grad is None:
            if self._data.size != 1:
                raise errors.implicit_grad_error(self._data.shape)
            grad = np.ones(self.shape, dtype=self.dtype)
        else:
            grad = np.asarray(grad._data if isinstance(grad, Tensor) else grad, dtype=self.dtype)
            if grad.shape != self.shape:
                raise errors.shape_mismatch("backward", "grad", grad.shape, self.shape)
        handed_out = {id(memory_owner(grad))}  # memory some .grad (or the caller) holds
        if self._backward is None:
            self._accumulate(grad, handed_out)
            return
        # The graph has no reference cycles (a node only refers to older nodes), so
        # reference counting frees it; the cyclic collector, which would otherwise walk the
        # whole graph again and again as the pass allocates, is paused meanwhile.
        collecting = gc.isenabled()
        gc.disable()
        try:
            self._backward_pass(grad, retain_graph, handed_out)
        finally:
            if collecting:
                gc.enable()

    def _backward_pass(self, grad: np.ndarray, retain_graph: bool, handed_out: set[int]) -> None:
        grads = {self: grad}  # pending gradient of each node not yet processed
        for node in _nodes_leading_to(self):
            g = grads.pop(node, None)
            if g is None:
                continue
            if _last_write > node._seq:
                _check_not_overwritten(node)
            if node._retains:
                node._accumulate(g, handed_out)
            rule, parents = node._backward, node._parents
            if not retain_graph:
                node._parents, node._backward = (), _freed_backward
            for parent, pg in zip(parents, rule(g), strict=True):
                if pg is None or not parent._rg:
                    continue
                if pg.dtype != parent._data.dtype:
                    pg = pg.astype(parent._data.dtype)
                if parent._backward is None:  # a leaf: nothing to propagate, just add
                    parent._accumulate(pg, handed_out)
                else:
                    previous = grads.get(parent)
                    grads[parent] = pg if previous is None else previous + pg

    def _accumulate(self, g: np.ndarray, handed_out: set[int]) -> None:
        """Add ``g`` into ``.grad``, taking ``g`` itself when nobody else can see its memory.

        Backward rules return fresh arrays or views of the gradient flowing in, never of
        forward values, so ``g`` may be kept without a copy unless its memory is already
        held by another ``.grad`` (or by the caller). The gradient has the tensor's memory
        layout (row-major unless the tensor is stored column-major): an optimizer's update
        ``p - lr * p.grad`` over operands of two layouts runs several times slower.
        """
        if self._grad is not None:
            self._grad = self._grad + g
            return
        column_major = self._data.flags.fnc
        if type(g) is np.ndarray and g.flags.writeable and (
                g.flags.f_contiguous if column_major else g.flags.c_contiguous):
            owner = memory_owner(g)
            if id(owner) not in handed_out and owner.nbytes == g.nbytes:
                handed_out.add(id(owner))
                self._grad = g
                return
        g = np.array(g, order="F" if column_major else "C")
        handed_out.add(id(g))
        self._grad = g

    # -- writing values in place ----------------------------------------------------

    def assign_(self, value: Any, copy: bool = True) -> Tensor:
        """Overwrite the values in place, outside the graph (what optimizers and loaders do).

        The tensor keeps its memory layout whatever the layout of ``value``: a parameter
        made row-major stays row-major when a checkpoint hands it a transposed view (GPT-2's
        Conv1D weights), so the products it takes part in keep the layout they were
        measured fastest in (see :func:`tensor_engine.kernels.product`).

        ``copy=False`` hands ``value`` over: when it is an array that owns its memory, in
        this tensor's dtype and layout, the tensor keeps it instead of copying it, and the
        caller must not write to it again. Optimizers do this with the new values they have
        just computed, which saves a pass over every parameter per step.
        """
        value = value._data if isinstance(value, Tensor) else np.asarray(value)
        if value.shape != self.shape:
            raise errors.shape_mismatch("assign_", "value", value.shape, self.shape)
        # A new array rather than a write into the old one: backward rules of a graph
        # recorded before the assignment still read the values they saw.
        if copy or not can_adopt(value, self._data):
            value = np.array(value, dtype=self._data.dtype, order=memory_order(self._data))
        self._data = value
        return self

    def _inplace(self, op: str, compute: Callable[[Tensor], Tensor]) -> Tensor:
        """Make ``self`` hold ``compute(self)``: the one implementation of every in-place op
        (``add_``, ``+=``, ``fill_`` ... in :class:`engine_api.TensorMethods`, and
        ``__setitem__``).

        Torch's rules. In grad mode a leaf that requires grad refuses; when the result needs a
        graph (self or the other operand requires grad), self *becomes* the result's node, as
        if the user had written ``x = x + y``. Otherwise the values are written into self's
        memory, so views and ``.data`` aliases see them; a graph that saved that memory
        refuses to backward afterwards (see ``_check_not_overwritten``).
        """
        if self._rg and self._backward is not None and (self._consumed or not _mode.enabled):
            raise errors.used_by_graph_error(op, self.shape)
        if self._rg and self._backward is None and _mode.enabled:
            raise RuntimeError(errors.LEAF_INPLACE)
        if self._backward is not None and any(
                np.may_share_memory(self._data, p._data) for p in self._parents):
            raise errors.view_inplace_error(op, self.shape)
        before = self
        if self._backward is not None:  # a recorded node: compute from a copy, then take over
            before = record(self._data, (), None)
            before._rg, before._parents, before._backward = True, self._parents, self._backward
            before._seq = self._seq
        elif _mode.enabled:  # a constant stand-in: a rebound self must not be its own parent
            before = record(self._data, (), None)
        result = compute(before)
        if result.shape != self.shape:
            raise ValueError(f"{op}: the result's shape {result.shape} does not match the "
                             f"in-place target's shape {self.shape}")
        if result._rg:
            if result.dtype != self.dtype:
                result = record(result._data.astype(self.dtype), (result,), _identity_rule)
            self._data, self._parents = result._data, result._parents
            self._backward, self._rg, self._seq = result._backward, True, result._seq
            return self
        if not self._data.flags.writeable:
            raise _read_only_error(op)
        np.copyto(self._data, result._data, casting="unsafe")
        note_write(self._data)
        return self

    def __setitem__(self, index: Any, value: Any) -> None:
        """``x[index] = value``, torch's in-place write: the rules of every in-place op (a
        leaf that requires grad refuses in grad mode; a recorded tensor takes the result's
        place in the graph, the gradient reaching ``value`` and the untouched elements).
        ``value`` (a number or a tensor) broadcasts to the indexed region's shape.

        Without a graph to record, only the region is written, in place: a cache buffer
        written one row at a time costs one row, not a copy of the buffer."""
        v = _operand(value, "__setitem__")
        if not self._rg and (type(v) is float or not (v._rg and _mode.enabled)):
            if not self._data.flags.writeable:
                raise _read_only_error("__setitem__")
            _put(self._data, index, v if type(v) is float else v._data)
            note_write(self._data)
            return
        self._inplace("__setitem__", lambda t: t._index_put(index, v))

    def _index_put(self, index: Any, v: Tensor | float) -> Tensor:
        """A copy of self with ``value`` written at ``index`` (the node ``__setitem__``
        records)."""
        out = self._data.copy()
        region = _put(out, index, v if type(v) is float else v._data)

        def backward(g: np.ndarray) -> tuple:
            grad = g.copy()
            _put(grad, index, 0.0)
            if type(v) is float:
                return (grad,)
            return grad, (unbroadcast(region(g), v.shape) if v._rg else None)

        return record(out, (self,) if type(v) is float else (self, v), backward)

    # -- arithmetic -----------------------------------------------------------

    def __add__(self, other: Any) -> Tensor:
        other = _operand(other, "add")
        if type(other) is float:
            return record(self._data + other, (self,), _identity_rule)
        a, b = self._data, other._data
        try:
            out = a + b
        except ValueError:
            raise rules.broadcast_error("add", a.shape, b.shape) from None
        sa, sb = a.shape, b.shape
        return record(out, (self, other),
                      lambda g: (unbroadcast(g, sa), unbroadcast(g, sb)))

    __radd__ = __add__

    def __sub__(self, other: Any) -> Tensor:
        other = _operand(other, "sub")
        if type(other) is float:
            return record(self._data - other, (self,), _identity_rule)
        a, b = self._data, other._data
        try:
            out = a - b
        except ValueError:
            raise rules.broadcast_error("sub", a.shape, b.shape) from None
        sa, sb = a.shape, b.shape
        return record(out, (self, other),
                      lambda g: (unbroadcast(g, sa), unbroadcast(-g, sb)))

    def __rsub__(self, other: Any) -> Tensor:
        other = _operand(other, "sub")
        if type(other) is float:
            return record(other - self._data, (self,), lambda g: (-g,))
        return other.__sub__(self)

    def __neg__(self) -> Tensor:
        return record(-self._data, (self,), lambda g: (-g,))

    def __mul__(self, other: Any) -> Tensor:
        other = _operand(other, "mul")
        if type(other) is float:
            return record(self._data * other, (self,), lambda g: (g * other,))
        a, b = self._data, other._data
        try:
            out = a * b
        except ValueError:
            raise rules.broadcast_error("mul", a.shape, b.shape) from None
        x, y = self, other

        def backward(g: np.ndarray) -> tuple:
            ga = unbroadcast(g * b, a.shape) if x._rg else None
            gb = unbroadcast(g * a, b.shape) if y._rg else None
            return ga, gb

        return record(out, (self, other), backward)

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Tensor:
        other = _operand(other, "div")
        if type(other) is float:
            return record(self._data / other, (self,), lambda g: (g / other,))
        a, b = self._data, other._data
        try:
            out = a / b
        except ValueError:
            raise rules.broadcast_error("div", a.shape, b.shape) from None
        x, y = self, other

        def backward(g: np.ndarray) -> tuple:
            ga = unbroadcast(g / b, a.shape) if x._rg else None
            gb = unbroadcast(-g * out / b, b.shape) if y._rg else None
            return ga, gb

        return record(out, (self, other), backward)

    def __rtruediv__(self, other: Any) -> Tensor:
        other = _operand(other, "div")
        if type(other) is not float:
            return other.__truediv__(self)
        x = self._data
        out = other / x
        return record(out, (self,), lambda g: (-g * out / x,))

    def __pow__(self, exponent: Any) -> Tensor:
        p = rules.exponent(exponent)
        x = self._data
        negative = None if p.is_integer() else first_below(x, 0.0, inclusive=False)
        if negative is not None:
            raise errors.negative_base_error(negative, p, self.shape)
        if p == 0.0:  # constant 1; the general rule would give 0 * inf at x = 0
            return record(np.ones_like(x), (self,), lambda g: (np.zeros_like(g),))
        if p == 2.0:
            return record(x * x, (self,), lambda g: (g * (2.0 * x),))
        return record(x ** p, (self,), lambda g: (g * (p * x ** (p - 1.0)),))

    def __matmul__(self, other: Any) -> Tensor:
        return matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return matmul(other, self)

    # -- comparisons (bool ndarrays, no graph) --------------------------------

    def _compare_data(self, other: Any, op: str) -> Any:
        other = _operand(other, op)
        return other if type(other) is float else other._data

    def __lt__(self, other: Any) -> np.ndarray:
        return self._data < self._compare_data(other, "lt")

    def __le__(self, other: Any) -> np.ndarray:
        return self._data <= self._compare_data(other, "le")

    def __gt__(self, other: Any) -> np.ndarray:
        return self._data > self._compare_data(other, "gt")

    def __ge__(self, other: Any) -> np.ndarray:
        return self._data >= self._compare_data(other, "ge")

    __hash__ = object.__hash__

    # -- elementwise ----------------------------------------------------------

    def exp(self) -> Tensor:
        out = np.exp(self._data)
        return record(out, (self,), lambda g: (g * out,))

    def log(self) -> Tensor:
        x = self._data
        bad = first_below(x, 0.0, inclusive=True)  # NaN is allowed: it propagates
        if bad is not None:
            raise errors.domain_error("log", bad, "> 0")
        return record(np.log(x), (self,), lambda g: (g / x,))

    def sqrt(self) -> Tensor:
        x = self._data
        bad = first_below(x, 0.0, inclusive=False)  # NaN is allowed: it propagates
        if bad is not None:
            raise errors.domain_error("sqrt", bad, ">= 0")
        out = np.sqrt(x)
        return record(out, (self,), lambda g: (g * 0.5 / out,))

    def tanh(self) -> Tensor:
        out = np.tanh(self._data)
        return record(out, (self,), lambda g: (g * (1.0 - out * out),))

    def relu(self) -> Tensor:
        """max(x, 0); NaN stays NaN and passes its gradient, as torch's relu."""
        x = self._data
        out = np.maximum(x, 0.0)
        return record(out, (self,), lambda g: (zero_where_not_positive(g, x),))

    def sigmoid(self) -> Tensor:
        x = self._data
        # exp(-|x|) never overflows; the two branches are the same function.
        e = np.exp(-np.abs(x))
        out = np.where(x >= 0, 1.0, e) / (1.0 + e)
        return record(out, (self,), lambda g: (g * out * (1.0 - out),))

    def abs(self) -> Tensor:
        """|x|; its gradient is sign(x), 0 at 0 (torch's choice) and at NaN."""
        x = self._data
        return record(np.abs(x), (self,), lambda g: (g * sign(x),))

    def sin(self) -> Tensor:
        x = self._data
        return record(np.sin(x), (self,), lambda g: (g * np.cos(x),))

    def cos(self) -> Tensor:
        x = self._data
        return record(np.cos(x), (self,), lambda g: (-g * np.sin(x),))

    def erf(self) -> Tensor:
        """The error function; d/dx erf(x) = 2/sqrt(pi) * exp(-x^2)."""
        x = self._data
        return record(kernels.erf(x), (self,),
                      lambda g: (g * (_TWO_OVER_SQRT_PI * np.exp(-x * x)),))

    def clamp(self, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
        """Each value limited to ``[min, max]``; either bound may be None, not both.

        The gradient passes where ``min <= x <= max`` (bounds included) and is 0 elsewhere.
        NaN stays NaN (gradient 0), and with ``min > max`` every value becomes ``max``, as in
        torch (numpy's ``maximum``/``minimum`` propagate NaN as torch's do).
        """
        lo, hi = rules.clamp_bounds(min, max)
        lo = -math.inf if lo is None else lo  # a missing bound: the infinity that changes
        hi = math.inf if hi is None else hi  # nothing
        x = self._data
        out = np.minimum(np.maximum(x, lo), hi)
        return record(out, (self,), lambda g: (np.where((x >= lo) & (x <= hi), g, 0.0),))

    # -- along one dim: softmax and log_softmax, one node each ----------------------------

    def softmax(self, dim: int) -> Tensor:
        """``exp(x) / sum(exp(x))`` along ``dim``, as one node (``tensor_engine.fused`` calls
        it too). Backward for ``y = softmax(x)``: ``dx = y * (dy - sum(dy * y))``; only ``y``
        is kept, where the same op composed from primitives keeps five arrays."""
        data, d = _along(self, dim, "softmax")
        y = data - data.max(axis=d, keepdims=True)  # exp never overflows
        np.exp(y, out=y)
        y /= np.add.reduce(y, axis=d, keepdims=True)
        shape = self._data.shape

        def backward(g: np.ndarray) -> tuple:
            gy = g.reshape(y.shape) * y
            gy -= np.multiply(y, np.add.reduce(gy, axis=d, keepdims=True))
            return (gy.reshape(shape),)

        return record(y.reshape(shape), (self,), backward)

    def log_softmax(self, dim: int) -> Tensor:
        """``x - log(sum(exp(x)))`` along ``dim``, computed stably, as one node. Backward for
        ``y = log_softmax(x)``: ``dx = dy - exp(y) * sum(dy)``."""
        data, d = _along(self, dim, "log_softmax")
        y = kernels.log_softmax(data, d)
        shape = self._data.shape

        def backward(g: np.ndarray) -> tuple:
            g = g.reshape(data.shape)
            return ((g - np.exp(y) * g.sum(axis=d, keepdims=True)).reshape(shape),)

        return record(y.reshape(shape), (self,), backward)

    # -- reductions -----------------------------------------------------------

    def sum(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """Sum over ``dim`` (an int, a tuple of ints, or None or ``()`` for all)."""
        dims = rules.normalize_dims(dim, self._data.ndim, "sum")
        shape = self._data.shape
        out = self._data.sum(axis=dims, keepdims=keepdim)

        def backward(g: np.ndarray) -> tuple:
            return (spread(g, shape, dims, keepdim),)

        return record(out, (self,), backward)

    def mean(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """Mean over ``dim`` (an int, a tuple of ints, or None or ``()`` for all)."""
        dims = rules.normalize_dims(dim, self._data.ndim, "mean")
        shape = self._data.shape
        count = self._data.size if dims is None else math.prod(shape[d] for d in dims)
        if count == 0:
            raise ValueError(f"mean over an empty dimension (shape {shape}, dim {dim})")
        out = np.add.reduce(self._data, axis=dims, keepdims=keepdim)  # ndarray.mean's numbers,
        if type(out) is np.ndarray:  # without its Python-level wrapper
            out /= count
        else:
            out = out.dtype.type(out / count)

        def backward(g: np.ndarray) -> tuple:
            return (spread(g / count, shape, dims, keepdim),)

        return record(out, (self,), backward)

    def var(self, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
            correction: float | None = None) -> Tensor:
        """Variance over ``dim`` (an int, a tuple, or None for all), as torch; one node.

        The sum of squared deviations from the mean, divided by ``n - correction``.
        ``correction`` defaults to 1 (Bessel's correction); ``unbiased=False`` means 0, and
        ``x.var(False)`` is torch's ``var(unbiased)`` form. When ``n - correction <= 0`` the
        result is inf or NaN, as in torch. Backward: ``dx = g * 2 (x - mean) / divisor``
        (the mean's own gradient sums to zero).
        """
        dims, divisor, centred = _deviations(self, dim, unbiased, correction, "var")
        out = (centred * centred).sum(axis=dims, keepdims=keepdim) / divisor
        shape = self._data.shape
        return record(out, (self,), lambda g: (
            _var_grad(g, centred, divisor, shape, dims, keepdim),))

    def std(self, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
            correction: float | None = None) -> Tensor:
        """Standard deviation: ``sqrt`` of ``var`` with the same arguments; one node.

        Where it is 0 (a constant slice) its gradient is 0, as in torch, rather than the
        ``inf * 0`` of the chain rule through ``sqrt``.
        """
        dims, divisor, centred = _deviations(self, dim, unbiased, correction, "std")
        out = np.sqrt((centred * centred).sum(axis=dims, keepdims=keepdim) / divisor)
        shape = self._data.shape

        def backward(g: np.ndarray) -> tuple:
            zero = out == 0
            g_var = np.where(zero, 0.0, g) / np.where(zero, 2.0, 2.0 * out)  # d sqrt(v) / dv
            return (_var_grad(g_var, centred, divisor, shape, dims, keepdim),)

        return record(out, (self,), backward)

    def max(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """Largest values over ``dim`` (or of everything); the gradient goes to the first
        maximal element, as PyTorch's CPU ``max(dim)``. NaN wins (torch propagates it)."""
        return self._extreme(dim, keepdim, "max")

    def min(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """Smallest values over ``dim`` (or of everything); the gradient goes to the first
        minimal element, as PyTorch's CPU ``min(dim)``. NaN wins (torch propagates it)."""
        return self._extreme(dim, keepdim, "min")

    def _extreme(self, dim: Any, keepdim: bool, op: str) -> Tensor:
        """``max``/``min``: numpy's ``argmax``/``argmin`` pick the element, and their rules are
        torch's: the first extreme element, or the first NaN if there is one."""
        x, shape = self._data, self._data.shape
        if x.size == 0:
            raise ValueError(f"{op}: cannot reduce an empty tensor of shape {shape}")
        find = np.argmax if op == "max" else np.argmin
        if dim is None:
            flat_index = int(find(x))
            out = x.reshape(-1)[flat_index]
            out = out.reshape((1,) * x.ndim) if keepdim else out

            def backward_all(g: np.ndarray) -> tuple:
                grad = np.zeros(x.size, dtype=x.dtype)
                grad[flat_index] = g.reshape(())
                return (grad.reshape(shape),)

            return record(out, (self,), backward_all)
        if x.ndim == 0:
            rules.normalize_dim(dim, 1, op)
            return _unchanged(self)
        d = rules.normalize_dim(dim, x.ndim, op)
        index = np.expand_dims(find(x, axis=d), d)
        out = np.take_along_axis(x, index, axis=d)

        def backward(g: np.ndarray) -> tuple:
            grad = np.zeros(shape, dtype=x.dtype)
            np.put_along_axis(grad, index, g if keepdim else np.expand_dims(g, d), axis=d)
            return (grad,)

        return record(out if keepdim else out.squeeze(d), (self,), backward)

    # -- shapes -----------------------------------------------------------------

    def reshape(self, *shape: Any) -> Tensor:
        """Same values in a new shape; one entry may be -1."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        try:
            out = self._data.reshape(shape)
        except (ValueError, TypeError):
            rules.reshaped(self._data.shape, shape)  # numpy refused: the contract's message
            raise
        in_shape = self._data.shape
        return record(out, (self,), lambda g: (g.reshape(in_shape),))

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        """Swap two dimensions."""
        ndim = self._data.ndim
        if ndim == 0:
            rules.normalize_dim(dim0, 1, "transpose")
            rules.normalize_dim(dim1, 1, "transpose")
            return _unchanged(self)
        d0 = rules.normalize_dim(dim0, ndim, "transpose")
        d1 = rules.normalize_dim(dim1, ndim, "transpose")
        return record(self._data.swapaxes(d0, d1), (self,), lambda g: (g.swapaxes(d0, d1),))

    @property
    def T(self) -> Tensor:
        """The transpose of a 2-D tensor (dims reversed in general)."""
        ndim = self._data.ndim
        if ndim < 2:
            return self
        if ndim == 2:
            return record(self._data.T, (self,), _transpose_rule)
        return self.permute(*reversed(range(ndim)))

    def permute(self, *dims: Any) -> Tensor:
        """Reorder the dimensions: result dim i is input dim ``dims[i]``."""
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        ndim = self._data.ndim
        usual = (len(dims) == ndim and {type(d) for d in dims} <= {int}
                 and sorted(dims) == list(range(ndim)))  # already in normal form
        order = dims if usual else rules.permutation(dims, self._data.shape)
        inverse = tuple(order.index(d) for d in range(len(order)))
        return record(self._data.transpose(order), (self,), lambda g: (g.transpose(inverse),))

    def unsqueeze(self, dim: int) -> Tensor:
        """Insert a size-1 dimension at ``dim`` (``-1`` appends)."""
        d = rules.normalize_dim(dim, self._data.ndim + 1, "unsqueeze")
        in_shape = self._data.shape
        return record(np.expand_dims(self._data, d), (self,), lambda g: (g.reshape(in_shape),))

    def squeeze(self, dim: Any = None) -> Tensor:
        """Drop size-1 dimensions (all of them, or only those of ``dim`` that have size 1;
        ``dim=()`` drops none, as torch)."""
        in_shape = self._data.shape
        if isinstance(dim, (tuple, list)) and not dim:
            dims = ()
        else:
            dims = rules.normalize_dims(dim, len(in_shape), "squeeze")
        if dims is None:
            dims = tuple(i for i, n in enumerate(in_shape) if n == 1)
        dims = tuple(d for d in dims if in_shape[d] == 1)
        return record(self._data.squeeze(dims), (self,), lambda g: (g.reshape(in_shape),))

    def expand(self, *sizes: Any) -> Tensor:
        """A broadcast view of ``self`` with ``sizes``, torch's rules: size-1 dims stretch, new
        leading dims may be added, -1 keeps a size. The gradient sums back over them. Like
        torch's, the view is not writable: its elements share memory."""
        shape = self._data.shape
        target = rules.expanded_shape(shape, sizes)
        return record(np.broadcast_to(self._data, target), (self,),
                      lambda g: (unbroadcast(g, shape),))

    def split(self, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
        """Split into chunks of one size (the last may be smaller) or of the listed sizes."""
        sizes, d = rules.split_sizes(split_size_or_sections, self._data.shape, dim)
        pieces, start = [], 0
        for size in sizes:
            index = (slice(None),) * d + (slice(start, start + size),)
            pieces.append(self[index])
            start += size
        return tuple(pieces)

    def clone(self) -> Tensor:
        """A copy with its own array, recorded as a node with the identity gradient."""
        return record(self._data.copy(), (self,), _identity_rule)

    # -- indexing and masks --------------------------------------------------------

    def __getitem__(self, index: Any) -> Tensor:
        """Basic indexing (ints, slices, None, ...) gives a view; integer arrays gather.

        Ints are applied before any index array, as torch does: ``x[i, :, ids]`` has shape
        ``(n, len(ids))``, where numpy would count ``i`` as an index array too and give
        ``(len(ids), n)``.
        """
        basic, gather = _split_index(index)
        x = self._data
        try:
            out = x[basic] if gather is None else x[basic][gather]
        except IndexError as err:
            raise errors.index_error(err) from None
        if type(out) is not np.ndarray:  # every dim indexed by an int: numpy copies a scalar out
            out = x[(*basic, Ellipsis) if isinstance(basic, tuple) else (basic, Ellipsis)]

        def backward(g: np.ndarray) -> tuple:
            grad = np.zeros(x.shape, dtype=x.dtype)
            if gather is None:
                grad[basic] = g
            else:  # grad[basic] is a view: scatter-add into it (repeated indices add up)
                np.add.at(grad[basic], gather, g)
            return (grad,)

        return record(out, (self,), backward)

    def masked_fill(self, mask: Any, value: Any) -> Tensor:
        """Replace the values where ``mask`` is True by ``value`` (mask broadcasts)."""
        mask = _bool_array(mask, "masked_fill")
        rules.mask_shape(mask.shape, self._data.shape, "masked_fill")
        value = value.item() if isinstance(value, Tensor) else float(value)
        return record(filled(self._data, mask, value), (self,),
                      lambda g: (filled(g, mask, 0.0),))


# ---------------------------------------------------------------------------
# helpers of the methods above


_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _along(t: Tensor, dim: Any, op: str) -> tuple[np.ndarray, int]:
    """The data and normalised dim of an op along ``dim``; a 0-d tensor counts as one
    element along dim 0 or -1."""
    x = t._data
    if x.ndim == 0:
        return x.reshape(1), rules.normalize_dim(dim, 1, op)
    return x, rules.normalize_dim(dim, x.ndim, op)


def _deviations(t: Tensor, dim: Any, unbiased: bool | None, correction: Any,
                op: str) -> tuple[tuple[int, ...] | None, float, np.ndarray]:
    """What var and std share: the reduced dims, the divisor ``max(0, n - correction)`` and
    ``x - mean`` (the mean taken over those dims)."""
    dim, c = rules.var_arguments(dim, unbiased, correction)
    x = t._data
    dims = rules.normalize_dims(dim, x.ndim, op)
    n = x.size if dims is None else math.prod(x.shape[d] for d in dims)
    centred = x - x.mean(axis=dims, keepdims=True)
    return dims, max(0.0, n - c), centred


def _var_grad(g: np.ndarray, centred: np.ndarray, divisor: float, shape: tuple,
              dims: tuple[int, ...] | None, keepdim: bool) -> np.ndarray:
    """d var / dx = g * 2 (x - mean) / divisor (inf * 0 = NaN when the divisor is 0)."""
    scale = 2.0 / divisor if divisor else math.inf
    return spread(g, shape, dims, keepdim) * centred * scale


def _index_part(part: Any) -> Any:
    if isinstance(part, Tensor):
        values = part._data
        as_int = values.astype(np.int64)
        if not np.array_equal(as_int, values):
            raise IndexError("tensor used as an index must hold whole numbers")
        return as_int
    if isinstance(part, list):
        return np.asarray(part)
    return part


def _normalize_index(index: Any) -> Any:
    if isinstance(index, tuple):
        return tuple(_index_part(p) for p in index)
    return _index_part(index)


_BASIC_PARTS = frozenset({int, slice, type(None), type(Ellipsis)})


def _split_index(index: Any) -> tuple[Any, Any]:
    """``(basic, gather)`` with ``x[index] == x[basic][gather]`` in torch's order.

    ``basic`` holds the ints, slices, None and ``...`` (a view of ``x``); ``gather`` the
    index arrays (lists and tensors converted), at the positions of the dims ``basic``
    kept, or None without arrays.
    """
    parts = index if type(index) is tuple else (index,)
    if _BASIC_PARTS.issuperset(map(type, parts)):  # the usual view: nothing to convert
        return index, None
    index = _normalize_index(index)
    parts = index if isinstance(index, tuple) else (index,)
    if not any(isinstance(p, np.ndarray) for p in parts):
        return index, None
    basic = tuple(slice(None) if isinstance(p, np.ndarray) else p for p in parts)
    gather = tuple(p if isinstance(p, np.ndarray) or p is Ellipsis else slice(None)
                   for p in parts if not rules.is_int(p))
    return basic, gather


def _put(array: np.ndarray, index: Any, value: Any) -> Callable[[np.ndarray], np.ndarray]:
    """Write ``value`` into ``array[index]`` (torch's index order, see ``_split_index``);
    returns the function that reads the same region of an array of ``array``'s shape."""
    basic, gather = _split_index(index)
    basic = basic if isinstance(basic, tuple) else (basic,)
    if not any(part is Ellipsis for part in basic):
        basic = (*basic, Ellipsis)  # keeps the region a view when ints index every dim

    def region(a: np.ndarray) -> np.ndarray:
        return a[basic] if gather is None else a[basic][gather]

    try:
        target = array[basic]  # a view: basic indexing
        if gather is None:
            target[...] = value
        else:
            target[gather] = value
    except IndexError as err:
        raise errors.index_error(err) from None
    except ValueError:
        raise ValueError(f"__setitem__: a value of shape {np.shape(value)} does not broadcast "
                         f"to the indexed shape {region(array).shape}") from None
    return region


# ---------------------------------------------------------------------------
# matrix products


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product with torch's rules: 1-D operands are promoted to a row (left) or a
    column (right) and that dimension is removed again; batch dims broadcast.

    A batch of rows times one matrix (``x @ W.T`` with ``x`` of shape (B, T, k)) is computed
    as one 2-D product of B*T rows, which BLAS runs faster than B separate ones.
    """
    a, b = _as_tensor(a, "matmul"), _as_tensor(b, "matmul")
    A, B = a._data, b._data
    dims = A.ndim, B.ndim
    if dims == (2, 2) and A.shape[1] == B.shape[0]:
        return record(product(A, B), (a, b), lambda g: (
            product_laid_out_like(A, g, B.T) if a._rg else None,
            product_laid_out_like(B, A.T, g) if b._rg else None))
    if dims[1] == 2 and dims[0] > 2 and A.shape[-1] == B.shape[0]:
        return _rows_times_matrix(a, b)
    try:
        out = product(A, B) if min(dims) > 1 else kernels.mm(A, B)
    except ValueError:
        rules.matmul_shape(A.shape, B.shape)  # numpy refused: the contract's message
        raise
    return record(out, (a, b), lambda g: _matmul_backward(g, a, b))


def _rows_times_matrix(a: Tensor, b: Tensor) -> Tensor:
    """``a @ b`` for ``a`` of shape (..., k) and a matrix ``b`` (k, n): the leading dims of
    ``a`` are folded into the rows of one 2-D product (a view when ``a``'s memory allows)."""
    A, B = a._data, b._data
    lead, (k, n) = A.shape[:-1], B.shape
    rows = math.prod(lead)  # not reshape(-1, k): k may be 0
    A2 = A.reshape(rows, k)
    out = product(A2, B).reshape(*lead, n)

    def backward(g: np.ndarray) -> tuple:
        g2 = g.reshape(rows, n)
        return (product_laid_out_like(A2, g2, B.T).reshape(A.shape) if a._rg else None,
                product_laid_out_like(B, A2.T, g2) if b._rg else None)

    return record(out, (a, b), backward)


def _matmul_backward(g: np.ndarray, a: Tensor, b: Tensor) -> tuple:
    """dA = dC @ Bᵀ, dB = Aᵀ @ dC for 1-D and batched operands."""
    A, B = a._data, b._data
    A2 = A[None, :] if A.ndim == 1 else A  # 1-D left operand: a row
    B2 = B[:, None] if B.ndim == 1 else B  # 1-D right operand: a column
    if B.ndim == 1:
        g = g[..., None]  # put back the removed column dim
    if A.ndim == 1:
        g = g[..., None, :]  # and the removed row dim
    ga = gb = None
    if a._rg:
        ga = unbroadcast(product(g, swap(B2)), A2.shape).reshape(A.shape)
    if b._rg:
        if B2.ndim == 2:  # one weight shared by the whole batch: fold the batch into rows
            (k, n), rows = B2.shape, math.prod(A2.shape[:-1])  # not -1: k may be 0
            gb = product_laid_out_like(B2, A2.reshape(rows, k).T, g.reshape(rows, n))
        else:
            gb = unbroadcast(product(swap(A2), g), B2.shape)
        gb = gb.reshape(B.shape)
    return ga, gb


# ---------------------------------------------------------------------------
# functions of several tensors


def where(cond: Any, a: Any, b: Any) -> Tensor:
    """``a`` where ``cond`` is True, else ``b``; a and b are tensors or numbers."""
    cond = _bool_array(cond, "where")
    a, b = _operand(a, "where"), _operand(b, "where")
    a_data = a if type(a) is float else a._data
    b_data = b if type(b) is float else b._data
    try:
        out = np.where(cond, a_data, b_data)
    except ValueError:
        raise rules.broadcast_error("where", cond.shape, np.shape(a_data),
                                    np.shape(b_data)) from None
    if type(a) is float and type(b) is float:
        return record(out.astype(np.float32), (), None)
    parents = tuple(t for t in (a, b) if type(t) is not float)

    def backward(g: np.ndarray) -> tuple:
        grads = []
        if type(a) is not float:
            grads.append(unbroadcast(np.where(cond, g, 0.0), a.shape) if a._rg else None)
        if type(b) is not float:
            grads.append(unbroadcast(np.where(cond, 0.0, g), b.shape) if b._rg else None)
        return tuple(grads)

    return record(out, parents, backward)


def _check_tensor_list(tensors: Any, op: str) -> list[Tensor]:
    tensors = list(tensors)
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: expected tensor_engine Tensors, got "
                            f"{type(t).__module__}.{type(t).__name__}")
    return tensors


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors along an existing dimension."""
    tensors = _check_tensor_list(tensors, "cat")
    shapes = [t._data.shape for t in tensors]
    _, d = rules.concatenated_shape(shapes, dim)
    out = np.concatenate([t._data for t in tensors], axis=d)
    offsets = list(itertools.accumulate(s[d] for s in shapes[:-1]))
    return record(out, tuple(tensors), lambda g: tuple(np.split(g, offsets, axis=d)))


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join same-shaped tensors along a new dimension."""
    tensors = _check_tensor_list(tensors, "stack")
    _, d = rules.stacked_shape([t._data.shape for t in tensors], dim)
    out = np.stack([t._data for t in tensors], axis=d)
    lead = (slice(None),) * d
    return record(out, tuple(tensors),
                  lambda g: tuple(g[lead + (i,)] for i in range(len(tensors))))


# ---------------------------------------------------------------------------
# constructors


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """A new leaf tensor holding a copy of ``data`` (numbers, nested lists, ndarrays)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def zeros(shape: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """A leaf of zeros; ``shape`` is an int or a tuple."""
    dt = rules.float_dtype(dtype) or rules.FLOAT32
    t = record(np.zeros(rules.new_shape(shape, "zeros"), dtype=dt), (), None)
    t.requires_grad = requires_grad
    return t


def ones(shape: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """A leaf of ones; ``shape`` is an int or a tuple."""
    dt = rules.float_dtype(dtype) or rules.FLOAT32
    t = record(np.ones(rules.new_shape(shape, "ones"), dtype=dt), (), None)
    t.requires_grad = requires_grad
    return t
